//! Send Payment through PayPal Payouts, against the PayPal stand-in: each due
//! entry is paid exactly once, in one batch per payment, whatever PayPal fails or
//! delays; items end as PayPal reports them.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use rust_decimal::Decimal;
use sales_tracking::providers::paypal::PayPalConfig;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::TestApp;
use crate::paypal_stand_in::{self, CLIENT_ID, CLIENT_SECRET, GOOD_SIGNATURE, StandIn};
use crate::tracking::{Shop, shop};

pub const SEND: &str = "mutation($i: SendPaymentInput!) { sendPayment(input: $i) { replayed payment { id state provider providerBatchId totalAmount items { amount state providerStatus providerReference membership { member { name } } } } } }";
const PREVIEW: &str = "{ paymentPreview(scope: ALL_OFFERS) { totalAmount itemCount } }";

pub fn paypal_config(url: &str) -> PayPalConfig {
    PayPalConfig {
        api_url: url.to_string(),
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        webhook_id: Some("WH-STANDIN".into()),
        timeout: Duration::from_secs(1),
    }
}

async fn paypal_app(url: &str, reconcile_every: Duration) -> TestApp {
    TestApp::with_config(sales_tracking::AppConfig {
        paypal: Some(paypal_config(url)),
        reconcile_every,
        ..Default::default()
    })
    .await
}

/// Members paid at once (no hold period) through the shop's promo-code offer, one
/// order of 100.00 (15.00 commission) each, paid to these payout addresses.
pub async fn members_due(app: &TestApp, shop: &Shop, payout_addresses: &[&str]) {
    app.ok(
        &shop.brand.admin,
        "mutation($id: ID!) { updateOffer(input: { id: $id, holdPeriodDays: 0 }) { offer { id } } }",
        json!({ "id": shop.code_offer }),
    )
    .await;
    for (n, address) in payout_addresses.iter().enumerate() {
        member_due(app, shop, &n.to_string(), address).await;
    }
}

/// A new member `Creator {tag}` of the shop's promo-code offer with one order of
/// 100.00 (15.00 commission), paid to `address`.
async fn member_due(app: &TestApp, shop: &Shop, tag: &str, address: &str) {
    let admin = &shop.brand.admin;
    let member = app
        .ok(
            admin,
            "mutation($i: CreateMemberInput!) { createMember(input: $i) { member { id } } }",
            json!({ "i": { "name": format!("Creator {tag}"), "email": format!("creator-{tag}@example.com"), "payoutEmail": address } }),
        )
        .await["createMember"]["member"]["id"]
        .clone();
    let code = app
        .ok(
            admin,
            "mutation($o: ID!, $m: [ID!]!) { addMembers(input: { offerId: $o, memberIds: $m }) { memberships { promoCode } } }",
            json!({ "o": shop.code_offer, "m": [member] }),
        )
        .await["addMembers"]["memberships"][0]["promoCode"]
        .as_str()
        .unwrap()
        .to_string();
    app.ok(
        admin,
        "mutation($i: RecordConversionInput!) { recordConversion(input: $i) { conversion { id } } }",
        json!({ "i": { "externalOrderId": format!("order-{tag}"), "saleAmount": "100.00", "promoCode": code } }),
    )
    .await;
}

fn send_input(key: &str) -> Value {
    json!({ "i": { "scope": "ALL_OFFERS", "provider": "PAYPAL", "idempotencyKey": key } })
}

fn money(value: &Value) -> Decimal {
    value.as_str().unwrap().parse().unwrap()
}

async fn due_now(app: &TestApp, key: &str) -> Decimal {
    money(&app.ok(key, PREVIEW, json!({})).await["paymentPreview"]["totalAmount"])
}

/// Every item the stand-in was asked to pay, over all its batches.
fn paid_items(stand_in: &StandIn) -> Vec<String> {
    stand_in
        .batches()
        .iter()
        .flat_map(|b| b.items.iter().map(|i| i.sender_item_id.clone()))
        .collect()
}

#[tokio::test]
async fn paypal_pays_in_one_batch_and_items_end_as_paypal_reports_them() {
    let (url, stand_in) = paypal_stand_in::start().await;
    let app = paypal_app(&url, Duration::from_secs(3600)).await;
    let shop = shop(&app).await;
    let admin = &shop.brand.admin;
    members_due(
        &app,
        &shop,
        &[
            "ok@example.com",
            "fail-bo@example.com",
            "blocked-cy@example.com",
            "+15550100000",
        ],
    )
    .await;
    assert_eq!(due_now(&app, admin).await, Decimal::new(6000, 2));

    let sent = app.ok(admin, SEND, send_input("paypal-1")).await["sendPayment"]["payment"].clone();
    assert_eq!(sent["provider"], "PAYPAL");
    assert_eq!(sent["state"], "PARTIALLY_PAID");
    let batches = stand_in.batches();
    assert_eq!(batches.len(), 1);
    assert_eq!(sent["providerBatchId"], batches[0].payout_batch_id.as_str());
    assert_eq!(
        batches[0].sender_batch_id,
        format!("sales-tracking-{}", sent["id"].as_str().unwrap())
    );
    let mut by_receiver: Vec<(String, String, String)> = batches[0]
        .items
        .iter()
        .map(|i| (i.receiver.clone(), i.amount.clone(), i.currency.clone()))
        .collect();
    by_receiver.sort();
    assert_eq!(
        by_receiver,
        [
            ("+15550100000", "15.00", "USD"),
            ("blocked-cy@example.com", "15.00", "USD"),
            ("fail-bo@example.com", "15.00", "USD"),
            ("ok@example.com", "15.00", "USD"),
        ]
        .map(|(r, a, c)| (r.to_string(), a.to_string(), c.to_string()))
    );
    let mut items: Vec<(String, String, String)> = sent["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            assert!(
                i["providerReference"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("STANDINITEM")),
                "{i}"
            );
            (
                i["membership"]["member"]["name"].as_str().unwrap().to_string(),
                i["state"].as_str().unwrap().to_string(),
                i["providerStatus"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    items.sort();
    assert_eq!(
        items,
        [
            ("Creator 0", "PAID", "SUCCESS"),
            ("Creator 1", "FAILED", "FAILED"),
            ("Creator 2", "FAILED", "BLOCKED"),
            ("Creator 3", "PAID", "SUCCESS"),
        ]
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    );
    // The failed and blocked commissions are due again; the paid ones are not.
    assert_eq!(due_now(&app, admin).await, Decimal::new(3000, 2));
}

#[tokio::test]
async fn a_5xx_a_timeout_and_a_lost_answer_still_end_paid_with_one_batch() {
    let (url, stand_in) = paypal_stand_in::start().await;
    let app = paypal_app(&url, Duration::from_secs(3600)).await;
    let shop = shop(&app).await;
    let admin = &shop.brand.admin;

    // PayPal creates the batch but answers 500: the payment is PROCESSING, not an error.
    members_due(&app, &shop, &["ok@example.com"]).await;
    stand_in.fail_next_creates.store(1, Ordering::SeqCst);
    let first = app.ok(admin, SEND, send_input("k-5xx")).await["sendPayment"].clone();
    assert_eq!(first["payment"]["state"], "PROCESSING");
    assert_eq!(first["payment"]["providerBatchId"], Value::Null);
    // The replay sends the same sender_batch_id; PayPal answers that it exists, with a
    // link to the batch, whose items are then read.
    let replay = app.ok(admin, SEND, send_input("k-5xx")).await["sendPayment"].clone();
    assert_eq!(replay["replayed"], true);
    assert_eq!(replay["payment"]["state"], "PAID");
    assert_eq!(replay["payment"]["providerBatchId"], "STANDINBATCH0001");
    assert_eq!(stand_in.batches().len(), 1);
    assert_eq!(stand_in.create_calls.load(Ordering::SeqCst), 2);

    // PayPal never answers the create (the client gives up after its timeout).
    members_due_more(&app, &shop, "late@example.com", 1).await;
    stand_in.hang_creates.store(true, Ordering::SeqCst);
    let slow = app.ok(admin, SEND, send_input("k-timeout")).await["sendPayment"].clone();
    assert_eq!(slow["payment"]["state"], "PROCESSING");
    stand_in.hang_creates.store(false, Ordering::SeqCst);
    let replay = app.ok(admin, SEND, send_input("k-timeout")).await["sendPayment"].clone();
    assert_eq!(replay["payment"]["state"], "PAID");
    assert_eq!(stand_in.batches().len(), 2);

    // A denied batch fails every item, and their commissions are due again.
    members_due_more(&app, &shop, "denied@example.com", 2).await;
    stand_in.deny_next.store(true, Ordering::SeqCst);
    let denied = app.ok(admin, SEND, send_input("k-denied")).await["sendPayment"]["payment"].clone();
    assert_eq!(denied["state"], "FAILED");
    assert_eq!(denied["items"][0]["providerStatus"], "DENIED");
    assert_eq!(due_now(&app, admin).await, Decimal::new(1500, 2));

    let mut items = paid_items(&stand_in);
    let count = items.len();
    items.sort();
    items.dedup();
    assert_eq!(items.len(), count, "no item was sent in two batches");
}

/// One more member due 15.00, paid to `address`.
async fn members_due_more(app: &TestApp, shop: &Shop, address: &str, round: usize) {
    member_due(app, shop, &format!("later-{round}"), address).await;
}

async fn paypal_webhook(app: &TestApp, signature: &str, event: &Value) -> (StatusCode, Value) {
    let request = Request::post("/webhooks/paypal")
        .header("content-type", "application/json")
        .header("paypal-auth-algo", "SHA256withRSA")
        .header(
            "paypal-cert-url",
            "https://api.paypal.com/v1/notifications/certs/CERT-360caa42",
        )
        .header("paypal-transmission-id", "69cd13f0-d67a-11e5-baa3-778b53f4ae55")
        .header("paypal-transmission-sig", signature)
        .header("paypal-transmission-time", "2026-11-29T19:00:00Z")
        .body(Body::from(event.to_string()))
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_payment_stays_processing_until_paypal_reports_and_a_verified_webhook_settles_it() {
    let (url, stand_in) = paypal_stand_in::start().await;
    let app = paypal_app(&url, Duration::from_secs(3600)).await;
    let shop = shop(&app).await;
    let admin = &shop.brand.admin;
    members_due(&app, &shop, &["ok@example.com", "unclaimed@example.com"]).await;
    stand_in.hold_items.store(true, Ordering::SeqCst);
    let sent = app.ok(admin, SEND, send_input("held")).await["sendPayment"]["payment"].clone();
    assert_eq!(sent["state"], "PROCESSING");
    assert_eq!(sent["items"][0]["providerStatus"], "PENDING");
    assert_eq!(
        due_now(&app, admin).await,
        Decimal::ZERO,
        "entries in flight are not due"
    );

    stand_in.release();
    let event = json!({
        "id": "WH-7YX49823S2290830K-0JE13296W68552352",
        "event_type": "PAYMENT.PAYOUTSBATCH.SUCCESS",
        "resource_type": "payouts",
        "resource": { "batch_header": { "payout_batch_id": sent["providerBatchId"], "batch_status": "SUCCESS" } },
    });
    let (status, answer) = paypal_webhook(&app, "forged", &event).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(
        latest_payment(&app, admin).await["state"],
        "PROCESSING",
        "a forged event changes nothing"
    );

    let (status, answer) = paypal_webhook(&app, GOOD_SIGNATURE, &event).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "reconciled");
    // One paid, one unclaimed (PayPal holds it until the recipient claims or it returns).
    let payment = latest_payment(&app, admin).await;
    assert_eq!(payment["state"], "PROCESSING");
    let mut statuses: Vec<&str> = payment["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["providerStatus"].as_str().unwrap())
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["SUCCESS", "UNCLAIMED"]);
    // The unclaimed payout is returned: that item fails, its commission is due again.
    for batch in stand_in.batches.lock().unwrap().iter_mut() {
        for item in &mut batch.items {
            if item.status == "UNCLAIMED" {
                item.status = "RETURNED".into();
            }
        }
    }
    let item_event = json!({
        "event_type": "PAYMENT.PAYOUTS-ITEM.RETURNED",
        "resource": { "payout_batch_id": sent["providerBatchId"], "transaction_status": "RETURNED" },
    });
    let (status, _) = paypal_webhook(&app, GOOD_SIGNATURE, &item_event).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(latest_payment(&app, admin).await["state"], "PARTIALLY_PAID");
    assert_eq!(due_now(&app, admin).await, Decimal::new(1500, 2));
    let (status, answer) = paypal_webhook(&app, GOOD_SIGNATURE, &json!({ "event_type": "PAYMENT.PAYOUTSBATCH.SUCCESS", "resource": { "batch_header": { "payout_batch_id": "NOT-OURS" } } })).await;
    assert_eq!((status, answer["status"].clone()), (StatusCode::OK, json!("ignored")));
    assert_eq!(stand_in.batches().len(), 1);
}

#[tokio::test]
async fn unsettled_payments_are_reconciled_in_the_background() {
    let (url, stand_in) = paypal_stand_in::start().await;
    let app = paypal_app(&url, Duration::from_millis(200)).await;
    let shop = shop(&app).await;
    let admin = &shop.brand.admin;
    members_due(&app, &shop, &["ok@example.com"]).await;
    stand_in.fail_next_creates.store(1, Ordering::SeqCst);
    let sent = app.ok(admin, SEND, send_input("background")).await["sendPayment"]["payment"].clone();
    assert_eq!(sent["state"], "PROCESSING");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let state =
            app.ok(admin, "{ payments { nodes { state } } }", json!({})).await["payments"]["nodes"][0]["state"].clone();
        if state == "PAID" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {state} after 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stand_in.batches().len(), 1);

    // PayPal takes its time with the items, and sends no webhook: asked again later.
    members_due_more(&app, &shop, "slow@example.com", 1).await;
    stand_in.hold_items.store(true, Ordering::SeqCst);
    let held = app.ok(admin, SEND, send_input("held-in-background")).await["sendPayment"]["payment"].clone();
    assert_eq!(held["state"], "PROCESSING");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stand_in.release();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while latest_payment(&app, admin).await["state"] != "PAID" {
        assert!(
            std::time::Instant::now() < deadline,
            "the held payment is not PAID after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(stand_in.batches().len(), 2);
}

#[tokio::test]
async fn paypal_payments_and_webhooks_need_paypal_configured() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    members_due(&app, &shop, &["ok@example.com"]).await;
    assert_eq!(
        app.error_code(Some(&shop.brand.admin), SEND, send_input("no-paypal"))
            .await,
        "BAD_USER_INPUT"
    );
    assert_eq!(app.rows("payments").await, 0);
    let (status, _) = paypal_webhook(&app, GOOD_SIGNATURE, &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The newest payment with its items.
async fn latest_payment(app: &TestApp, key: &str) -> Value {
    app.ok(
        key,
        "{ payments { nodes { state items { state providerStatus } } } }",
        json!({}),
    )
    .await["payments"]["nodes"][0]
        .clone()
}

/// The real binary, killed (SIGKILL) before, during and after its call to PayPal,
/// then started again: each due entry ends paid exactly once, one batch per payment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_at_any_point_of_a_send_payment_pays_each_entry_once() {
    let (url, stand_in) = paypal_stand_in::start().await;
    // The servers under test run the jobs; this app, without PayPal, only sets up.
    let app = TestApp::with_config(sales_tracking::AppConfig {
        jobs: sales_tracking::app::jobs::RunnerSettings {
            run_jobs: false,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let shop = shop(&app).await;
    let admin = shop.brand.admin.clone();
    app.ok(
        &admin,
        "mutation($id: ID!) { updateOffer(input: { id: $id, holdPeriodDays: 0 }) { offer { id } } }",
        json!({ "id": shop.code_offer }),
    )
    .await;
    let spool = tempfile::tempdir().unwrap();
    type Switch = fn(&StandIn) -> &std::sync::atomic::AtomicBool;
    type Reached = fn(&StandIn) -> bool;
    let rounds: [(&str, Switch, Reached); 3] = [
        // Before: stuck getting a token, so PayPal never saw the batch.
        (
            "before",
            |s| &s.hang_tokens,
            |s| s.token_calls.load(Ordering::SeqCst) > 0,
        ),
        // During: PayPal stored the batch but its answer never came back.
        (
            "during",
            |s| &s.hang_creates,
            |s| !s.batches().is_empty() && s.create_calls.load(Ordering::SeqCst) > 0,
        ),
        // After: PayPal answered; the server was reading the items' statuses.
        ("after", |s| &s.hang_shows, |s| s.show_calls.load(Ordering::SeqCst) > 0),
    ];
    for (round, (name, switch, reached)) in rounds.into_iter().enumerate() {
        members_due_more(&app, &shop, &format!("{name}@example.com"), round).await;
        let batches_before = stand_in.batches().len();
        stand_in.token_calls.store(0, Ordering::SeqCst);
        stand_in.create_calls.store(0, Ordering::SeqCst);
        stand_in.show_calls.store(0, Ordering::SeqCst);
        switch(&stand_in).store(true, Ordering::SeqCst);
        let mut server = ChildServer::start(&app, &url, spool.path()).await;
        let send = {
            let (base, admin) = (server.base.clone(), admin.clone());
            tokio::spawn(async move {
                let body = json!({ "query": SEND, "variables": send_input(&format!("crash-{name}")) });
                let _ = reqwest::Client::new()
                    .post(format!("{base}/graphql"))
                    .bearer_auth(admin)
                    .json(&body)
                    .send()
                    .await;
            })
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !reached(&stand_in) || (name == "during" && stand_in.batches().len() == batches_before) {
            assert!(
                std::time::Instant::now() < deadline,
                "{name}: the server never got there"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server.kill().await;
        send.abort();
        assert_eq!(
            latest_payment(&app, &admin).await["state"],
            "PROCESSING",
            "{name}: the killed server left the payment unsettled"
        );
        // Started again, it reconciles at once and finishes the payment.
        switch(&stand_in).store(false, Ordering::SeqCst);
        let mut restarted = ChildServer::start(&app, &url, spool.path()).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while latest_payment(&app, &admin).await["state"] != "PAID" {
            assert!(
                std::time::Instant::now() < deadline,
                "{name}: not PAID after the restart"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        restarted.kill().await;
        assert_eq!(
            stand_in.batches().len(),
            batches_before + 1,
            "{name}: one batch for the payment"
        );
    }
    let batches = stand_in.batches();
    let mut senders: Vec<&str> = batches.iter().map(|b| b.sender_batch_id.as_str()).collect();
    senders.dedup();
    assert_eq!(senders.len(), 3);
    let mut items = paid_items(&stand_in);
    items.sort();
    items.dedup();
    assert_eq!(items.len(), 3, "each item sent once, in one batch");
    assert_eq!(due_now(&app, &admin).await, Decimal::ZERO);
    let mut conn = app.db.connect().await;
    assert_eq!(
        crate::common::count(
            &mut conn,
            "SELECT count(*) AS n FROM ledger_entries e JOIN payment_items i ON i.brand_id = e.brand_id AND i.id = e.payment_item_id WHERE i.state = 'PAID'"
        )
        .await,
        3,
        "each entry is linked to one paid item"
    );
}

/// The server binary on a free port, paying through the stand-in and reconciling every second.
struct ChildServer {
    process: tokio::process::Child,
    base: String,
}

impl ChildServer {
    async fn start(app: &TestApp, paypal_url: &str, spool: &std::path::Path) -> Self {
        let port = crate::common::free_port();
        let process = tokio::process::Command::new(env!("CARGO_BIN_EXE_sales-tracking"))
            .env("FX_RATES_URL", "none")
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--reconcile-every",
                "1",
            ])
            .arg("--spool-dir")
            .arg(spool)
            .env("DATABASE_URL", app.db.url())
            .env("PAYPAL_API_URL", paypal_url)
            .env("PAYPAL_CLIENT_ID", CLIENT_ID)
            .env("PAYPAL_CLIENT_SECRET", CLIENT_SECRET)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let base = format!("127.0.0.1:{port}");
        crate::common::until_listening(&base).await;
        ChildServer {
            process,
            base: format!("http://{base}"),
        }
    }

    /// SIGKILL: no shutdown, no cleanup.
    async fn kill(&mut self) {
        self.process.kill().await.unwrap();
    }
}

#[tokio::test]
async fn concurrent_paypal_payments_pay_each_entry_once() {
    let (url, stand_in) = paypal_stand_in::start().await;
    let app = paypal_app(&url, Duration::from_secs(3600)).await;
    let shop = shop(&app).await;
    let admin = &shop.brand.admin;
    let addresses: Vec<String> = (0..8).map(|n| format!("creator{n}@example.com")).collect();
    members_due(&app, &shop, &addresses.iter().map(String::as_str).collect::<Vec<_>>()).await;
    // Ten requests at once, five keys, each sent twice.
    let sends = (0..10).map(|n| app.graphql(Some(admin), SEND, send_input(&format!("key-{}", n % 5))));
    let answers = futures_util::future::join_all(sends).await;
    let paid: Decimal = answers
        .iter()
        .filter(|(_, body)| body["errors"].is_null())
        .map(|(_, body)| &body["data"]["sendPayment"])
        .filter(|sent| sent["replayed"] == false)
        .map(|sent| money(&sent["payment"]["totalAmount"]))
        .sum();
    assert_eq!(paid, Decimal::new(12000, 2), "8 × 15.00, once");
    let mut items = paid_items(&stand_in);
    assert_eq!(items.len(), 8);
    items.sort();
    items.dedup();
    assert_eq!(items.len(), 8, "no item in two batches");
    assert_eq!(due_now(&app, admin).await, Decimal::ZERO);
    let mut conn = app.db.connect().await;
    assert_eq!(
        crate::common::count(
            &mut conn,
            "SELECT count(*) AS n FROM ledger_entries WHERE payment_item_id IS NOT NULL"
        )
        .await,
        8
    );
}

/// PayPal hanging on every create while more payments are sent than the pool has
/// connections: the API keeps answering, because no connection waits on PayPal.
#[tokio::test]
async fn a_hanging_paypal_does_not_starve_the_database_pool() {
    let (url, stand_in) = paypal_stand_in::start().await;
    let app = TestApp::with_config(sales_tracking::AppConfig {
        paypal: Some(PayPalConfig {
            timeout: Duration::from_secs(8),
            ..paypal_config(&url)
        }),
        reconcile_every: Duration::from_secs(3600),
        ..Default::default()
    })
    .await;
    let shop = shop(&app).await;
    let admin = shop.brand.admin.clone();
    let addresses: Vec<String> = (0..6).map(|n| format!("creator{n}@example.com")).collect();
    members_due(&app, &shop, &addresses.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let memberships: Vec<String> = app
        .ok(
            &admin,
            "query($id: ID!) { offer(id: $id) { memberships(first: 20) { nodes { id member { name } } } } }",
            json!({ "id": shop.code_offer }),
        )
        .await["offer"]["memberships"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["member"]["name"].as_str().unwrap().starts_with("Creator"))
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(memberships.len(), 6);
    stand_in.hang_creates.store(true, Ordering::SeqCst);
    // Six payments at once (the test pool has 4 connections), each stuck in PayPal.
    let sends: Vec<_> = memberships
        .iter()
        .map(|membership| {
            let input = json!({ "i": { "scope": "MEMBERSHIPS", "membershipIds": [membership], "provider": "PAYPAL", "idempotencyKey": membership } });
            let (app, admin) = (&app, admin.clone());
            async move { app.graphql(Some(&admin), SEND, input).await }
        })
        .collect();
    let stuck = futures_util::future::join_all(sends);
    let probe = async {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while stand_in.create_calls.load(Ordering::SeqCst) < 6 {
            assert!(
                std::time::Instant::now() < deadline,
                "the payments never reached PayPal"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let asked = std::time::Instant::now();
        let answer = app.ok(&admin, "{ kpis { conversions } }", json!({})).await;
        (asked.elapsed(), answer)
    };
    let (answers, (took, answer)) = tokio::join!(stuck, probe);
    assert_eq!(answer["kpis"]["conversions"], 6);
    assert!(took < Duration::from_secs(2), "a report waited {took:?} behind PayPal");
    for (_, body) in answers {
        assert_eq!(body["data"]["sendPayment"]["payment"]["state"], "PROCESSING", "{body}");
    }
}
