//! Three server processes on one database, used at once: what each stores, pays and
//! sends happens once, and what one changes holds on the others at once.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::common::{TestApp, count};
use crate::email::smtp_server;
use crate::payments::total_paid;
use crate::tracking::{Shop, shop};

/// One `sales-tracking serve` process.
struct Server {
    _process: tokio::process::Child,
    base: String,
}

impl Server {
    async fn start(app: &TestApp, smtp_url: &str, spool: &std::path::Path) -> Self {
        let port = crate::common::free_port();
        let process = tokio::process::Command::new(env!("CARGO_BIN_EXE_sales-tracking"))
            .env("FX_RATES_URL", "none")
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .args(["--trusted-proxies", "127.0.0.1", "--smtp-url", smtp_url])
            .arg("--spool-dir")
            .arg(spool)
            .env("DATABASE_URL", app.db.url())
            // Every server must hash shoppers' addresses alike to recognise repeat clicks.
            .env("IP_HASH_SECRET", "one secret for every server")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let address = format!("127.0.0.1:{port}");
        crate::common::until_listening(&address).await;
        Server {
            _process: process,
            base: format!("http://{address}"),
        }
    }

    async fn graphql(&self, key: &str, query: &str, variables: Value) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/graphql", self.base))
            .bearer_auth(key)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn ok(&self, key: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.graphql(key, query, variables).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["errors"].is_null(), "{body}");
        body["data"].clone()
    }
}

async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < Duration::from_secs(20), "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const RECORD: &str = "mutation($id: String!, $code: String!) { recordConversion(input: { externalOrderId: $id, saleAmount: \"40.00\", promoCode: $code }) { conversion { attribution membership { id } } } }";
const SEND: &str = "mutation($i: SendPaymentInput!) { sendPayment(input: $i) { payment { id totalAmount } } }";

async fn due(server: &Server, key: &str) -> Decimal {
    let data = server.ok(key, "{ kpis { paymentsDue } }", json!({})).await;
    data["kpis"]["paymentsDue"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_on_one_database_store_pay_and_send_once() {
    let app = TestApp::new().await;
    let shop: Shop = shop(&app).await;
    let admin = shop.brand.admin.as_str();
    let (smtp_url, inbox) = smtp_server();
    let spool = tempfile::tempdir().unwrap();
    let mut servers = Vec::new();
    for n in 0..3 {
        let dir = spool.path().join(n.to_string());
        servers.push(Server::start(&app, &smtp_url, &dir).await);
    }
    let [a, b, c] = [&servers[0], &servers[1], &servers[2]];

    // Clicks: 60 shoppers, each clicking once through each server. Every click is
    // stored and counted once; each shopper's per-click commission is paid once.
    a.ok(
        admin,
        "mutation($id: ID!) { editPayout(input: { id: $id, payout: { type: FLAT_PER_CLICK, flatAmount: \"0.10\" } }) { offer { id } } }",
        json!({ "id": shop.link_offer }),
    )
    .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let clicks = (0..180).map(|n| {
        let server = &servers[n % 3];
        let request = client
            .get(format!("{}/r/{}", server.base, shop.link_code))
            .header("X-Forwarded-For", format!("10.0.0.{}", n / 3))
            .header("User-Agent", "Mozilla/5.0 (phone)");
        async move { request.send().await.unwrap().status().as_u16() }
    });
    assert!(join_all(clicks).await.iter().all(|status| *status == 302));
    let mut conn = app.db.connect().await;
    wait_for("180 clicks stored", async || {
        count(&mut conn, "SELECT count(*) AS n FROM clicks").await == 180
    })
    .await;
    let kpis = c
        .ok(
            admin,
            "{ kpis(dateRange: { preset: LAST_7_DAYS }) { clicks commissionsEarned } }",
            json!({}),
        )
        .await;
    assert_eq!(
        kpis["kpis"],
        json!({ "clicks": 180, "commissionsEarned": "6.00" }),
        "60 shoppers paid 0.10 once"
    );

    // Orders through all three, then Send Payments through all three: twelve with one
    // key and twelve with different keys; every due entry is paid once.
    a.ok(
        admin,
        "mutation($id: ID!) { updateOffer(input: { id: $id, holdPeriodDays: 0 }) { offer { id } } }",
        json!({ "id": shop.code_offer }),
    )
    .await;
    let orders = (0..30).map(|n| {
        servers[n % 3].ok(
            admin,
            RECORD,
            json!({ "id": format!("o-{n}"), "code": shop.promo_code }),
        )
    });
    join_all(orders).await;
    let owed = due(a, admin).await;
    assert!(owed > Decimal::ZERO);
    let same_key = json!({ "i": { "scope": "ALL_OFFERS", "idempotencyKey": "one" } });
    let answers = join_all((0..12).map(|n| servers[n % 3].graphql(admin, SEND, same_key.clone()))).await;
    let mut ids: Vec<&Value> = answers
        .iter()
        .map(|(_, body)| &body["data"]["sendPayment"]["payment"]["id"])
        .collect();
    ids.dedup();
    assert_eq!(
        ids.len(),
        1,
        "one payment for one key, whichever server answered: {answers:?}"
    );
    assert_eq!(
        answers[0].1["data"]["sendPayment"]["payment"]["totalAmount"],
        owed.to_string()
    );
    for n in 30..60 {
        servers[n % 3]
            .ok(
                admin,
                RECORD,
                json!({ "id": format!("o-{n}"), "code": shop.promo_code }),
            )
            .await;
    }
    let owed = due(b, admin).await;
    let answers = join_all((0..12).map(|n| {
        let input = json!({ "i": { "scope": "ALL_OFFERS", "idempotencyKey": format!("key-{n}") } });
        servers[n % 3].graphql(admin, SEND, input)
    }))
    .await;
    let paid = total_paid(answers.iter().map(|(_, body)| body));
    assert_eq!(paid, owed, "what was due is paid once");
    assert_eq!(due(c, admin).await, Decimal::ZERO);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM payment_items i
             WHERE i.amount <> (SELECT sum(e.amount) FROM ledger_entries e WHERE e.payment_item_id = i.id)"
        )
        .await,
        0
    );

    // Emails queued through one server are sent once, whichever sender claims them.
    let emailed = b
        .ok(
            admin,
            "mutation($ids: [ID!]!) { emailMembers(input: { membershipIds: $ids, template: { subject: \"Hi\", body: \"Hi {{memberName}}\" } }) { emails { id } } }",
            json!({ "ids": [shop.link_membership, shop.code_membership] }),
        )
        .await;
    assert_eq!(emailed["emailMembers"]["emails"].as_array().unwrap().len(), 2);
    wait_for("both emails sent", async || {
        count(
            &mut conn,
            "SELECT count(*) AS n FROM email_outbox WHERE status = 'SENT'",
        )
        .await
            == 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        inbox.lock().unwrap().len(),
        2,
        "each message reached the SMTP server once"
    );

    // A pause or a new promo code on one server holds on the next order at another.
    b.ok(
        admin,
        "mutation($id: ID!) { setOfferStatus(input: { id: $id, status: PAUSED }) { offer { status } } }",
        json!({ "id": shop.code_offer }),
    )
    .await;
    let paused = c
        .ok(admin, RECORD, json!({ "id": "after-pause", "code": shop.promo_code }))
        .await;
    assert_eq!(paused["recordConversion"]["conversion"]["membership"], json!(null));
    a.ok(
        admin,
        "mutation($id: ID!) { setOfferStatus(input: { id: $id, status: ACTIVE }) { offer { status } } }",
        json!({ "id": shop.code_offer }),
    )
    .await;
    let refreshed = a
        .ok(
            admin,
            "mutation($ids: [ID!]!) { refreshPromoCodes(input: { membershipIds: $ids }) { memberships { promoCode } } }",
            json!({ "ids": [shop.code_membership] }),
        )
        .await;
    let new_code = refreshed["refreshPromoCodes"]["memberships"][0]["promoCode"].clone();
    let old = b
        .ok(admin, RECORD, json!({ "id": "old-code", "code": shop.promo_code }))
        .await;
    assert_eq!(old["recordConversion"]["conversion"]["membership"], json!(null));
    let new = c.ok(admin, RECORD, json!({ "id": "new-code", "code": new_code })).await;
    assert_eq!(
        new["recordConversion"]["conversion"]["membership"]["id"],
        shop.code_membership
    );

    // A link offer paused through one server stops counting clicks on the others at
    // once: whether a click counts is decided when it is stored, not from the link cache.
    a.ok(
        admin,
        "mutation($id: ID!) { setOfferStatus(input: { id: $id, status: PAUSED }) { offer { status } } }",
        json!({ "id": shop.link_offer }),
    )
    .await;
    for server in [b, c] {
        let status = client
            .get(format!("{}/r/{}", server.base, shop.link_code))
            .header("X-Forwarded-For", "10.0.1.1")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 302, "a paused offer's link still redirects");
    }
    // Given time to be written, had they counted.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM clicks").await, 180);
    let kpis = b
        .ok(
            admin,
            "{ kpis(dateRange: { preset: LAST_7_DAYS }, filter: { statuses: [ACTIVE, PAUSED] }) { clicks } }",
            json!({}),
        )
        .await;
    assert_eq!(
        kpis["kpis"]["clicks"], 180,
        "clicks on the paused offer are not counted"
    );

    // A key revoked through one server is refused by every server at once.
    let created = a
        .ok(
            admin,
            "mutation { createApiKey(input: { label: \"temporary\", role: ANALYST }) { secret apiKey { id } } }",
            json!({}),
        )
        .await;
    let secret = created["createApiKey"]["secret"].as_str().unwrap();
    for server in &servers {
        assert_eq!(server.graphql(secret, "{ viewer { role } }", json!({})).await.0, 200);
    }
    c.ok(
        admin,
        "mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { revokedAt } } }",
        json!({ "id": created["createApiKey"]["apiKey"]["id"] }),
    )
    .await;
    for server in &servers {
        assert_eq!(server.graphql(secret, "{ viewer { role } }", json!({})).await.0, 401);
    }
}
