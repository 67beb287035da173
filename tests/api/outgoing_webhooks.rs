//! Lifecycle events sent to brands' webhook endpoints: a receiver on loopback
//! verifies every delivery the way the Standard Webhooks libraries do, fails
//! first attempts, and sees every event at least once, in order per object, and
//! nothing of a change that was rolled back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::{TestApp, TestBrand};
use crate::payments::{SEND, due_orders, no_hold};
use crate::tracking::shop;

/// What the receiver does with a message.
#[derive(Clone, Copy)]
pub enum Behaviour {
    /// Answers 500 to the first attempt of each message, 200 after.
    FailFirstAttempt,
    /// Always 500.
    AlwaysFail,
    /// 200 at once.
    Accept,
    /// Never answers.
    Hang,
}

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub id: String,
    pub body: Value,
    pub accepted: bool,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    secret: Arc<Mutex<String>>,
    behaviour: Arc<Mutex<Behaviour>>,
    received: Arc<Mutex<Vec<Received>>>,
    bad_signatures: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    pub async fn start(behaviour: Behaviour) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let receiver = Receiver {
            url,
            secret: Default::default(),
            behaviour: Arc::new(Mutex::new(behaviour)),
            received: Default::default(),
            bad_signatures: Default::default(),
        };
        let state = receiver.clone();
        let routes = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { state.receive(headers, body).await }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, routes).await.unwrap() });
        receiver
    }

    pub fn set_secret(&self, secret: &str) {
        *self.secret.lock().unwrap() = secret.to_string();
    }

    pub fn behave(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    async fn receive(&self, headers: HeaderMap, body: Bytes) -> StatusCode {
        let secret = self.secret.lock().unwrap().clone();
        let id = header(&headers, "webhook-id");
        if let Err(why) = verify(&secret, &headers, &body) {
            self.bad_signatures.lock().unwrap().push(format!("{id}: {why}"));
            return StatusCode::BAD_REQUEST;
        }
        let behaviour = *self.behaviour.lock().unwrap();
        let accepted = {
            let mut received = self.received.lock().unwrap();
            let seen_before = received.iter().any(|r| r.id == id);
            let accepted = match behaviour {
                Behaviour::Accept => true,
                Behaviour::FailFirstAttempt => seen_before,
                Behaviour::AlwaysFail | Behaviour::Hang => false,
            };
            received.push(Received {
                id,
                body: serde_json::from_slice(&body).unwrap(),
                accepted,
            });
            accepted
        };
        if let Behaviour::Hang = behaviour {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        if accepted {
            StatusCode::OK
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }

    pub fn received(&self) -> Vec<Received> {
        assert!(
            self.bad_signatures.lock().unwrap().is_empty(),
            "deliveries failed verification: {:?}",
            self.bad_signatures.lock().unwrap()
        );
        self.received.lock().unwrap().clone()
    }

    /// The bodies of the messages answered 200, in the order they were.
    pub fn accepted(&self) -> Vec<Value> {
        self.received()
            .into_iter()
            .filter(|r| r.accepted)
            .map(|r| r.body)
            .collect()
    }

    /// Waits until every type in `types` was accepted at least once.
    pub async fn until_accepted(&self, types: &[&str]) -> Vec<Value> {
        let started = std::time::Instant::now();
        loop {
            let accepted = self.accepted();
            let missing: Vec<&&str> = types
                .iter()
                .filter(|t| !accepted.iter().any(|body| body["type"] == **t))
                .collect();
            if missing.is_empty() {
                return accepted;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "never accepted {missing:?}; got {:?}",
                accepted.iter().map(|b| b["type"].clone()).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The Standard Webhooks verification: a recent timestamp, and one of the
/// space-separated `v1,` signatures matching the HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` under the base64 key after `whsec_`.
fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    let id = header(headers, "webhook-id");
    let timestamp = header(headers, "webhook-timestamp");
    let signatures = header(headers, "webhook-signature");
    if id.is_empty() || timestamp.is_empty() || signatures.is_empty() {
        return Err("missing headers".into());
    }
    let sent_at: i64 = timestamp.parse().map_err(|_| "bad timestamp")?;
    if (chrono::Utc::now().timestamp() - sent_at).abs() > 300 {
        return Err("timestamp out of tolerance".into());
    }
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").ok_or("secret without whsec_")?)
        .map_err(|_| "secret is not base64")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    let matches = signatures.split(' ').any(|entry| {
        entry
            .strip_prefix("v1,")
            .and_then(|sig| BASE64.decode(sig).ok())
            .is_some_and(|sig| {
                let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
                mac.update(format!("{id}.{timestamp}.").as_bytes());
                mac.update(body);
                // Constant-time, as the libraries compare.
                mac.verify_slice(&sig).is_ok() && sig.len() == expected.len()
            })
    });
    if matches {
        Ok(())
    } else {
        Err("no signature matches".into())
    }
}

/// Settings for tests: loopback endpoints, retries within a second, quick polls.
pub fn config() -> sales_tracking::AppConfig {
    sales_tracking::AppConfig {
        webhooks: sales_tracking::app::webhooks::WebhookSettings {
            targets: sales_tracking::app::ports::Targets::AllowPrivate,
            retry_schedule: vec![Duration::from_millis(200); 3],
            timeout: Duration::from_secs(2),
            ..Default::default()
        },
        jobs: sales_tracking::app::jobs::RunnerSettings {
            poll: Duration::from_millis(50),
            ..Default::default()
        },
        ..Default::default()
    }
}

const CREATE: &str = "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { secret webhookEndpoint { id url events enabled } } }";
const ENDPOINTS: &str = "{ webhookEndpoints { id enabled disabledReason failingSince recentDeliveries { id eventId eventType status attempts lastStatusCode lastDurationMs lastError nextAttemptAt } } }";

/// Registers `receiver` for `events` and tells it the secret; returns the endpoint's id.
pub async fn subscribe(app: &TestApp, brand: &TestBrand, receiver: &Receiver, events: &[&str]) -> String {
    let created = app
        .ok(
            &brand.admin,
            CREATE,
            json!({ "i": { "url": receiver.url, "events": events, "description": "CRM sync" } }),
        )
        .await["createWebhookEndpoint"]
        .clone();
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{created}");
    receiver.set_secret(secret);
    created["webhookEndpoint"]["id"].as_str().unwrap().to_string()
}

const ALL: [&str; 17] = [
    "conversion.created",
    "conversion.updated",
    "commission.created",
    "commission.clawed_back",
    "payment.created",
    "payment.processing",
    "payment.paid",
    "payment.partially_paid",
    "payment.failed",
    "payment_item.failed",
    "membership.created",
    "membership.updated",
    "promo_code.issued",
    "promo_code.disabled",
    "reward.granted",
    "reward.revoked",
    "offer.updated",
];

/// The types of the accepted events about `object`, in the order accepted, once each.
fn types_about(accepted: &[Value], object: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut types = Vec::new();
    for body in accepted {
        let data = &body["data"];
        let is_about = match body["type"].as_str().unwrap().split('.').next().unwrap() {
            "commission" => data["conversionId"] == object,
            "payment_item" => data["paymentId"] == object,
            "promo_code" => data["membershipId"] == object,
            _ => data["id"] == object,
        };
        let id = body["id"].as_str().unwrap().to_string();
        if is_about && !seen.contains(&id) {
            seen.push(id);
            types.push(body["type"].as_str().unwrap().to_string());
        }
    }
    types
}

#[tokio::test]
async fn every_lifecycle_event_arrives_signed_in_order_per_object_and_nothing_of_a_rollback() {
    let app = TestApp::with_config(config()).await;
    let shop = shop(&app).await;
    let admin = &shop.brand.admin;
    let receiver = Receiver::start(Behaviour::FailFirstAttempt).await;
    subscribe(&app, &shop.brand, &receiver, &ALL).await;

    // offer.updated
    no_hold(&app, &shop).await;
    // conversion.created and commission.created, twice
    let conversions = due_orders(&app, &shop, &shop.promo_code, 1, &["100.00", "40.00"]).await;
    // conversion.updated and commission.clawed_back
    app.ok(
        admin,
        "mutation($i: RefundConversionInput!) { refundConversion(input: $i) { conversion { status } } }",
        json!({ "i": { "id": conversions[0], "amount": "20.00", "idempotencyKey": "refund-1" } }),
    )
    .await;
    // membership.updated, twice
    for active in [false, true] {
        app.ok(
            admin,
            "mutation($i: SetMembershipActiveInput!) { setMembershipActive(input: $i) { memberships { id } } }",
            json!({ "i": { "membershipIds": [shop.code_membership], "active": active } }),
        )
        .await;
    }
    // promo_code.disabled and promo_code.issued
    let refresh =
        "mutation($i: RefreshPromoCodesInput!) { refreshPromoCodes(input: $i) { memberships { promoCode } } }";
    app.ok(
        admin,
        refresh,
        json!({ "i": { "membershipIds": [shop.code_membership], "code": "SPRING-ANA" } }),
    )
    .await;
    // Rolled back: the second membership has no promo codes, so neither changes.
    let refused = app
        .graphql(
            Some(admin),
            refresh,
            json!({ "i": { "membershipIds": [shop.code_membership, shop.link_membership] } }),
        )
        .await
        .1;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{refused}"
    );
    // reward.granted and reward.revoked
    let reward = app
        .ok(
            admin,
            "mutation($i: GrantRewardInput!) { grantReward(input: $i) { reward { id } } }",
            json!({ "i": { "membershipId": shop.code_membership, "idempotencyKey": "bonus-1", "reward": { "kind": "CASH_BONUS", "cashAmount": "5.00" } } }),
        )
        .await["grantReward"]["reward"]["id"]
        .clone();
    app.ok(
        admin,
        "mutation($i: RevokeRewardInput!) { revokeReward(input: $i) { reward { id } } }",
        json!({ "i": { "id": reward, "reason": "granted by mistake" } }),
    )
    .await;
    // payment.created and payment.paid
    let paid = app
        .ok(
            admin,
            SEND,
            json!({ "i": { "scope": "ALL_OFFERS", "idempotencyKey": "payday" } }),
        )
        .await;
    let payment = paid["sendPayment"]["payment"]["id"].as_str().unwrap().to_string();

    let expected = [
        "offer.updated",
        "conversion.created",
        "commission.created",
        "conversion.updated",
        "commission.clawed_back",
        "membership.updated",
        "promo_code.disabled",
        "promo_code.issued",
        "reward.granted",
        "reward.revoked",
        "payment.created",
        "payment.paid",
    ];
    receiver.until_accepted(&expected).await;
    // Give anything else (what should not come) the time to arrive.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let accepted = receiver.accepted();

    // Every message was tried twice: refused once, then accepted.
    let received = receiver.received();
    let mut attempts: HashMap<&str, usize> = HashMap::new();
    for r in &received {
        *attempts.entry(r.id.as_str()).or_default() += 1;
    }
    assert!(attempts.values().all(|&n| n >= 2), "{attempts:?}");
    for body in &accepted {
        assert!(body["id"].as_str().unwrap().starts_with("evt_"), "{body}");
        assert!(body["createdAt"].is_string(), "{body}");
    }

    // In order per object.
    assert_eq!(
        types_about(&accepted, &conversions[0]),
        [
            "conversion.created",
            "commission.created",
            "conversion.updated",
            "commission.clawed_back"
        ]
    );
    assert_eq!(
        types_about(&accepted, &conversions[1]),
        ["conversion.created", "commission.created"]
    );
    assert_eq!(types_about(&accepted, &payment), ["payment.created", "payment.paid"]);
    let membership_events: Vec<String> = types_about(&accepted, &shop.code_membership);
    assert_eq!(
        membership_events,
        [
            "membership.updated",
            "membership.updated",
            "promo_code.disabled",
            "promo_code.issued"
        ]
    );

    // The objects as GraphQL shows them: public ids, money as strings.
    let created = accepted
        .iter()
        .find(|b| b["type"] == "conversion.created" && b["data"]["id"] == conversions[0].as_str())
        .unwrap();
    assert_eq!(created["data"]["saleAmount"], "100.00", "{created}");
    assert_eq!(created["data"]["commission"], "15.00", "{created}");
    assert_eq!(created["data"]["membershipId"], shop.code_membership.as_str());
    let clawed = accepted.iter().find(|b| b["type"] == "commission.clawed_back").unwrap();
    assert_eq!(clawed["data"]["amount"], "3.00", "{clawed}");
    let updates: Vec<&Value> = accepted.iter().filter(|b| b["type"] == "membership.updated").collect();
    assert_eq!(updates[0]["data"]["change"], "deactivated");
    assert_eq!(updates[0]["data"]["active"], false);
    assert_eq!(updates[1]["data"]["change"], "activated");
    let issued = accepted.iter().find(|b| b["type"] == "promo_code.issued").unwrap();
    assert_eq!(issued["data"]["code"], "SPRING-ANA");

    // The rolled-back refresh sent nothing: one code issued, one disabled, no more.
    for kind in ["promo_code.issued", "promo_code.disabled"] {
        let ids: std::collections::HashSet<&str> = accepted
            .iter()
            .filter(|b| b["type"] == kind)
            .map(|b| b["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 1, "{kind}: {ids:?}");
    }

    // The log shows each delivery: two attempts, the last answered 200.
    let endpoints = app.ok(admin, ENDPOINTS, json!({})).await;
    let deliveries = endpoints["webhookEndpoints"][0]["recentDeliveries"].as_array().unwrap();
    assert!(!deliveries.is_empty());
    for delivery in deliveries {
        assert_eq!(delivery["status"], "SUCCEEDED", "{delivery}");
        assert_eq!(delivery["attempts"], 2, "{delivery}");
        assert_eq!(delivery["lastStatusCode"], 200, "{delivery}");
        assert!(delivery["nextAttemptAt"].is_null(), "{delivery}");
        assert!(delivery["eventId"].as_str().unwrap().starts_with("evt_"));
    }
}

#[tokio::test]
async fn webhook_order_events_arrive_for_shop_orders_too() {
    let app = TestApp::with_config(config()).await;
    let shop = shop(&app).await;
    let receiver = Receiver::start(Behaviour::Accept).await;
    subscribe(&app, &shop.brand, &receiver, &["conversion.created"]).await;
    let order = json!({ "id": 9001, "total_price": "80.00", "currency": "USD", "created_at": chrono::Utc::now().to_rfc3339(), "discount_codes": [{ "code": shop.promo_code }] });
    let (status, answer) =
        crate::tracking::shopify_delivery(&app, &shop.brand.slug, "orders/create", &order.to_string(), "d-1").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let accepted = receiver.until_accepted(&["conversion.created"]).await;
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    assert_eq!(accepted[0]["data"]["externalOrderId"], "9001");
    assert_eq!(accepted[0]["data"]["saleAmount"], "80.00");
    // Subscribed to one type: nothing else is sent.
    assert!(accepted.iter().all(|b| b["type"] == "conversion.created"));
}

#[tokio::test]
async fn per_click_commissions_are_announced_as_commission_created() {
    let app = TestApp::with_config(config()).await;
    let shop = shop(&app).await;
    let admin = &shop.brand.admin;
    app.ok(
        admin,
        "mutation($id: ID!) { editPayout(input: { id: $id, payout: { type: FLAT_PER_CLICK, flatAmount: \"0.25\" } }) { offer { id } } }",
        json!({ "id": shop.link_offer }),
    )
    .await;
    let receiver = Receiver::start(Behaviour::Accept).await;
    subscribe(&app, &shop.brand, &receiver, &["commission.created"]).await;
    // Two shoppers: each click earns.
    for peer in ["203.0.113.7", "198.51.100.23"] {
        let status =
            crate::click_quality::visit(&app, &shop.link_code, peer, crate::click_quality::BROWSER, None).await;
        assert_eq!(status, StatusCode::FOUND);
    }
    let earned = |events: &[Value]| -> Decimal {
        events
            .iter()
            .map(|event| event["data"]["amount"].as_str().unwrap().parse::<Decimal>().unwrap())
            .sum()
    };
    // One event per membership and day in each stored batch of clicks.
    let started = std::time::Instant::now();
    let accepted = loop {
        let accepted = receiver.accepted();
        if earned(&accepted) >= Decimal::new(50, 2) {
            break accepted;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{accepted:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(earned(&accepted), Decimal::new(50, 2), "{accepted:?}");
    for event in &accepted {
        let data = &event["data"];
        assert_eq!(event["type"], "commission.created", "{event}");
        assert_eq!(data["kind"], "CLICKS", "{event}");
        assert_eq!(data["membershipId"], json!(shop.link_membership), "{event}");
        assert!(data["conversionId"].is_null(), "{event}");
        assert_eq!(data["currency"], "USD", "{event}");
    }
}

#[tokio::test]
async fn endpoints_must_be_https_on_public_addresses() {
    // Production settings: no private targets.
    let app = TestApp::new().await;
    let brand = app.brand("Safe Co").await;
    for url in [
        "https://127.0.0.1/hooks",
        "https://localhost/hooks",
        "https://10.0.0.8/hooks",
        "https://192.168.1.20/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hooks",
        "https://[fd00::1]/hooks",
        "http://hooks.example.com/orders",
        "ftp://hooks.example.com/",
        "not a url",
    ] {
        let answer = app
            .graphql(
                Some(&brand.admin),
                CREATE,
                json!({ "i": { "url": url, "events": ["conversion.created"] } }),
            )
            .await
            .1;
        assert_eq!(
            answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{url}: {answer}"
        );
    }
    let unknown = app
        .graphql(
            Some(&brand.admin),
            CREATE,
            json!({ "i": { "url": "https://hooks.example.com/x", "events": ["order.shipped"] } }),
        )
        .await
        .1;
    assert_eq!(
        unknown["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{unknown}"
    );
    assert!(
        unknown["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("conversion.created")
    );
    let analyst = app
        .graphql(
            Some(&brand.analyst),
            CREATE,
            json!({ "i": { "url": "https://hooks.example.com/x", "events": ["conversion.created"] } }),
        )
        .await
        .1;
    assert_eq!(analyst["errors"][0]["extensions"]["code"], "FORBIDDEN", "{analyst}");
    // A public name is accepted, in either spelling of the event types.
    let created = app
        .ok(
            &brand.admin,
            CREATE,
            json!({ "i": { "url": "https://hooks.example.com/x", "events": ["CONVERSION_CREATED", "payment.paid"] } }),
        )
        .await;
    assert_eq!(
        created["createWebhookEndpoint"]["webhookEndpoint"]["events"],
        json!(["conversion.created", "payment.paid"])
    );
}

/// A name that resolved to a public address at registration may point elsewhere by
/// the time of delivery (DNS rebinding): the delivery checks the address again.
#[tokio::test]
async fn a_delivery_to_a_private_address_is_refused_at_delivery_time() {
    let mut settings = config();
    settings.webhooks.targets = sales_tracking::app::ports::Targets::PublicOnly;
    settings.webhooks.retry_schedule = vec![];
    let app = TestApp::with_config(settings).await;
    let shop = shop(&app).await;
    let receiver = Receiver::start(Behaviour::Accept).await;
    let port = receiver
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let mut conn = app.db.connect().await;
    // As registration would have stored them, before the names moved.
    for url in [
        format!("https://localhost:{port}/hooks"),
        format!("https://127.0.0.1:{port}/hooks"),
    ] {
        diesel_async::RunQueryDsl::execute(
            diesel::sql_query(format!(
                "INSERT INTO webhook_endpoints (brand_id, url, event_types, secret)
                 VALUES ({}, '{url}', ARRAY['offer.updated'], 'whsec_c2VjcmV0')",
                shop.brand.id.0
            )),
            &mut conn,
        )
        .await
        .unwrap();
    }
    no_hold(&app, &shop).await;
    let endpoints = until_deliveries_settle(&app, &shop.brand.admin, 2).await;
    for endpoint in endpoints.as_array().unwrap() {
        let delivery = &endpoint["recentDeliveries"][0];
        assert_eq!(delivery["status"], "FAILED", "{delivery}");
        assert!(delivery["lastStatusCode"].is_null(), "{delivery}");
        assert!(
            delivery["lastError"].as_str().unwrap().contains("not a public address"),
            "{delivery}"
        );
    }
    assert!(receiver.received().is_empty());
}

/// Waits until `count` endpoints each have a delivery that is no longer pending.
async fn until_deliveries_settle(app: &TestApp, admin: &str, count: usize) -> Value {
    let started = std::time::Instant::now();
    loop {
        let endpoints = app.ok(admin, ENDPOINTS, json!({})).await["webhookEndpoints"].clone();
        let settled = endpoints
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["recentDeliveries"]
                    .as_array()
                    .unwrap()
                    .first()
                    .is_some_and(|d| d["status"] != "PENDING")
            })
            .count();
        if settled >= count {
            return endpoints;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{endpoints}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn failed_deliveries_end_failed_then_replay_and_rotation_work() {
    let app = TestApp::with_config(config()).await;
    let shop = shop(&app).await;
    let admin = &shop.brand.admin;
    let receiver = Receiver::start(Behaviour::AlwaysFail).await;
    let endpoint = subscribe(&app, &shop.brand, &receiver, &["offer.updated"]).await;
    no_hold(&app, &shop).await;
    let endpoints = until_deliveries_settle(&app, admin, 1).await;
    let delivery = endpoints[0]["recentDeliveries"][0].clone();
    // The first attempt and the schedule's three retries.
    assert_eq!(delivery["status"], "FAILED", "{delivery}");
    assert_eq!(delivery["attempts"], 4, "{delivery}");
    assert_eq!(delivery["lastStatusCode"], 500, "{delivery}");
    assert_eq!(receiver.received().len(), 4);

    // Fixed: a replay sends the same event again.
    receiver.behave(Behaviour::Accept);
    let replayed = app
        .ok(
            admin,
            "mutation($i: ReplayWebhookDeliveryInput!) { replayWebhookDelivery(input: $i) { webhookDelivery { id status } } }",
            json!({ "i": { "id": delivery["id"] } }),
        )
        .await;
    assert_eq!(
        replayed["replayWebhookDelivery"]["webhookDelivery"]["status"],
        "PENDING"
    );
    let accepted = receiver.until_accepted(&["offer.updated"]).await;
    assert_eq!(accepted[0]["id"], delivery["eventId"]);

    // A rotated secret signs from then on; the old one no longer verifies.
    let rotated = app
        .ok(
            admin,
            "mutation($i: RotateWebhookEndpointSecretInput!) { rotateWebhookEndpointSecret(input: $i) { secret } }",
            json!({ "i": { "id": endpoint } }),
        )
        .await["rotateWebhookEndpointSecret"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(rotated.starts_with("whsec_"));
    receiver.set_secret(&rotated);
    app.ok(
        admin,
        "mutation($id: ID!) { updateOffer(input: { id: $id, holdPeriodDays: 3 }) { offer { id } } }",
        json!({ "id": shop.code_offer }),
    )
    .await;
    let started = std::time::Instant::now();
    while receiver.accepted().len() < 2 {
        assert!(started.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(receiver.accepted()[1]["data"]["holdPeriodDays"], 3);

    // Disabled by its admin: nothing more is sent; deleted: gone with its log.
    let disabled = app
        .ok(
            admin,
            "mutation($i: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $i) { webhookEndpoint { enabled disabledReason events } } }",
            json!({ "i": { "id": endpoint, "enabled": false } }),
        )
        .await;
    assert_eq!(disabled["updateWebhookEndpoint"]["webhookEndpoint"]["enabled"], false);
    assert_eq!(
        disabled["updateWebhookEndpoint"]["webhookEndpoint"]["events"],
        json!(["offer.updated"])
    );
    no_hold(&app, &shop).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.accepted().len(), 2);
    app.ok(
        admin,
        "mutation($i: DeleteWebhookEndpointInput!) { deleteWebhookEndpoint(input: $i) { webhookEndpoint { id } } }",
        json!({ "i": { "id": endpoint } }),
    )
    .await;
    assert_eq!(app.ok(admin, ENDPOINTS, json!({})).await["webhookEndpoints"], json!([]));
}

#[tokio::test]
async fn an_endpoint_failing_for_days_is_disabled_and_its_admin_alerted() {
    let mut settings = config();
    // "Days" shortened to a second; many retries so the delivery outlives it.
    settings.webhooks.disable_after = Duration::from_secs(1);
    settings.webhooks.retry_schedule = vec![Duration::from_millis(300); 20];
    let app = TestApp::with_config(settings).await;
    let shop = shop(&app).await;
    let admin = &shop.brand.admin;
    let receiver = Receiver::start(Behaviour::AlwaysFail).await;
    let created = app
        .ok(
            admin,
            CREATE,
            json!({ "i": { "url": receiver.url, "events": ["offer.updated"], "alertEmail": "ops@trail.example.com" } }),
        )
        .await;
    receiver.set_secret(created["createWebhookEndpoint"]["secret"].as_str().unwrap());
    no_hold(&app, &shop).await;
    let started = std::time::Instant::now();
    let endpoint = loop {
        let endpoint = app.ok(admin, ENDPOINTS, json!({})).await["webhookEndpoints"][0].clone();
        if endpoint["enabled"] == false {
            break endpoint;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{endpoint}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        endpoint["disabledReason"].as_str().unwrap().contains("failed"),
        "{endpoint}"
    );
    assert!(endpoint["failingSince"].is_string());
    // The pending delivery ends failed rather than retrying a disabled endpoint.
    let delivery = until_deliveries_settle(&app, admin, 1).await[0]["recentDeliveries"][0].clone();
    assert_eq!(delivery["status"], "FAILED", "{delivery}");
    // The alert waits for the mailer as a job, addressed to the endpoint's admin.
    #[derive(diesel::QueryableByName)]
    struct Alert {
        #[diesel(sql_type = diesel::sql_types::Jsonb)]
        payload: Value,
    }
    let mut conn = app.db.connect().await;
    let alerts: Vec<Alert> = diesel_async::RunQueryDsl::load(
        diesel::sql_query("SELECT payload FROM jobs WHERE kind = 'ALERT_EMAIL'"),
        &mut conn,
    )
    .await
    .unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].payload["to"], "ops@trail.example.com");
    assert!(alerts[0].payload["body"].as_str().unwrap().contains(&receiver.url));
}

#[tokio::test]
async fn a_hanging_endpoint_times_out_and_a_huge_answer_is_cut_at_64_kb() {
    let mut settings = config();
    settings.webhooks.timeout = Duration::from_millis(500);
    settings.webhooks.retry_schedule = vec![];
    let app = TestApp::with_config(settings).await;
    let shop = shop(&app).await;
    let admin = &shop.brand.admin;
    let hanging = Receiver::start(Behaviour::Hang).await;
    subscribe(&app, &shop.brand, &hanging, &["offer.updated"]).await;

    // An endpoint that answers 200 with an endless body.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endless_url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let routes = axum::Router::new().route(
            "/",
            axum::routing::post(|| async {
                let chunks =
                    futures_util::stream::repeat_with(|| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 8192])));
                axum::body::Body::from_stream(chunks)
            }),
        );
        axum::serve(listener, routes).await.unwrap()
    });
    app.ok(
        admin,
        CREATE,
        json!({ "i": { "url": endless_url, "events": ["offer.updated"] } }),
    )
    .await;

    no_hold(&app, &shop).await;
    let endpoints = until_deliveries_settle(&app, admin, 2).await;
    let hung = &endpoints[0]["recentDeliveries"][0];
    assert_eq!(hung["status"], "FAILED", "{hung}");
    assert!(hung["lastError"].as_str().unwrap().contains("timed out"), "{hung}");
    let endless = &endpoints[1]["recentDeliveries"][0];
    assert_eq!(endless["status"], "SUCCEEDED", "{endless}");
    assert_eq!(endless["lastStatusCode"], 200);
    assert!(endless["lastDurationMs"].as_i64().unwrap() < 500, "{endless}");
}
