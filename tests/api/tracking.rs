//! Clicks, orders, attribution, commissions, refunds and the ledger, end to end.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sha2::Sha256;
use tower::ServiceExt;

use crate::common::{TestApp, TestBrand, count};

pub const SECRET: &str = "whsec_test_0123456789abcdef";

/// A brand with a webhook secret, a 10% sales-link offer and a 15% promo-code
/// offer, and one member in each.
pub struct Shop {
    pub brand: TestBrand,
    pub link_offer: String,
    pub code_offer: String,
    pub link_membership: String,
    pub link_code: String,
    pub code_membership: String,
    pub promo_code: String,
}

pub async fn shop(app: &TestApp) -> Shop {
    let brand = app.brand("Trail Co").await;
    app.ok(
        &brand.admin,
        "mutation($s: String!) { setWebhookSecret(input: { secret: $s }) { webhookUrlTemplate } }",
        json!({ "s": SECRET }),
    )
    .await;
    let offer = |name: &str, kind: &str, extra: Value| {
        let mut input = json!({ "name": name, "type": kind, "payout": { "type": "PERCENT_OF_SALE", "percent": if kind == "SALES_LINK" { "10" } else { "15" } } });
        for (k, v) in extra.as_object().unwrap() {
            input[k] = v.clone();
        }
        input
    };
    let create = "mutation($i: CreateOfferInput!) { createOffer(input: $i) { offer { id } } }";
    let link_offer = app.ok(&brand.admin, create, json!({ "i": offer("Shoes", "SALES_LINK", json!({ "destinationUrl": "https://shop.example.com/shoes?color=red" })) })).await["createOffer"]["offer"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let code_offer = app
        .ok(
            &brand.admin,
            create,
            json!({ "i": offer("Codes", "PROMO_CODE", json!({ "codePrefix": "TRAIL" })) }),
        )
        .await["createOffer"]["offer"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let member = app
        .ok(
            &brand.admin,
            "mutation { createMember(input: { name: \"Ana Rivera\", email: \"ana@example.com\" }) { member { id } } }",
            json!({}),
        )
        .await["createMember"]["member"]["id"]
        .clone();
    let add = "mutation($o: ID!, $m: [ID!]!) { addMembers(input: { offerId: $o, memberIds: $m }) { memberships { id linkCode trackingUrl promoCode active } } }";
    let link = app
        .ok(&brand.admin, add, json!({ "o": link_offer, "m": [member] }))
        .await["addMembers"]["memberships"][0]
        .clone();
    let code = app
        .ok(&brand.admin, add, json!({ "o": code_offer, "m": [member] }))
        .await["addMembers"]["memberships"][0]
        .clone();
    Shop {
        brand,
        link_offer,
        code_offer,
        link_membership: link["id"].as_str().unwrap().into(),
        link_code: link["linkCode"].as_str().unwrap().into(),
        code_membership: code["id"].as_str().unwrap().into(),
        promo_code: code["promoCode"].as_str().unwrap().into(),
    }
}

pub fn sign(body: &str, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Posts a webhook; `signature` None means a correct one.
pub async fn webhook(
    app: &TestApp,
    slug: &str,
    source: &str,
    topic: Option<&str>,
    body: &str,
    signature: Option<&str>,
) -> (StatusCode, Value) {
    post_webhook(app, slug, source, topic, body, signature, None).await
}

/// Posts a correctly signed Shopify webhook with its delivery id (`X-Shopify-Webhook-Id`).
pub async fn shopify_delivery(
    app: &TestApp,
    slug: &str,
    topic: &str,
    body: &str,
    delivery_id: &str,
) -> (StatusCode, Value) {
    post_webhook(app, slug, "shopify", Some(topic), body, None, Some(delivery_id)).await
}

async fn post_webhook(
    app: &TestApp,
    slug: &str,
    source: &str,
    topic: Option<&str>,
    body: &str,
    signature: Option<&str>,
    delivery_id: Option<&str>,
) -> (StatusCode, Value) {
    let mut request =
        Request::post(format!("/webhooks/{slug}/orders/{source}")).header(header::CONTENT_TYPE, "application/json");
    if let Some(delivery_id) = delivery_id {
        request = request.header("X-Shopify-Webhook-Id", delivery_id);
    }
    let signature = signature.map_or_else(|| sign(body, SECRET), str::to_string);
    if !signature.is_empty() {
        request = request.header("X-Shopify-Hmac-Sha256", signature);
    }
    if let Some(topic) = topic {
        request = request.header("X-Shopify-Topic", topic);
    }
    let response = app
        .router
        .clone()
        .oneshot(request.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

pub async fn click(app: &TestApp, code: &str, user_agent: &str) -> (StatusCode, String) {
    let request = Request::get(format!("/r/{code}"))
        .header(header::USER_AGENT, user_agent)
        .body(Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (response.status(), location)
}

/// The click id a redirect sent the shopper on with, once its click is in the
/// database: a redirect may answer from its commit's deadline while a loaded
/// machine still commits it, and an order naming it would find nothing yet.
pub async fn stored_click_id(app: &TestApp, location: &str) -> String {
    let click_id = location.rsplit("st_click=").next().unwrap().to_string();
    uuid::Uuid::parse_str(&click_id).unwrap_or_else(|_| panic!("no click id in {location:?}"));
    let mut conn = app.db.connect().await;
    let started = std::time::Instant::now();
    while count(
        &mut conn,
        &format!("SELECT count(*) AS n FROM clicks WHERE id = '{click_id}'"),
    )
    .await
        == 0
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "click {click_id} never stored"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    click_id
}

pub const BROWSER: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Safari/605.1.15";

#[tokio::test]
async fn a_click_redirects_with_a_click_id_and_is_stored_and_counted() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let data = app
        .ok(
            &shop.brand.admin,
            "query($id: ID!) { membership(id: $id) { linkCode trackingUrl promoCode } }",
            json!({ "id": shop.link_membership }),
        )
        .await;
    assert_eq!(
        data["membership"]["trackingUrl"],
        format!("http://127.0.0.1:8080/r/{}", shop.link_code)
    );
    assert_eq!(data["membership"]["promoCode"], Value::Null);

    let members = app
        .ok(&shop.brand.analyst, "query($id: ID!) { offer(id: $id) { memberships { edges { node { id linkCode active member { name memberships { id } } } } } } }", json!({ "id": shop.link_offer }))
        .await;
    let node = &members["offer"]["memberships"]["edges"][0]["node"];
    assert_eq!(node["linkCode"], shop.link_code.as_str());
    assert_eq!(node["active"], true);
    assert_eq!(node["member"]["name"], "Ana Rivera");
    assert_eq!(
        node["member"]["memberships"].as_array().unwrap().len(),
        2,
        "Ana is in both offers"
    );

    let (status, location) = click(&app, &shop.link_code, BROWSER).await;
    assert_eq!(status, StatusCode::FOUND);
    let click_id = location
        .strip_prefix("https://shop.example.com/shoes?color=red&st_click=")
        .expect(&location);
    assert!(uuid::Uuid::parse_str(click_id).is_ok());

    let (status, _) = click(&app, &shop.link_code, "Googlebot/2.1").await;
    assert_eq!(status, StatusCode::FOUND, "bots are redirected too");

    let clicks = app
        .ok(
            &shop.brand.analyst,
            "query($id: ID!) { membership(id: $id) { clicks { edges { node { id isBot userAgent } } } } }",
            json!({ "id": shop.link_membership }),
        )
        .await;
    let edges = clicks["membership"]["clicks"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 2);
    assert_eq!(edges[1]["node"]["id"], click_id);
    assert_eq!(edges[1]["node"]["isBot"], false);
    assert_eq!(edges[0]["node"]["isBot"], true);
    let mut conn = app.db.connect().await;
    assert_eq!(
        count(
            &mut conn,
            "SELECT COALESCE(SUM(clicks), 0)::bigint AS n FROM membership_daily_stats"
        )
        .await,
        1,
        "bots are never counted"
    );
}

#[tokio::test]
async fn unknown_codes_are_404_and_inactive_offers_redirect_without_counting() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let request = Request::get("/r/nobody-here").body(Body::empty()).unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let page = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(page.contains("Link not found"));

    let mut conn = app.db.connect().await;
    diesel::sql_query("UPDATE offers SET status = 'PAUSED'")
        .execute(&mut conn)
        .await
        .unwrap();
    let (status, location) = click(&app, &shop.link_code, BROWSER).await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(location.starts_with("https://shop.example.com/shoes"));
    conn.batch_execute("UPDATE offers SET status = 'ACTIVE'; UPDATE memberships SET active = false")
        .await
        .unwrap();
    assert_eq!(click(&app, &shop.link_code, BROWSER).await.0, StatusCode::FOUND);
    assert_eq!(
        app.rows("clicks").await,
        0,
        "paused offers and inactive memberships count nothing"
    );
}

/// The redirect has a leaner stack of its own; it still answers as every route does.
#[tokio::test]
async fn a_redirect_carries_what_every_answer_carries() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let request = Request::get(format!("/r/{}", shop.link_code))
        .header(header::USER_AGENT, BROWSER)
        .header("x-request-id", "lb-7f3a_01")
        .body(Body::empty())
        .unwrap();
    let response = app.respond(request).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let headers = response.headers();
    assert_eq!(headers["x-request-id"], "lb-7f3a_01", "the balancer's id is kept");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let unknown = app
        .respond(Request::get("/r/nobody-xxxxxx").body(Body::empty()).unwrap())
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let made = unknown.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(made).is_ok(), "{made}");
    assert_eq!(unknown.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    // What is no link code, or no GET, is the router's to answer, the same way.
    let malformed = app
        .respond(Request::get("/r/Not%20A%20Code").body(Body::empty()).unwrap())
        .await;
    assert_eq!(malformed.status(), StatusCode::NOT_FOUND);
    assert_eq!(malformed.headers()[header::X_FRAME_OPTIONS], "DENY");
    assert!(malformed.headers().contains_key("x-request-id"));
    let posted = app
        .respond(
            Request::post(format!("/r/{}", shop.link_code))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(posted.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(app.rows("clicks").await, 1, "only the GET made a click");
    let (_, metrics) = app.get("/metrics").await;
    assert!(
        metrics.contains(
            r#"sales_tracking_request_duration_seconds_count{route="/r/{code}",method="GET",status="3xx"} 1"#
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_thousand_concurrent_redirects_store_exactly_a_thousand_clicks() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    // One click first looks the code up: a cold lookup under a thousand tasks in a
    // debug build can outlast the redirect's 200 ms lookup deadline (an honest 503).
    let (status, _) = click(&app, &shop.link_code, BROWSER).await;
    assert_eq!(status, StatusCode::FOUND);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 1..1_000 {
        let router = app.router.clone();
        let uri = format!("/r/{}", shop.link_code);
        tasks.spawn(async move {
            let request = Request::get(uri)
                .header(header::USER_AGENT, BROWSER)
                .body(Body::empty())
                .unwrap();
            router.oneshot(request).await.unwrap().status()
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::FOUND);
    }
    let mut conn = app.db.connect().await;
    assert_eq!(app.rows("clicks").await, 1_000);
    assert_eq!(
        count(&mut conn, "SELECT SUM(clicks)::bigint AS n FROM membership_daily_stats").await,
        1_000
    );
    let distinct = count(&mut conn, "SELECT count(DISTINCT id) AS n FROM clicks").await;
    assert_eq!(distinct, 1_000);
}

pub fn shopify_order(id: u64, total: &str, codes: &[&str], landing: &str) -> String {
    let codes: Vec<Value> = codes
        .iter()
        .map(|c| json!({ "code": c, "amount": "1.00", "type": "percentage" }))
        .collect();
    json!({ "id": id, "total_price": total, "currency": "USD", "discount_codes": codes, "landing_site": landing, "created_at": chrono::Utc::now().to_rfc3339() }).to_string()
}

#[tokio::test]
async fn a_signed_shopify_order_with_a_promo_code_earns_the_right_commission_once() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let body = shopify_order(820982911946154508, "123.45", &[&shop.promo_code.to_lowercase()], "/");
    let (status, answer) = webhook(&app, &shop.brand.slug, "shopify", Some("orders/create"), &body, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "recorded");
    assert_eq!(answer["conversion"]["attribution"], "PROMO_CODE");
    assert_eq!(answer["conversion"]["saleAmount"], "123.45");
    // 15% of 123.45 is 18.5175, rounded half-even to 18.52.
    assert_eq!(answer["conversion"]["commission"], "18.52");

    let (status, again) = webhook(&app, &shop.brand.slug, "shopify", Some("orders/create"), &body, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["status"], "duplicate");
    assert_eq!(app.rows("conversions").await, 1);
    assert_eq!(app.rows("ledger_entries").await, 1);

    let data = app
        .ok(
            &shop.brand.admin,
            "query($id: ID!) { offer(id: $id) { conversions { edges { node { externalOrderId saleAmount commission status attribution promoCode payoutRule { type percent } membership { id } } } } } }",
            json!({ "id": shop.code_offer }),
        )
        .await;
    let node = &data["offer"]["conversions"]["edges"][0]["node"];
    assert_eq!(node["externalOrderId"], "820982911946154508");
    assert_eq!(node["commission"], "18.52");
    assert_eq!(node["status"], "ACCEPTED");
    assert_eq!(
        node["payoutRule"],
        json!({ "type": "PERCENT_OF_SALE", "percent": "15" })
    );
    assert_eq!(node["membership"]["id"], shop.code_membership.as_str());
    let mut conn = app.db.connect().await;
    assert_eq!(
        count(
            &mut conn,
            "SELECT SUM(conversions)::bigint AS n FROM membership_daily_stats"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn bad_signatures_and_bad_bodies_are_refused_and_store_nothing() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let slug = shop.brand.slug.clone();
    let good = shopify_order(1, "10.00", &[], "/");
    let (status, body) = webhook(&app, &slug, "shopify", None, &good, Some(&sign(&good, "wrong secret"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "UNAUTHENTICATED");
    assert_eq!(
        webhook(&app, &slug, "shopify", None, &good, Some("")).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        webhook(&app, &slug, "shopify", None, &good, Some("not base64!"))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let tampered = good.replace("10.00", "1000.00");
    assert_eq!(
        webhook(&app, &slug, "shopify", None, &tampered, Some(&sign(&good, SECRET)))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    let bad_bodies = [
        "{not json".to_string(),
        json!({ "id": 2, "currency": "USD" }).to_string(),
        json!({ "id": 3, "total_price": "-5.00", "currency": "USD" }).to_string(),
        json!({ "id": 4, "total_price": "5.00", "currency": "euro" }).to_string(),
        json!({ "id": 5, "total_price": "5.001", "currency": "USD" }).to_string(),
        json!({ "total_price": "5.00", "currency": "USD" }).to_string(),
    ];
    for body in &bad_bodies {
        let (status, answer) = webhook(&app, &slug, "shopify", Some("orders/create"), body, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{answer}"
        );
    }
    let (status, _) = webhook(&app, "no-such-brand", "shopify", None, &good, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // An unsigned request is refused before any lookup: it learns nothing of the brand.
    let (status, body) = webhook(&app, "no-such-brand", "shopify", None, &good, Some("")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(app.rows("conversions").await, 0);

    let request = Request::get("/metrics").body(Body::empty()).unwrap();
    let metrics = app
        .router
        .clone()
        .oneshot(request)
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    let metrics = String::from_utf8(metrics.to_vec()).unwrap();
    assert!(
        metrics.contains("sales_tracking_webhook_failures_total{reason=\"signature\"} 5"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sales_tracking_webhook_failures_total{reason=\"bad_request\"} 6"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_new_webhook_secret_takes_over_at_once() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let slug = shop.brand.slug.clone();
    let order = |id: u64| shopify_order(id, "10.00", &[], "/");
    // The brand and its secret are now in the server's memory.
    assert_eq!(
        webhook(&app, &slug, "shopify", None, &order(1), None).await.0,
        StatusCode::OK
    );

    let rotated = "whsec_rotated_0123456789";
    app.ok(
        &shop.brand.admin,
        "mutation($s: String!) { setWebhookSecret(input: { secret: $s }) { webhookUrlTemplate } }",
        json!({ "s": rotated }),
    )
    .await;
    let old = order(2);
    let (status, _) = webhook(&app, &slug, "shopify", None, &old, Some(&sign(&old, SECRET))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old secret is refused at once");
    let new = order(3);
    let (status, _) = webhook(&app, &slug, "shopify", None, &new, Some(&sign(&new, rotated))).await;
    assert_eq!(status, StatusCode::OK, "the new secret works at once");

    // Set by another server (here: straight in the database), it works at once too.
    let elsewhere = "whsec_elsewhere_0123456789";
    let mut conn = app.db.connect().await;
    conn.batch_execute(&format!("UPDATE brands SET webhook_secret = '{elsewhere}'"))
        .await
        .unwrap();
    let from_elsewhere = order(4);
    let (status, _) = webhook(
        &app,
        &slug,
        "shopify",
        None,
        &from_elsewhere,
        Some(&sign(&from_elsewhere, elsewhere)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.rows("conversions").await, 3);
}

#[tokio::test]
async fn link_attribution_uses_the_click_within_the_window_and_promo_codes_win() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let (_, location) = click(&app, &shop.link_code, BROWSER).await;
    let click_id = stored_click_id(&app, &location).await;
    let landing = format!("/shoes?color=red&st_click={click_id}");
    let (_, linked) = webhook(
        &app,
        &shop.brand.slug,
        "shopify",
        None,
        &shopify_order(10, "80.00", &[], &landing),
        None,
    )
    .await;
    assert_eq!(linked["conversion"]["attribution"], "LINK");
    assert_eq!(linked["conversion"]["membershipId"], shop.link_membership.as_str());
    assert_eq!(linked["conversion"]["commission"], "8.00");

    let (_, both) = webhook(
        &app,
        &shop.brand.slug,
        "shopify",
        None,
        &shopify_order(11, "80.00", &[&shop.promo_code], &landing),
        None,
    )
    .await;
    assert_eq!(
        both["conversion"]["attribution"], "PROMO_CODE",
        "an active promo code beats a click"
    );

    // A click older than the 30-day window attributes nothing.
    let mut conn = app.db.connect().await;
    diesel::sql_query("UPDATE clicks SET clicked_at = now() - interval '31 days'")
        .execute(&mut conn)
        .await
        .unwrap();
    let (_, late) = webhook(
        &app,
        &shop.brand.slug,
        "shopify",
        None,
        &shopify_order(12, "80.00", &[], &landing),
        None,
    )
    .await;
    assert_eq!(late["conversion"]["attribution"], Value::Null);
    assert_eq!(late["conversion"]["commission"], "0.00");

    // Generic shape, unknown code: kept as unattributed and visible.
    let generic =
        json!({ "event": "order.created", "order_id": "G-1", "amount": "42.00", "promo_code": "NOPE" }).to_string();
    let (status, answer) = webhook(&app, &shop.brand.slug, "generic", None, &generic, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let data = app
        .ok(&shop.brand.analyst, "{ unattributedOrders { edges { node { externalOrderId source saleAmount commission membership { id } } } } }", json!({}))
        .await;
    let orders: Vec<_> = data["unattributedOrders"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["externalOrderId"].as_str().unwrap())
        .collect();
    assert_eq!(orders, ["G-1", "12"]);
}

#[tokio::test]
async fn refunds_lower_sale_and_commission_pro_rata_once_per_refund() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let slug = shop.brand.slug.clone();
    webhook(
        &app,
        &slug,
        "shopify",
        None,
        &shopify_order(77, "200.00", &[&shop.promo_code], "/"),
        None,
    )
    .await;
    let refund =
        json!({ "id": 9001, "order_id": 77, "transactions": [{ "kind": "refund", "amount": "50.00" }] }).to_string();
    let (status, answer) = webhook(&app, &slug, "shopify", Some("refunds/create"), &refund, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["conversion"]["saleAmount"], "150.00");
    assert_eq!(answer["conversion"]["commission"], "22.50");
    assert_eq!(answer["conversion"]["status"], "ACCEPTED");
    let (_, replay) = webhook(&app, &slug, "shopify", Some("refunds/create"), &refund, None).await;
    assert_eq!(
        replay["conversion"]["saleAmount"], "150.00",
        "a replayed refund changes nothing"
    );

    let id = app
        .ok(
            &shop.brand.admin,
            "{ offers(first: 1) { edges { node { conversions { edges { node { id } } } } } } }",
            json!({}),
        )
        .await["offers"]["edges"][0]["node"]["conversions"]["edges"][0]["node"]["id"]
        .clone();
    let refund_mutation = "mutation($id: ID!, $amount: Money, $key: String!) { refundConversion(input: { id: $id, amount: $amount, idempotencyKey: $key }) { conversion { saleAmount commission status } } }";
    assert_eq!(
        app.error_code(
            Some(&shop.brand.admin),
            refund_mutation,
            json!({ "id": id, "amount": "150.01", "key": "too-much" })
        )
        .await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.error_code(
            Some(&shop.brand.admin),
            refund_mutation,
            json!({ "id": id, "amount": "-1.00", "key": "negative" })
        )
        .await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.error_code(
            Some(&shop.brand.analyst),
            refund_mutation,
            json!({ "id": id, "amount": "1.00", "key": "analyst" })
        )
        .await,
        "FORBIDDEN"
    );
    let data = app
        .ok(
            &shop.brand.admin,
            refund_mutation,
            json!({ "id": id, "amount": "100.00", "key": "k1" }),
        )
        .await;
    assert_eq!(
        data["refundConversion"]["conversion"],
        json!({ "saleAmount": "50.00", "commission": "7.50", "status": "ACCEPTED" })
    );
    let again = app
        .ok(
            &shop.brand.admin,
            refund_mutation,
            json!({ "id": id, "amount": "100.00", "key": "k1" }),
        )
        .await;
    assert_eq!(
        again["refundConversion"]["conversion"]["saleAmount"], "50.00",
        "same key, one refund"
    );
    let full = app
        .ok(&shop.brand.admin, refund_mutation, json!({ "id": id, "key": "rest" }))
        .await;
    assert_eq!(
        full["refundConversion"]["conversion"],
        json!({ "saleAmount": "0.00", "commission": "0.00", "status": "REVERSED" })
    );
    assert_eq!(
        app.error_code(
            Some(&shop.brand.admin),
            refund_mutation,
            json!({ "id": id, "amount": "1.00", "key": "after-full" })
        )
        .await,
        "CONFLICT"
    );

    let mut conn = app.db.connect().await;
    assert_eq!(
        count(
            &mut conn,
            "SELECT SUM(conversions)::bigint AS n FROM membership_daily_stats"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT (SUM(sales) * 100)::bigint AS n FROM membership_daily_stats"
        )
        .await,
        0
    );
    assert_eq!(
        count(&mut conn, "SELECT (SUM(amount) * 100)::bigint AS n FROM ledger_entries").await,
        0
    );
}

#[tokio::test]
async fn rejecting_and_refunding_after_payment_claws_back() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let record = "mutation($i: RecordConversionInput!) { recordConversion(input: $i) { duplicate conversion { id commission attribution status } } }";
    let input = json!({ "externalOrderId": "M-1", "saleAmount": "100.00", "promoCode": shop.promo_code });
    let first = app.ok(&shop.brand.admin, record, json!({ "i": input })).await;
    assert_eq!(first["recordConversion"]["duplicate"], false);
    assert_eq!(first["recordConversion"]["conversion"]["commission"], "15.00");
    let again = app.ok(&shop.brand.admin, record, json!({ "i": input })).await;
    assert_eq!(again["recordConversion"]["duplicate"], true);
    let id = first["recordConversion"]["conversion"]["id"].clone();

    // Mark the commission paid, as Send Payment will.
    let mut conn = app.db.connect().await;
    conn.batch_execute(
        "INSERT INTO payments (brand_id, idempotency_key, scope, state, total_amount) SELECT id, 'p1', 'ALL_OFFERS', 'PAID', 15 FROM brands;
         INSERT INTO payment_items (brand_id, payment_id, membership_id, amount, state) SELECT p.brand_id, p.id, l.membership_id, 15, 'PAID' FROM payments p, ledger_entries l;
         UPDATE ledger_entries SET payment_item_id = (SELECT id FROM payment_items)",
    )
    .await
    .unwrap();

    let reject = "mutation($id: ID!, $r: String!) { rejectConversion(input: { id: $id, reason: $r }) { conversion { status commission rejectionReason } } }";
    assert_eq!(
        app.error_code(Some(&shop.brand.admin), reject, json!({ "id": id, "r": " " }))
            .await,
        "BAD_USER_INPUT"
    );
    let rejected = app
        .ok(&shop.brand.admin, reject, json!({ "id": id, "r": "returned item" }))
        .await;
    assert_eq!(
        rejected["rejectConversion"]["conversion"],
        json!({ "status": "REJECTED", "commission": "0.00", "rejectionReason": "returned item" })
    );
    let twice = app
        .ok(&shop.brand.admin, reject, json!({ "id": id, "r": "again" }))
        .await;
    assert_eq!(
        twice["rejectConversion"]["conversion"]["rejectionReason"], "returned item",
        "rejecting twice changes nothing"
    );
    let refund = "mutation($id: ID!) { refundConversion(input: { id: $id, idempotencyKey: \"refund-all\" }) { conversion { status } } }";
    assert_eq!(
        app.error_code(Some(&shop.brand.admin), refund, json!({ "id": id }))
            .await,
        "CONFLICT",
        "a rejected order cannot be refunded"
    );
    assert_eq!(
        app.error_code(
            Some(&shop.brand.admin),
            reject,
            json!({ "id": "conversion_999999", "r": "x" })
        )
        .await,
        "NOT_FOUND"
    );

    let balance = app
        .ok(
            &shop.brand.admin,
            "query($id: ID!) { membership(id: $id) { balance { earned reversed paid due onHold } } }",
            json!({ "id": shop.code_membership }),
        )
        .await;
    assert_eq!(
        balance["membership"]["balance"],
        json!({ "earned": "15.00", "reversed": "15.00", "paid": "15.00", "due": "-15.00", "onHold": "0.00" }),
        "the paid entry is untouched; a clawback nets against the next payment"
    );
}

/// A flash sale: concurrent orders on one promo code (one hot membership). Every
/// order is acknowledged and stored once, a repeated delivery is a duplicate, a
/// refund of an unknown order fails alone, and the rollups, balances and
/// converting-member sets match the raw events afterwards.
#[tokio::test]
async fn a_flash_sale_on_one_code_is_stored_once_per_order() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let order = |n: usize| {
        json!({ "event": "order.created", "order_id": format!("F-{n}"), "amount": "25.00", "promo_code": shop.promo_code })
            .to_string()
    };
    let mut bodies: Vec<String> = (0..150).map(order).collect();
    bodies.push(order(7));
    bodies.push(order(99));
    bodies.push(json!({ "event": "order.refunded", "order_id": "NOPE-1", "refund_id": "r-1" }).to_string());
    let answers = futures_util::future::join_all(
        bodies
            .iter()
            .map(|body| webhook(&app, &shop.brand.slug, "generic", None, body, None)),
    )
    .await;
    let status_of = |answer: &Value| answer["status"].as_str().unwrap_or_default().to_string();
    let recorded = answers
        .iter()
        .filter(|(s, a)| *s == StatusCode::OK && status_of(a) == "recorded")
        .count();
    let duplicates = answers
        .iter()
        .filter(|(s, a)| *s == StatusCode::OK && status_of(a) == "duplicate")
        .count();
    assert_eq!((recorded, duplicates), (150, 2), "{answers:?}");
    assert_eq!(answers[152].0, StatusCode::NOT_FOUND, "{:?}", answers[152]);
    let mut conn = app.db.connect().await;
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM conversions WHERE source = 'generic' AND external_order_id LIKE 'F-%'"
        )
        .await,
        150
    );
    crate::common::assert_summaries_rebuild(&mut conn).await;
    let kpis = app
        .ok(
            &shop.brand.analyst,
            "query($id: ID!) { membership(id: $id) { kpis { conversions totalSales } } }",
            json!({ "id": shop.code_membership }),
        )
        .await;
    assert_eq!(
        kpis["membership"]["kpis"],
        json!({ "conversions": 150, "totalSales": "3750.00" })
    );
}

/// Webhook orders arriving together are recorded in groups (one transaction, one
/// statement per step), each exactly as it would be alone: promo-code, link and
/// unattributed orders, an order named twice, a Shopify delivery sent twice, and
/// orders whose offer has a reward rule (recorded one by one, so each crossing is
/// seen once).
#[tokio::test]
async fn orders_arriving_together_are_recorded_in_groups_as_each_alone() {
    let app = TestApp::with_order_writer_thread().await;
    let shop = shop(&app).await;
    let slug = shop.brand.slug.as_str();
    app.ok(
        &shop.brand.admin,
        "mutation($o: ID!) { createRewardRule(input: { offerId: $o, rule: { trigger: EVERY_N_CONVERSIONS, everyN: 2, reward: { kind: CASH_BONUS, cashAmount: \"10.00\" } } }) { rule { id } } }",
        json!({ "o": shop.link_offer }),
    )
    .await;
    let mut landings = Vec::new();
    for _ in 0..4 {
        let (_, location) = click(&app, &shop.link_code, BROWSER).await;
        let click_id = stored_click_id(&app, &location).await;
        landings.push(format!("/shoes?st_click={click_id}"));
    }
    let generic = |id: &str, code: &str| {
        json!({ "event": "order.created", "order_id": id, "amount": "20.00", "promo_code": code }).to_string()
    };
    let mut requests: Vec<(&str, Option<&str>, String, Option<String>)> = (0..40)
        .map(|n| ("generic", None, generic(&format!("G-{n}"), &shop.promo_code), None))
        .collect();
    requests.push(("generic", None, generic("G-5", &shop.promo_code), None));
    requests.push(("generic", None, generic("U-1", "NOSUCHCODE"), None));
    for (n, landing) in landings.iter().enumerate() {
        requests.push((
            "shopify",
            Some("orders/create"),
            shopify_order(700 + n as u64, "10.00", &[], landing),
            None,
        ));
    }
    let delivered = shopify_order(9001, "30.00", &[&shop.promo_code], "/");
    for _ in 0..2 {
        requests.push((
            "shopify",
            Some("orders/create"),
            delivered.clone(),
            Some("delivery-9001".into()),
        ));
    }
    let answers = futures_util::future::join_all(requests.iter().map(|(source, topic, body, delivery)| {
        post_webhook(&app, slug, source, *topic, body, None, delivery.as_deref())
    }))
    .await;
    assert!(answers.iter().all(|(s, _)| *s == StatusCode::OK), "{answers:?}");
    let status_of = |i: usize| answers[i].1["status"].as_str().unwrap().to_string();
    let statuses: Vec<String> = (0..answers.len()).map(status_of).collect();
    assert_eq!(statuses.iter().filter(|s| *s == "recorded").count(), 40 + 1 + 4 + 1);
    assert_eq!(statuses.iter().filter(|s| *s == "duplicate").count(), 2);
    assert_eq!(statuses[40], "duplicate", "G-5 named twice");
    assert_eq!(answers[40].1["conversion"]["id"], answers[5].1["conversion"]["id"]);
    assert_eq!(answers[41].1["conversion"]["membershipId"], Value::Null);
    assert_eq!(answers[41].1["conversion"]["attribution"], Value::Null);
    for (_, linked) in &answers[42..46] {
        assert_eq!(linked["conversion"]["attribution"], "LINK", "{linked}");
        assert_eq!(linked["conversion"]["commission"], "1.00");
    }
    assert_eq!(answers[5].1["conversion"]["commission"], "3.00");
    let mut delivery_statuses = vec![status_of(46), status_of(47)];
    delivery_statuses.sort();
    assert_eq!(delivery_statuses, ["duplicate", "recorded"]);

    let mut conn = app.db.connect().await;
    let orders = "SELECT count(*) AS n FROM conversions";
    assert_eq!(count(&mut conn, orders).await, 46);
    // Orders of one group share their transaction's start time.
    let groups = "SELECT count(DISTINCT created_at) AS n FROM conversions WHERE external_order_id LIKE 'G-%'";
    assert!(count(&mut conn, groups).await < 40, "no orders were grouped");
    // Four link conversions cross "every 2" twice.
    let bonuses = "SELECT count(*) AS n FROM rewards WHERE reward_rule_id IS NOT NULL";
    assert_eq!(count(&mut conn, bonuses).await, 2);
    crate::common::assert_summaries_rebuild(&mut conn).await;
    let kpis = app
        .ok(
            &shop.brand.analyst,
            "query($c: ID!, $l: ID!) { code: membership(id: $c) { kpis { conversions totalSales commissionsEarned } }
               link: membership(id: $l) { kpis { conversions totalSales commissionsEarned } } }",
            json!({ "c": shop.code_membership, "l": shop.link_membership }),
        )
        .await;
    assert_eq!(
        kpis,
        json!({
            "code": { "kpis": { "conversions": 41, "totalSales": "830.00", "commissionsEarned": "124.50" } },
            "link": { "kpis": { "conversions": 4, "totalSales": "40.00", "commissionsEarned": "24.00" } },
        })
    );
}

/// A reward rule's crossing makes a membership's conversions take turns without
/// waiting on the key-share locks other transactions' inserts hold on it (a group of
/// orders holds them while it waits on the crossing's balance rows: a deadlock).
#[tokio::test]
async fn a_reward_crossing_does_not_wait_on_a_membership_key_share_lock() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    app.ok(
        &shop.brand.admin,
        "mutation($o: ID!) { createRewardRule(input: { offerId: $o, rule: { trigger: EVERY_N_CONVERSIONS, everyN: 1, reward: { kind: CASH_BONUS, cashAmount: \"10.00\" } } }) { rule { id } } }",
        json!({ "o": shop.code_offer }),
    )
    .await;
    let mut holder = app.db.connect().await;
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM memberships m JOIN promo_codes p ON p.brand_id = m.brand_id AND p.membership_id = m.id
             WHERE p.code = '{}' FOR KEY SHARE OF m",
            shop.promo_code
        ))
        .await
        .unwrap();
    let body = json!({ "event": "order.created", "order_id": "R-1", "amount": "20.00", "promo_code": shop.promo_code })
        .to_string();
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        post_webhook(&app, &shop.brand.slug, "generic", None, &body, None, None),
    )
    .await
    .expect("the crossing waited on another transaction's key-share lock");
    assert_eq!(answer.0, StatusCode::OK, "{:?}", answer.1);
    assert_eq!(answer.1["status"], "recorded");
    holder.batch_execute("ROLLBACK").await.unwrap();
    let mut conn = app.db.connect().await;
    let bonuses = "SELECT count(*) AS n FROM rewards WHERE reward_rule_id IS NOT NULL";
    assert_eq!(count(&mut conn, bonuses).await, 1);
}

/// An order the database refuses fails alone: the rest of its group is applied
/// again order by order and stored once each.
#[tokio::test]
async fn an_order_the_database_refuses_fails_alone_and_its_group_is_stored() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let mut conn = app.db.connect().await;
    conn.batch_execute(
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.external_order_id = 'POISON' THEN RAISE EXCEPTION 'refused'; END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER refuse_poison BEFORE INSERT ON conversions FOR EACH ROW EXECUTE FUNCTION refuse_poison();",
    )
    .await
    .unwrap();
    let body = |id: String| {
        json!({ "event": "order.created", "order_id": id, "amount": "20.00", "promo_code": shop.promo_code })
            .to_string()
    };
    let mut bodies: Vec<String> = (0..30).map(|n| body(format!("P-{n}"))).collect();
    bodies.insert(15, body("POISON".into()));
    let answers = futures_util::future::join_all(
        bodies
            .iter()
            .map(|b| webhook(&app, &shop.brand.slug, "generic", None, b, None)),
    )
    .await;
    assert_eq!(answers[15].0, StatusCode::INTERNAL_SERVER_ERROR, "{:?}", answers[15]);
    let stored = answers
        .iter()
        .filter(|(s, a)| *s == StatusCode::OK && a["status"] == "recorded");
    assert_eq!(stored.count(), 30, "{answers:?}");
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM conversions").await, 30);
    crate::common::assert_summaries_rebuild(&mut conn).await;
}

const ASSIGN: &str = "mutation($c: ID!, $m: ID!, $k: String!) { assignConversion(input: { conversionId: $c, membershipId: $m, idempotencyKey: $k }) { conversion { id attribution commission membership { id } } } }";

/// An unattributed order credited by hand: the membership's commission, its ledger
/// and KPIs, once per key; an attributed order, another brand's ids and analysts are
/// refused, and nothing changes for them.
#[tokio::test]
async fn an_unattributed_order_is_credited_once_to_a_membership() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let slug = shop.brand.slug.as_str();
    let body = |id: &str, code: &str| {
        json!({ "event": "order.created", "order_id": id, "amount": "80.00", "promo_code": code }).to_string()
    };
    let (_, lost) = webhook(&app, slug, "generic", None, &body("LOST-1", "NOSUCHCODE"), None).await;
    let (_, coded) = webhook(&app, slug, "generic", None, &body("CODED-1", &shop.promo_code), None).await;
    let lost_id = lost["conversion"]["id"].clone();
    assert_eq!(lost["conversion"]["membershipId"], Value::Null);

    let vars = |conversion: &Value, key: &str| json!({ "c": conversion, "m": shop.code_membership, "k": key });
    assert_eq!(
        app.error_code(Some(&shop.brand.analyst), ASSIGN, vars(&lost_id, "a-1"))
            .await,
        "FORBIDDEN"
    );
    let credited = app.ok(&shop.brand.admin, ASSIGN, vars(&lost_id, "a-1")).await;
    // 15% of 80.00 by the promo-code offer's rule.
    assert_eq!(
        credited["assignConversion"]["conversion"],
        json!({ "id": lost_id, "attribution": "MANUAL", "commission": "12.00", "membership": { "id": shop.code_membership } })
    );
    // A retry is a no-op; another key, or an attributed order, is a conflict.
    let again = app.ok(&shop.brand.admin, ASSIGN, vars(&lost_id, "a-1")).await;
    assert_eq!(
        again["assignConversion"]["conversion"],
        credited["assignConversion"]["conversion"]
    );
    assert_eq!(
        app.error_code(Some(&shop.brand.admin), ASSIGN, vars(&lost_id, "a-2"))
            .await,
        "CONFLICT"
    );
    let coded_id = coded["conversion"]["id"].clone();
    assert_eq!(
        app.error_code(Some(&shop.brand.admin), ASSIGN, vars(&coded_id, "a-3"))
            .await,
        "CONFLICT"
    );
    let other = app.brand("Other").await;
    assert_eq!(
        app.error_code(Some(&other.admin), ASSIGN, vars(&lost_id, "a-4")).await,
        "NOT_FOUND"
    );

    let kpis = app
        .ok(
            &shop.brand.analyst,
            "query($id: ID!) { membership(id: $id) { kpis { conversions totalSales commissionsEarned } balance { earned } } }",
            json!({ "id": shop.code_membership }),
        )
        .await;
    assert_eq!(
        kpis["membership"],
        json!({ "kpis": { "conversions": 2, "totalSales": "160.00", "commissionsEarned": "24.00" }, "balance": { "earned": "24.00" } })
    );
    let unattributed = app
        .ok(
            &shop.brand.analyst,
            "{ unattributedOrders { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(unattributed["unattributedOrders"]["edges"], json!([]));
    let mut conn = app.db.connect().await;
    let audited = "SELECT count(*) AS n FROM audit_events WHERE action = 'assignConversion'";
    assert_eq!(count(&mut conn, audited).await, 2, "the credit and its retry");
    crate::common::assert_summaries_rebuild(&mut conn).await;
}

/// Orders arriving together make groups written side by side; a group beside
/// another tallies its balances and rollups, and the writer folds the tallies
/// (a stopped server's too) before it answers its last order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_orders_is_counted_in_full_by_its_last_answer() {
    let app = std::sync::Arc::new(TestApp::with_order_writer_thread().await);
    let shop = shop(&app).await;
    let order = |id: String| {
        json!({ "event": "order.created", "order_id": id, "amount": "20.00", "promo_code": shop.promo_code })
            .to_string()
    };
    let slug = shop.brand.slug.clone();
    let (status, _) = post_webhook(&app, &slug, "generic", None, &order("L-0".into()), None, None).await;
    assert_eq!(status, StatusCode::OK);
    // A stopped server's tally, not folded yet: its order's balance, moved out of
    // the balances. The next fold takes it too.
    let mut conn = app.db.connect().await;
    conn.batch_execute(
        "INSERT INTO order_tallies (brand_id, membership_id, unpaid, on_hold)
         SELECT brand_id, membership_id, unpaid, on_hold FROM membership_balances;
         UPDATE membership_balances SET unpaid = 0, on_hold = 0;",
    )
    .await
    .unwrap();

    let burst: Vec<_> = (0..200u64)
        .map(|n| {
            let (app, slug, body) = (app.clone(), slug.clone(), order(format!("B-{n}")));
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_micros(200 * n)).await;
                post_webhook(&app, &slug, "generic", None, &body, None, None).await.0
            })
        })
        .collect();
    for answer in burst {
        assert_eq!(answer.await.unwrap(), StatusCode::OK);
    }
    let (_, metrics) = app.get("/metrics").await;
    let tallied = metrics
        .lines()
        .find_map(|line| line.strip_prefix("sales_tracking_order_groups_tallied_total "))
        .and_then(|n| n.trim().parse::<f64>().ok())
        .unwrap();
    assert!(tallied > 0.0, "some groups were written beside another: {metrics}");
    assert_eq!(app.rows("order_tallies").await, 0, "folded before the last answer");
    let balance = "SELECT count(*) AS n FROM membership_balances WHERE unpaid = 603 AND on_hold = 603";
    assert_eq!(
        count(&mut conn, balance).await,
        1,
        "every commission once, the stopped server's too"
    );
    crate::common::assert_summaries_rebuild(&mut conn).await;
    let kpis = app
        .ok(
            &shop.brand.analyst,
            "query($id: ID!) { membership(id: $id) { kpis { conversions totalSales commissionsEarned } } }",
            json!({ "id": shop.code_membership }),
        )
        .await;
    assert_eq!(
        kpis["membership"]["kpis"],
        json!({ "conversions": 201, "totalSales": "4020.00", "commissionsEarned": "603.00" })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_clicks_is_counted_in_full_by_its_last_answer() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let shop = shop(&app).await;
    let kpi_clicks = || async {
        app.ok(&shop.brand.admin, "{ kpis { clicks } }", json!({})).await["kpis"]["clicks"]
            .as_i64()
            .unwrap()
    };
    // A stopped server's tally, not folded yet: the next fold takes it too.
    let mut conn = app.db.connect().await;
    conn.batch_execute(&format!(
        "INSERT INTO click_tallies (brand_id, membership_id, day, clicks)
         SELECT m.brand_id, m.id, (now() AT TIME ZONE b.time_zone)::date, 5
         FROM memberships m JOIN brands b ON b.id = m.brand_id WHERE m.link_code = '{}'",
        shop.link_code
    ))
    .await
    .unwrap();
    assert_eq!(kpi_clicks().await, 0);

    // Arriving over some milliseconds, the clicks make batches written side by side.
    let burst: Vec<_> = (0..400u64)
        .map(|n| {
            let (app, code) = (app.clone(), shop.link_code.clone());
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_micros(100 * n)).await;
                click(&app, &code, BROWSER).await.0
            })
        })
        .collect();
    for answer in burst {
        assert_eq!(answer.await.unwrap(), StatusCode::FOUND);
    }
    let (_, metrics) = app.get("/metrics").await;
    let tallied: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("sales_tracking_clicks_tallied_total "))
        .and_then(|n| n.trim().parse::<f64>().ok())
        .unwrap() as u64;
    assert!(tallied > 0, "some batches were written beside another: {metrics}");
    assert_eq!(app.rows("click_tallies").await, 0, "folded before the last answer");
    assert_eq!(app.rows("clicks").await, 400);
    assert_eq!(
        kpi_clicks().await,
        405,
        "every click once, and the stopped server's tally"
    );
}

/// An order group's transaction begins in the round trip of its first reads. One
/// dropped midway (a cancelled task, a panic) must not go back to the pool still
/// open: the next group to take that connection would commit its half-written rows.
#[tokio::test]
async fn a_group_transaction_dropped_midway_never_reaches_the_next_user() {
    use sales_tracking::db::{DbError, connect_pool, pipelined};

    let db = crate::common::TestDb::new().await;
    let pool = connect_pool(&db.url(), 1).unwrap();
    let open_transaction =
        "SELECT count(*) AS n FROM (SELECT pg_current_xact_id_if_assigned() AS id) t WHERE id IS NOT NULL";
    {
        let mut conn = pool.get().await.unwrap();
        let begin = pipelined::begin(&mut conn).unwrap();
        let read = diesel::sql_query("SELECT 1").execute(&mut conn);
        let (begun, read) = futures_util::join!(begin, read);
        begun.unwrap();
        read.unwrap();
        conn.batch_execute("CREATE TABLE half_written (id int)").await.unwrap();
        assert_eq!(count(&mut conn, open_transaction).await, 1);
        // Dropped here, neither committed nor rolled back.
    }
    let mut conn = pool.get().await.unwrap();
    assert_eq!(count(&mut conn, open_transaction).await, 0);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'half_written'"
        )
        .await,
        0
    );

    // Finished, it commits a success and rolls back a failure, and the connection goes on.
    let begin = pipelined::begin(&mut conn).unwrap();
    begin.await.unwrap();
    conn.batch_execute("CREATE TABLE kept (id int)").await.unwrap();
    pipelined::finish(&mut conn, Ok(())).await.unwrap();
    let begin = pipelined::begin(&mut conn).unwrap();
    begin.await.unwrap();
    conn.batch_execute("CREATE TABLE undone (id int)").await.unwrap();
    let failed: Result<(), DbError> = Err(DbError::NotFound);
    assert!(pipelined::finish(&mut conn, failed).await.is_err());
    assert_eq!(count(&mut conn, open_transaction).await, 0);
    drop(conn);
    let mut other = db.connect().await;
    assert_eq!(
        count(
            &mut other,
            "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'undone'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &mut other,
            "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'kept'"
        )
        .await,
        1
    );
}
