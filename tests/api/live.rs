//! Live KPIs over WebSocket (`graphql-transport-ws`), against server processes
//! on one database: a change on one server reaches a subscription on another.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::TestApp;
use crate::hardening::ServerProcess;
use crate::tracking::{SECRET, shop, shopify_order, sign};

type Server = ServerProcess;

/// What these tests ask of a server process.
trait LiveServer {
    async fn graphql(&self, key: &str, query: &str, variables: Value) -> Value;
    async fn shopify(&self, slug: &str, topic: &str, body: &str, delivery: &str);
    fn resident_bytes(&self) -> u64;
}

impl LiveServer for ServerProcess {
    async fn graphql(&self, key: &str, query: &str, variables: Value) -> Value {
        let response = reqwest::Client::new()
            .post(format!("{}/graphql", self.base))
            .bearer_auth(key)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        assert!(body["errors"].is_null(), "{body}");
        body["data"].clone()
    }

    /// A signed Shopify webhook to this server.
    async fn shopify(&self, slug: &str, topic: &str, body: &str, delivery: &str) {
        let response = reqwest::Client::new()
            .post(format!("{}/webhooks/{slug}/orders/shopify", self.base))
            .header("Content-Type", "application/json")
            .header("X-Shopify-Topic", topic)
            .header("X-Shopify-Webhook-Id", delivery)
            .header("X-Shopify-Hmac-Sha256", sign(body, SECRET))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }

    /// Resident memory of the process, in bytes.
    fn resident_bytes(&self) -> u64 {
        let pid = self.process.id().unwrap();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kb * 1024
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A `graphql-transport-ws` client, as the graphql-ws library speaks it.
struct LiveClient {
    socket: Socket,
}

/// What the server sent: a protocol message, or the close code and reason.
#[derive(Debug)]
enum Received {
    Message(Value),
    Closed(u16, String),
}

impl LiveClient {
    async fn open(server: &Server) -> Self {
        let url = format!("{}/graphql", server.base.replace("http://", "ws://"));
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
        let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
        assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-transport-ws");
        LiveClient { socket }
    }

    /// Opened and acknowledged with `key`.
    async fn connect(server: &Server, key: &str) -> Self {
        let mut client = Self::open(server).await;
        client
            .send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {key}") } }))
            .await;
        match client.receive(Duration::from_secs(5)).await {
            Some(Received::Message(m)) if m["type"] == "connection_ack" => client,
            other => panic!("no connection_ack: {other:?}"),
        }
    }

    async fn send(&mut self, message: Value) {
        self.socket.send(Message::text(message.to_string())).await.unwrap();
    }

    async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }))
            .await;
    }

    /// The next message or close within `within` (pings answered on the way).
    async fn receive(&mut self, within: Duration) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next()).await.ok()?;
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(&text).unwrap();
                    if message["type"] == "ping" {
                        self.send(json!({ "type": "pong" })).await;
                        continue;
                    }
                    return Some(Received::Message(message));
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) =
                        frame.map_or((1005, String::new()), |f| (u16::from(f.code), f.reason.to_string()));
                    return Some(Received::Closed(code, reason));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Some(Received::Closed(1006, String::new())),
            }
        }
    }

    /// The error subscription `id` was refused with; it is then complete.
    async fn refusal_of(&mut self, id: &str) -> Value {
        let refused = self.next_of(id, Duration::from_secs(5)).await;
        assert!(refused["data"].is_null(), "{refused}");
        match self.receive(Duration::from_secs(5)).await {
            Some(Received::Message(m)) if m["type"] == "complete" && m["id"] == id => {}
            other => panic!("expected {id} complete: {other:?}"),
        }
        refused["errors"][0].clone()
    }

    /// The next `next` payload of subscription `id`.
    async fn next_of(&mut self, id: &str, within: Duration) -> Value {
        match self.receive(within).await {
            Some(Received::Message(m)) if m["type"] == "next" && m["id"] == id => m["payload"].clone(),
            other => panic!("expected a push for {id} within {within:?}, got {other:?}"),
        }
    }
}

const KPIS_CHANGED: &str = "subscription($r: DateRangeInput, $o: ID) {
    kpisChanged(dateRange: $r, offerId: $o) { conversions clicks totalSales commissionsEarned payouts } }";

fn last_week() -> Value {
    json!({ "preset": "LAST_7_DAYS" })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kpis_reach_a_subscription_on_another_server_within_two_seconds() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let admin = shop.brand.admin.as_str();
    let (a, b) = (Server::start(&app, &[]).await, Server::start(&app, &[]).await);
    let mut home = LiveClient::connect(&a, admin).await;
    home.subscribe("home", KPIS_CHANGED, json!({ "r": last_week() })).await;
    let first = home.next_of("home", Duration::from_secs(5)).await;
    assert_eq!(
        first["data"]["kpisChanged"],
        json!({ "conversions": 0, "clicks": 0, "totalSales": "0.00", "commissionsEarned": "0.00", "payouts": "0.00" })
    );
    let mut offer_page = LiveClient::connect(&a, admin).await;
    offer_page
        .subscribe("offer", KPIS_CHANGED, json!({ "r": last_week(), "o": shop.code_offer }))
        .await;
    offer_page.next_of("offer", Duration::from_secs(5)).await;

    // An order through server B's webhook: server A pushes it to both pages.
    let sent = Instant::now();
    let order = shopify_order(9001, "100.00", &[&shop.promo_code], "/");
    b.shopify(&shop.brand.slug, "orders/create", &order, "d-1").await;
    let pushed = home.next_of("home", Duration::from_secs(2)).await;
    let latency = sent.elapsed();
    assert!(latency < Duration::from_secs(2), "{latency:?}");
    assert_eq!(pushed["data"]["kpisChanged"]["conversions"], 1);
    assert_eq!(pushed["data"]["kpisChanged"]["totalSales"], "100.00");
    assert_eq!(pushed["data"]["kpisChanged"]["commissionsEarned"], "15.00");
    let on_offer = offer_page.next_of("offer", Duration::from_secs(2)).await;
    assert_eq!(on_offer["data"]["kpisChanged"]["totalSales"], "100.00");

    // A refund through B.
    let refund = json!({ "id": 1, "order_id": 9001, "transactions": [{ "kind": "refund", "amount": "40.00" }] });
    b.shopify(&shop.brand.slug, "refunds/create", &refund.to_string(), "d-2")
        .await;
    let pushed = home.next_of("home", Duration::from_secs(2)).await;
    assert_eq!(pushed["data"]["kpisChanged"]["totalSales"], "60.00");

    // A click batch, through B's redirect.
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/r/{}", b.base, shop.link_code))
        .header("User-Agent", "Mozilla/5.0 (phone)")
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 302);
    let pushed = home.next_of("home", Duration::from_secs(2)).await;
    assert_eq!(pushed["data"]["kpisChanged"]["clicks"], 1);

    // A payment, sent on B: Payouts moves.
    b.graphql(
        admin,
        "mutation($id: ID!) { updateOffer(input: { id: $id, holdPeriodDays: 0 }) { offer { id } } }",
        json!({ "id": shop.code_offer }),
    )
    .await;
    // The edit itself changes no figure: nothing is pushed for it.
    let order = shopify_order(9002, "20.00", &[&shop.promo_code], "/");
    b.shopify(&shop.brand.slug, "orders/create", &order, "d-3").await;
    let pushed = home.next_of("home", Duration::from_secs(2)).await;
    assert_eq!(pushed["data"]["kpisChanged"]["conversions"], 2);
    let paid = b
        .graphql(
            admin,
            "mutation { sendPayment(input: { scope: ALL_OFFERS, idempotencyKey: \"live\" }) { payment { totalAmount } } }",
            json!({}),
        )
        .await;
    let pushed = home.next_of("home", Duration::from_secs(2)).await;
    assert_eq!(
        pushed["data"]["kpisChanged"]["payouts"],
        paid["sendPayment"]["payment"]["totalAmount"]
    );

    // Another brand's changes push nothing here.
    let other = app.brand("Other Co").await;
    let mut theirs = LiveClient::connect(&b, &other.admin).await;
    theirs.subscribe("theirs", KPIS_CHANGED, json!({})).await;
    theirs.next_of("theirs", Duration::from_secs(5)).await;
    let order = shopify_order(9003, "10.00", &[&shop.promo_code], "/");
    a.shopify(&shop.brand.slug, "orders/create", &order, "d-4").await;
    home.next_of("home", Duration::from_secs(2)).await;
    assert!(
        theirs.receive(Duration::from_millis(1500)).await.is_none(),
        "another brand's order is not pushed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_scoped_checked_and_limited_like_queries() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let other = app.brand("Other Co").await;
    let server = Server::start(&app, &[]).await;

    // Another brand's offer is not there for this key.
    let mut client = LiveClient::connect(&server, &other.admin).await;
    client
        .subscribe("1", KPIS_CHANGED, json!({ "o": shop.code_offer }))
        .await;
    let refused = client.refusal_of("1").await;
    assert_eq!(refused["extensions"]["code"], "NOT_FOUND", "{refused}");

    // Queries and mutations are sent with POST, under their deadlines.
    client.subscribe("2", "{ kpis { clicks } }", json!({})).await;
    let refused = client.refusal_of("2").await;
    assert_eq!(refused["extensions"]["code"], "BAD_REQUEST", "{refused}");
    client
        .subscribe(
            "3",
            "mutation { createProject(input: { name: \"x\" }) { project { id } } }",
            json!({}),
        )
        .await;
    let refused = client.refusal_of("3").await;
    assert_eq!(refused["extensions"]["code"], "BAD_REQUEST", "{refused}");

    // The cost limits hold: 151 aliases are over the 150 allowed.
    let aliases: String = (0..151).map(|n| format!("k{n}: clicks ")).collect();
    client
        .subscribe(
            "4",
            &format!("subscription {{ kpisChanged {{ {aliases} }} }}"),
            json!({}),
        )
        .await;
    let refused = client.refusal_of("4").await;
    assert_eq!(refused["extensions"]["limit"], "MAX_ALIASES", "{refused}");

    // A filter and an offer at once is a question with no answer.
    client
        .subscribe(
            "5",
            "subscription($o: ID) { kpisChanged(offerId: $o, filter: { statuses: [ACTIVE] }) { clicks } }",
            json!({ "o": shop.code_offer }),
        )
        .await;
    let refused = client.refusal_of("5").await;
    assert_eq!(refused["extensions"]["code"], "BAD_USER_INPUT", "{refused}");

    // No key, or a wrong one: the connection is refused at connection_init.
    for payload in [json!({}), json!({ "authorization": "Bearer st_wrong" })] {
        let mut anonymous = LiveClient::open(&server).await;
        anonymous
            .send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        match anonymous.receive(Duration::from_secs(5)).await {
            Some(Received::Closed(_, reason)) => assert!(reason.contains("API key"), "{reason}"),
            other => panic!("expected the connection closed: {other:?}"),
        }
    }
    // Subscribing before the handshake is refused too.
    let mut early = LiveClient::open(&server).await;
    early.subscribe("1", KPIS_CHANGED, json!({})).await;
    assert!(matches!(
        early.receive(Duration::from_secs(5)).await,
        Some(Received::Closed(..))
    ));

    // A revoked key stops its subscriptions at the next change.
    let created = server
        .graphql(
            &shop.brand.admin,
            "mutation { createApiKey(input: { label: \"wall screen\", role: ANALYST }) { apiKey { id } secret } }",
            json!({}),
        )
        .await;
    let secret = created["createApiKey"]["secret"].as_str().unwrap();
    let mut screen = LiveClient::connect(&server, secret).await;
    screen.subscribe("s", KPIS_CHANGED, json!({})).await;
    screen.next_of("s", Duration::from_secs(5)).await;
    server
        .graphql(
            &shop.brand.admin,
            "mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } } }",
            json!({ "id": created["createApiKey"]["apiKey"]["id"] }),
        )
        .await;
    let order = shopify_order(7001, "10.00", &[&shop.promo_code], "/");
    server.shopify(&shop.brand.slug, "orders/create", &order, "d-1").await;
    let stopped = screen.next_of("s", Duration::from_secs(3)).await;
    assert_eq!(
        stopped["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{stopped}"
    );
    match screen.receive(Duration::from_secs(3)).await {
        Some(Received::Message(m)) => assert_eq!(m["type"], "complete", "{m}"),
        other => panic!("expected the subscription completed: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_initialises_is_closed_with_4408() {
    let app = TestApp::new().await;
    let server = Server::start(&app, &[]).await;
    let mut silent = LiveClient::open(&server).await;
    match silent.receive(Duration::from_secs(15)).await {
        Some(Received::Closed(code, _)) => assert_eq!(code, 4408),
        other => panic!("expected 4408: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_are_charged_to_the_keys_budget() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    // 100 points at once, 40 more a second.
    let server = Server::start(
        &app,
        &["--rate-limit-points-per-second", "40", "--rate-limit-burst", "100"],
    )
    .await;
    let mut client = LiveClient::connect(&server, &shop.brand.admin).await;
    // 2,001 days of figures, to today: 1 + 1 + 2,001 / 31 = 67 points, at subscribing and at each push.
    let today = chrono::Utc::now().date_naive();
    let years = json!({ "start": (today - chrono::Days::new(2_000)).to_string(), "end": today.to_string() });
    client
        .subscribe(
            "1",
            "subscription($r: DateRangeInput) { kpisChanged(dateRange: $r) { conversions } }",
            json!({ "r": years }),
        )
        .await;
    let first = client.next_of("1", Duration::from_secs(5)).await;
    assert!(first["errors"].is_null(), "{first}");
    // A second subscription like it is over what is left: refused as a query would be.
    client
        .subscribe(
            "2",
            "subscription($r: DateRangeInput) { kpisChanged(dateRange: $r) { conversions } }",
            json!({ "r": years }),
        )
        .await;
    let refused = client.refusal_of("2").await;
    assert_eq!(refused["extensions"]["code"], "THROTTLED", "{refused}");
    // Pushes wait for the budget: three take seconds, where unpaced they would
    // take half a second each.
    let started = Instant::now();
    for n in 0..3 {
        let order = shopify_order(8000 + n, "10.00", &[&shop.promo_code], "/");
        server
            .shopify(&shop.brand.slug, "orders/create", &order, &format!("d-{n}"))
            .await;
        let pushed = client.next_of("1", Duration::from_secs(30)).await;
        assert!(pushed["errors"].is_null(), "{pushed}");
    }
    assert!(started.elapsed() > Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_subscriptions_cost_little_memory_and_all_hear_a_change() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let server = Server::start(&app, &[]).await;
    // Warm the server: one connection and subscription, so what follows measures
    // what more of them cost, not the first one's one-off allocations.
    let mut warm = LiveClient::connect(&server, &shop.brand.admin).await;
    warm.subscribe("w", KPIS_CHANGED, json!({})).await;
    warm.next_of("w", Duration::from_secs(5)).await;
    let before = server.resident_bytes();

    const CONNECTIONS: usize = 20;
    const PER_CONNECTION: usize = 50;
    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        let mut client = LiveClient::connect(&server, &shop.brand.admin).await;
        for n in 0..PER_CONNECTION {
            client.subscribe(&n.to_string(), KPIS_CHANGED, json!({})).await;
        }
        for _ in 0..PER_CONNECTION {
            match client.receive(Duration::from_secs(20)).await {
                Some(Received::Message(m)) if m["type"] == "next" => {}
                other => panic!("expected a first push: {other:?}"),
            }
        }
        clients.push(client);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let grown = server.resident_bytes().saturating_sub(before);
    let per_subscription = grown / (CONNECTIONS * PER_CONNECTION) as u64;
    println!(
        "1,000 idle subscriptions: +{} KB resident, {per_subscription} bytes each",
        grown / 1024
    );
    assert!(
        grown < 32 * 1024 * 1024,
        "1,000 idle subscriptions grew the server by {} MB",
        grown / (1024 * 1024)
    );

    // One order reaches every one of them.
    let order = shopify_order(6001, "10.00", &[&shop.promo_code], "/");
    server.shopify(&shop.brand.slug, "orders/create", &order, "d-1").await;
    for client in &mut clients {
        for _ in 0..PER_CONNECTION {
            match client.receive(Duration::from_secs(20)).await {
                Some(Received::Message(m)) if m["type"] == "next" => {
                    assert_eq!(m["payload"]["data"]["kpisChanged"]["conversions"], 1)
                }
                other => panic!("expected the order pushed: {other:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_behind_pgbouncer_hear_each_other_through_a_direct_listen() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let bouncer = crate::pgbouncer::PgBouncer::start(&app.db.server);
    crate::common::until_listening(&format!("127.0.0.1:{}", bouncer.port)).await;
    let (pooled, direct) = (bouncer.url(&app.db.name), app.db.url());
    // Queries and NOTIFY go through PgBouncer in transaction mode; LISTEN needs
    // PostgreSQL itself.
    let args = [
        "--database-url",
        &pooled,
        "--transaction-pooler",
        "--direct-database-url",
        &direct,
    ];
    let (a, b) = (Server::start(&app, &args).await, Server::start(&app, &args).await);
    let mut client = LiveClient::connect(&a, &shop.brand.admin).await;
    client.subscribe("1", KPIS_CHANGED, json!({})).await;
    client.next_of("1", Duration::from_secs(5)).await;
    let order = shopify_order(5001, "30.00", &[&shop.promo_code], "/");
    b.shopify(&shop.brand.slug, "orders/create", &order, "d-1").await;
    let pushed = client.next_of("1", Duration::from_secs(2)).await;
    assert_eq!(pushed["data"]["kpisChanged"]["totalSales"], "30.00");
}
