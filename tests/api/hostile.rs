//! Attacks on the public API, each at a size that is safe on a small machine,
//! and the refusal each must get. Their full-size figures are in bench/RESULTS.md.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::common::TestApp;

const INTROSPECTION: &str = include_str!("fixtures/introspection.graphql");
const INTROSPECTION_ALL_OPTIONS: &str = include_str!("fixtures/introspection-all-options.graphql");

/// An app whose per-key budget is `burst` points, refilled at `points_per_second`.
async fn app_with_budget(points_per_second: u64, burst: u64) -> TestApp {
    TestApp::with_config(sales_tracking::AppConfig {
        limits: sales_tracking::Limits {
            rate_limit_points_per_second: points_per_second,
            rate_limit_burst: burst,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
}

fn first_error(body: &Value) -> (&str, &str) {
    let error = &body["errors"][0];
    (
        error["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code: {body}")),
        error["extensions"]["limit"].as_str().unwrap_or(""),
    )
}

/// `depth` fragments, each spreading the next one twice: 2^depth fields once expanded.
fn fragment_chain(depth: usize) -> String {
    let mut query = String::from("query { ...F0 }\n");
    for level in 0..depth {
        query.push_str(&format!(
            "fragment F{level} on Query {{ ...F{} ...F{} }}\n",
            level + 1,
            level + 1
        ));
    }
    query.push_str(&format!("fragment F{depth} on Query {{ __typename }}\n"));
    query
}

#[tokio::test]
async fn a_fragment_chain_is_refused_without_being_expanded() {
    let app = TestApp::new().await;
    // 2^30 fields once expanded (the parser's recursion limit is 32): without
    // memoized counting, validation expands them all.
    let query = fragment_chain(30);
    assert!(query.len() < 2_000);
    let started = Instant::now();
    let (status, body) = app.graphql(None, &query, json!({})).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first_error(&body), ("BAD_USER_INPUT", "MAX_SELECTIONS"), "{body}");
    assert!(
        body["errors"][0]["message"].as_str().unwrap().contains("1073741824"),
        "{body}"
    );
    // A short chain is fine and answers.
    let (_, body) = app.graphql(None, &fragment_chain(3), json!({})).await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
}

#[tokio::test]
async fn fragment_cycles_are_refused() {
    let app = TestApp::new().await;
    let query = "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
    let (_, body) = app.graphql(None, query, json!({})).await;
    assert_eq!(first_error(&body).0, "BAD_USER_INPUT", "{body}");
}

#[tokio::test]
async fn the_standard_introspection_query_passes_with_and_without_a_key() {
    let app = TestApp::new().await;
    let brand = app.brand("Acme").await;
    for query in [INTROSPECTION, INTROSPECTION_ALL_OPTIONS] {
        for key in [None, Some(brand.analyst.as_str())] {
            let (status, body) = app.graphql(key, query, json!({})).await;
            assert_eq!(status, StatusCode::OK);
            assert!(body.get("errors").is_none(), "{body}");
            let types = body["data"]["__schema"]["types"].as_array().unwrap();
            let query_type = types.iter().find(|t| t["name"] == "Query").unwrap();
            assert!(
                query_type["fields"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["name"] == "kpis")
            );
            assert!(
                body["extensions"]["cost"]["requestedQueryCost"].as_u64().unwrap() > 0,
                "{body}"
            );
        }
    }
}

#[tokio::test]
async fn nested_introspection_lists_are_refused() {
    let app = TestApp::new().await;
    let query = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }";
    let (_, body) = app.graphql(None, query, json!({})).await;
    assert_eq!(
        first_error(&body),
        ("BAD_USER_INPUT", "MAX_INTROSPECTION_DEPTH"),
        "{body}"
    );
}

#[tokio::test]
async fn introspection_can_be_turned_off() {
    let app = TestApp::with_config(sales_tracking::AppConfig {
        introspection: false,
        ..Default::default()
    })
    .await;
    let (_, body) = app.graphql(None, INTROSPECTION, json!({})).await;
    assert!(body["data"]["__schema"].is_null(), "{body}");
    let (_, body) = app
        .graphql(None, "{ __type(name: \"Query\") { name } }", json!({}))
        .await;
    assert!(body["data"]["__type"].is_null(), "{body}");
}

#[tokio::test]
async fn thousands_of_aliases_are_refused_before_running() {
    let app = TestApp::new().await;
    let brand = app.brand("Acme").await;
    let kpis: String = (0..5_000)
        .map(|n| {
            format!(
                "k{n}: kpis(dateRange: {{start: \"2026-01-01\", end: \"2026-01-{:02}\"}}) {{ clicks }} ",
                n % 28 + 1
            )
        })
        .collect();
    let body = json!({ "query": format!("{{ {kpis} }}") }).to_string();
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, body.len())
        .header(header::AUTHORIZATION, format!("Bearer {}", brand.analyst))
        .body(Body::from(body))
        .unwrap();
    // 5,000 aliases are over the body limit already; the alias cap refuses fewer.
    assert_eq!(app.respond(request).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let kpis: String = (0..300).map(|n| format!("k{n}: kpis {{ clicks }} ")).collect();
    let (_, body) = app
        .graphql(Some(&brand.analyst), &format!("{{ {kpis} }}"), json!({}))
        .await;
    assert_eq!(first_error(&body), ("BAD_USER_INPUT", "MAX_ALIASES"), "{body}");
    assert!(body["data"].is_null(), "{body}");
}

#[tokio::test]
async fn expensive_fields_cost_what_they_read() {
    let app = TestApp::new().await;
    let brand = app.brand("Acme").await;
    // 100 daily series over ten years: 366k points.
    let series: String = (0..100)
        .map(|n| {
            format!("s{n}: kpiSeries(dateRange: {{preset: ALL_TIME}}, interval: DAY) {{ start kpis {{ clicks }} }} ")
        })
        .collect();
    let (_, body) = app
        .graphql(Some(&brand.analyst), &format!("{{ {series} }}"), json!({}))
        .await;
    assert_eq!(first_error(&body), ("BAD_USER_INPUT", "MAX_COST_EXCEEDED"), "{body}");
    assert!(
        body["extensions"]["cost"]["requestedQueryCost"].as_u64().unwrap() > 500_000,
        "{body}"
    );
    // Nested connections multiply: 100 × 100 × 100 clicks.
    let nested = "{ offers(first: 100) { nodes { memberships(first: 100) { nodes { clicks(first: 100) { nodes { id } } } } } } }";
    let (_, body) = app.graphql(Some(&brand.analyst), nested, json!({})).await;
    assert_eq!(first_error(&body), ("BAD_USER_INPUT", "MAX_COST_EXCEEDED"), "{body}");
    // Variables count like literals.
    let by_variable = "query($n: Int) { offers(first: $n) { nodes { memberships(first: $n) { nodes { clicks(first: $n) { nodes { id } } } } } } }";
    let (_, body) = app
        .graphql(Some(&brand.analyst), by_variable, json!({ "n": 100 }))
        .await;
    assert_eq!(first_error(&body).1, "MAX_COST_EXCEEDED", "{body}");
    let (_, body) = app.graphql(Some(&brand.analyst), by_variable, json!({ "n": 5 })).await;
    assert!(body.get("errors").is_none(), "{body}");
}

#[tokio::test]
async fn every_response_reports_its_cost() {
    let app = TestApp::new().await;
    let brand = app.brand("Acme").await;
    let query = "{ kpis { clicks } offers(first: 50) { nodes { name kpis { clicks } } } }";
    let (_, body) = app.graphql(Some(&brand.admin), query, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    let cost = &body["extensions"]["cost"];
    let requested = cost["requestedQueryCost"].as_u64().unwrap();
    let actual = cost["actualQueryCost"].as_u64().unwrap();
    // 50 offers requested, none exist: the page cost nothing.
    assert!(requested > 50 && actual < requested, "{cost}");
    let status = &cost["throttleStatus"];
    assert_eq!(status["maximumAvailable"], sales_tracking::rate_limit::DEFAULT_BURST);
    assert_eq!(
        status["restoreRate"],
        sales_tracking::rate_limit::DEFAULT_POINTS_PER_SECOND
    );
    // What was not used is given back.
    assert!(status["currentlyAvailable"].as_u64().unwrap() >= sales_tracking::rate_limit::DEFAULT_BURST - actual - 5);
}

#[tokio::test]
async fn over_budget_is_throttled_with_a_retry_time() {
    let app = app_with_budget(1, 20).await;
    let brand = app.brand("Acme").await;
    // Fifteen objects: 15 points, all of them used.
    let series: String = (0..15).map(|n| format!("v{n}: viewer {{ role }} ")).collect();
    let series = format!("{{ {series} }}");
    let series = series.as_str();
    let (_, body) = app.graphql(Some(&brand.analyst), series, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {}", brand.analyst))
        .body(Body::from(json!({ "query": series }).to_string()))
        .unwrap();
    let response = app.respond(request).await;
    let retry_after: u64 = response.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body: Value = serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(first_error(&body).0, "THROTTLED", "{body}");
    assert!(
        retry_after >= 1 && body["errors"][0]["extensions"]["retryAfter"] == retry_after,
        "{body}"
    );
    let (_, metrics) = app.get("/metrics").await;
    assert!(metrics.contains("sales_tracking_throttled_total 1"), "{metrics}");
    // Another key of the same brand has its own budget; callers without a key share their IP's.
    let (_, body) = app.graphql(Some(&brand.admin), series, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
}

#[tokio::test]
async fn the_dashboard_loads_ten_times_a_second_on_the_default_budget() {
    let app = TestApp::new().await;
    let brand = app.brand("Acme").await;
    // The home page's requests, as playground/dashboard/app.js sends them.
    let home = [
        "query($f: OfferFilter, $r: DateRangeInput, $i: SeriesInterval!) { projects { id name } kpis(filter: $f, dateRange: $r) { members membersWithConversions conversions clicks totalSales salesPerMember commissionsEarned averageCommissionPerMember paymentsDue membersWithPaymentsDue dateRange { start end } } kpiSeries(filter: $f, dateRange: $r, interval: $i) { start kpis { commissionsEarned totalSales conversions clicks } } }",
        "query($t: KpiTable!) { tableColumns(table: $t) }",
        "query($f: OfferFilter, $r: DateRangeInput, $n: Int) { offers(first: $n, filter: $f, dateRange: $r) { totalCount pageInfo { hasNextPage endCursor } nodes { id name type status createdAt kpis { members membersWithConversions conversions clicks totalSales salesPerMember commissionsEarned averageCommissionPerMember paymentsDue membersWithPaymentsDue } } } }",
    ];
    // The default view (6 months by day) and a long one (12 months by week).
    for (preset, interval) in [("LAST_6_MONTHS", "DAY"), ("LAST_12_MONTHS", "WEEK")] {
        let variables = json!({ "r": { "preset": preset }, "i": interval, "t": "OFFERS", "n": 20 });
        let mut page_cost = 0;
        for query in home {
            let (_, body) = app.graphql(Some(&brand.analyst), query, variables.clone()).await;
            assert!(body.get("errors").is_none(), "{body}");
            page_cost += body["extensions"]["cost"]["requestedQueryCost"].as_u64().unwrap();
        }
        eprintln!("the home page over {preset} by {interval} costs {page_cost} points");
        assert!(
            page_cost * 10 <= sales_tracking::rate_limit::DEFAULT_POINTS_PER_SECOND,
            "a home page costs {page_cost}"
        );
    }
}

#[tokio::test]
async fn mutations_over_get_are_refused() {
    let app = TestApp::new().await;
    let brand = app.brand("Acme").await;
    let uri = "/graphql?query=mutation%20%7B%20setWebhookSecret(input%3A%20%7B%20secret%3A%20%22x%22%20%7D)%20%7B%20__typename%20%7D%20%7D";
    let request = Request::get(uri)
        .header(header::AUTHORIZATION, format!("Bearer {}", brand.admin))
        .body(Body::empty())
        .unwrap();
    let response = app.respond(request).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()[header::ALLOW], "POST");
    assert_eq!(app.rows("audit_events").await, 0);
    let (status, body) = app.get("/graphql?query=%7B__typename%7D").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn huge_bodies_are_refused_before_they_are_read() {
    let app = TestApp::new().await;
    let brand = app.brand("Acme").await;
    // Announced as 1 GB: refused on the header alone.
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, "1000000000")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(app.respond(request).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Streamed without a length: cut off at the limit.
    let chunks = futures_util::stream::iter((0..64).map(|_| Ok::<_, std::io::Error>(vec![b' '; 64 * 1024])));
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(chunks))
        .unwrap();
    let status = app.respond(request).await.status();
    assert!(
        status == StatusCode::PAYLOAD_TOO_LARGE || status == StatusCode::BAD_REQUEST,
        "{status}"
    );
    let request = Request::post(format!("/webhooks/{}/orders/shop", brand.slug))
        .header(header::CONTENT_LENGTH, "50000000")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(app.respond(request).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // A query text over the byte limit is refused before it is parsed.
    let long = format!("{{ __typename {} }}", "__typename ".repeat(4_000));
    let (_, body) = app.graphql(None, &long, json!({})).await;
    assert_eq!(first_error(&body), ("BAD_USER_INPUT", "MAX_QUERY_BYTES"), "{body}");
}

#[tokio::test]
async fn dashboard_pages_carry_security_headers() {
    let app = TestApp::new().await;
    let response = app.respond(Request::get("/").body(Body::empty()).unwrap()).await;
    let headers = response.headers();
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    // Every answer says nosniff, JSON included.
    let response = app.respond(Request::get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!(response.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
}

#[tokio::test]
async fn responses_are_compressed_when_asked() {
    let app = TestApp::new().await;
    for uri in ["/graphiql/vendor/graphiql.min.js", "/assets/app.js"] {
        let request = Request::get(uri)
            .header(header::ACCEPT_ENCODING, "br, gzip")
            .body(Body::empty())
            .unwrap();
        let response = app.respond(request).await;
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "br", "{uri}");
    }
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::from(json!({ "query": INTROSPECTION }).to_string()))
        .unwrap();
    let response = app.respond(request).await;
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    // A streamed export compresses to its end.
    let brand = app.brand("Acme").await;
    let request = Request::get("/export/offers.csv")
        .header(header::AUTHORIZATION, format!("Bearer {}", brand.admin))
        .header(header::ACCEPT_ENCODING, "gzip")
        .body(Body::empty())
        .unwrap();
    let response = app.respond(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    let compressed = response
        .into_body()
        .collect()
        .await
        .expect("the whole body arrives")
        .to_bytes();
    assert_eq!(&compressed[..2], &[0x1f, 0x8b], "a gzip stream");
}

#[tokio::test]
async fn one_brands_bad_payout_never_costs_another_brand_its_clicks() {
    let spool = tempfile::tempdir().unwrap();
    let app = TestApp::with_config(sales_tracking::AppConfig {
        spool_dir: Some(spool.path().to_path_buf()),
        ..Default::default()
    })
    .await;
    let victim = crate::tracking::shop(&app).await;
    let attacker = app.brand("Greedy").await;
    let offer = app
        .ok(
            &attacker.admin,
            "mutation { createOffer(input: { name: \"Clicks\", type: SALES_LINK, destinationUrl: \"https://greedy.example\", payout: { type: FLAT_PER_CLICK, flatAmount: \"1.00\" } }) { offer { id } } }",
            json!({}),
        )
        .await["createOffer"]["offer"]["id"]
        .clone();
    // The API refuses a payout the columns cannot sum…
    let code = app
        .error_code(
            Some(&attacker.admin),
            "mutation($o: ID!) { editPayout(input: { id: $o, payout: { type: FLAT_PER_CLICK, flatAmount: \"999999999999.99\" } }) { offer { id } } }",
            json!({ "o": offer }),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
    let member = app
        .ok(
            &attacker.admin,
            "mutation { createMember(input: { name: \"Gus\", email: \"gus@example.com\" }) { member { id } } }",
            json!({}),
        )
        .await["createMember"]["member"]["id"]
        .clone();
    let link = app
        .ok(
            &attacker.admin,
            "mutation($o: ID!, $m: [ID!]!) { addMembers(input: { offerId: $o, memberIds: $m }) { memberships { linkCode } } }",
            json!({ "o": offer, "m": [member] }),
        )
        .await["addMembers"]["memberships"][0]["linkCode"]
        .as_str()
        .unwrap()
        .to_string();
    // …so it is planted the way an old row or a bug would leave it.
    let mut conn = app.db.connect().await;
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query(format!(
            "UPDATE offers SET payout_flat = 999999999999.99 WHERE brand_id = {}",
            attacker.id.0
        )),
        &mut conn,
    )
    .await
    .unwrap();
    // Codes cached first, then both brands' redirects at once, so they share one click batch.
    for code in [&link, &victim.link_code] {
        assert_eq!(
            crate::tracking::click(&app, code, "Mozilla/5.0").await.0,
            StatusCode::FOUND
        );
    }
    let redirects = (0..200).map(|n| {
        let code = if n % 4 == 0 {
            link.clone()
        } else {
            victim.link_code.clone()
        };
        let app = &app;
        async move { crate::tracking::click(app, &code, "Mozilla/5.0").await.0 }
    });
    let statuses = futures_util::future::join_all(redirects).await;
    assert!(statuses.iter().all(|s| *s == StatusCode::FOUND));
    // Redirects answer within their deadline; the writer may still be retrying the parts.
    let count_sql = format!(
        "SELECT count(*) AS n FROM clicks WHERE brand_id = {}",
        victim.brand.id.0
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while crate::common::count(&mut conn, &count_sql).await < 151 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stored = crate::common::count(&mut conn, &count_sql).await;
    assert_eq!(stored, 151, "every click of the other brand is stored");
    // A burst at the journal's rate is counted moments after its redirects answer.
    let counted =
        async || app.ok(&victim.brand.analyst, "{ kpis { clicks } }", json!({})).await["kpis"]["clicks"].clone();
    while counted().await != 151 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(counted().await, 151, "and counted");
}

#[tokio::test]
async fn bad_order_input_is_a_clear_4xx_and_stores_nothing() {
    let app = TestApp::new().await;
    let shop = crate::tracking::shop(&app).await;
    let now = chrono::Utc::now().to_rfc3339();
    let order = |id: Value, amount: Value, at: &str| {
        json!({ "event": "order.created", "order_id": id, "amount": amount, "currency": "USD", "occurred_at": at, "promo_code": shop.promo_code })
            .to_string()
    };
    let cases = [
        order(json!("A-1"), json!("79228162514264337593543950335"), &now),
        order(json!("A-2"), json!(1e20), &now),
        order(json!("A-3"), json!("1_000.00"), &now),
        order(json!("A-4"), json!("1e3"), &now),
        order(json!("A-5"), json!("10000000.01"), &now),
        order(json!("A\u{0}6"), json!("10.00"), &now),
        order(json!("A-7"), json!("10.00"), "9999-12-31T00:00:00Z"),
        order(json!("A-8"), json!("10.00"), "1900-01-01T00:00:00Z"),
        order(json!("A-9"), json!("10.00"), "+262142-12-30T00:00:00Z"),
    ];
    for body in &cases {
        let (status, answer) = crate::tracking::webhook(&app, &shop.brand.slug, "shop", None, body, None).await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{status} for {body}: {answer}"
        );
        assert!(
            answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{answer}"
        );
    }
    assert_eq!(app.rows("conversions").await, 0);
    // The same through GraphQL.
    let record = "mutation($a: Money!, $at: DateTime) { recordConversion(input: { source: \"shop\", externalOrderId: \"G-1\", saleAmount: $a, occurredAt: $at }) { conversion { id } } }";
    for (amount, at) in [
        ("10000000.01", Value::Null),
        ("10.00", json!("1900-01-01T00:00:00Z")),
        ("1_000.00", Value::Null),
    ] {
        let code = app
            .error_code(Some(&shop.brand.admin), record, json!({ "a": amount, "at": at }))
            .await;
        assert_eq!(code, "BAD_USER_INPUT", "{amount} {at}");
    }
    assert_eq!(app.rows("conversions").await, 0);
    // Dates far outside the window are refused, not a panic.
    let code = app
        .error_code(
            Some(&shop.brand.analyst),
            "{ kpis(dateRange: { start: \"2026-01-01\", end: \"+262142-12-30\" }) { clicks } }",
            json!({}),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
}

#[tokio::test]
async fn codes_that_cannot_exist_are_404() {
    let app = TestApp::new().await;
    for code in ["x", "UPPER-case", "has%00nul", "a..b", &"a".repeat(65)] {
        let (status, page) = app.get(&format!("/r/{code}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{code}");
        assert!(page.contains("Link not found"));
    }
}

#[tokio::test]
async fn webhooks_are_limited_per_brand() {
    let app = TestApp::with_config(sales_tracking::AppConfig {
        limits: sales_tracking::Limits {
            webhook_rate_limit_per_second: 3,
            ..Default::default()
        },
        ..Default::default()
    })
    .await;
    let shop = crate::tracking::shop(&app).await;
    let order =
        |n: usize| json!({ "event": "order.created", "order_id": format!("R-{n}"), "amount": "5.00" }).to_string();
    for n in 0..3 {
        let (status, body) = crate::tracking::webhook(&app, &shop.brand.slug, "shop", None, &order(n), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = crate::tracking::webhook(&app, &shop.brand.slug, "shop", None, &order(3), None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "THROTTLED");
    // Redirects are never throttled.
    for _ in 0..20 {
        assert_eq!(
            crate::tracking::click(&app, &shop.link_code, "Mozilla/5.0").await.0,
            StatusCode::FOUND
        );
    }
}

/// Runs `check` on `cases` generated values inside this test's runtime.
fn property<S: proptest::strategy::Strategy>(cases: u32, strategy: S, check: impl Fn(S::Value) -> Result<(), String>)
where
    S::Value: std::fmt::Debug,
{
    let config = proptest::test_runner::Config {
        cases,
        ..Default::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let outcome = runner.run(&strategy, |value| {
        check(value).map_err(proptest::test_runner::TestCaseError::fail)
    });
    if let Err(error) = outcome {
        panic!("{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_and_exports_take_any_input_without_a_5xx() {
    let app = TestApp::new().await;
    let shop = crate::tracking::shop(&app).await;
    let runtime = tokio::runtime::Handle::current();
    let on_runtime = |work: std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + '_>>| {
        tokio::task::block_in_place(|| runtime.block_on(work))
    };
    // Whatever JSON a shop signs, the webhook answers 2xx or 4xx.
    property(64, (json_value(3), proptest::bool::ANY), |(body, shopify)| {
        on_runtime(Box::pin(async {
            let text = body.to_string();
            let source = if shopify { "shopify" } else { "shop" };
            let (status, answer) = crate::tracking::webhook(&app, &shop.brand.slug, source, None, &text, None).await;
            if status.is_success() || status.is_client_error() {
                Ok(())
            } else {
                Err(format!("{status} for {text}: {answer}"))
            }
        }))
    });
    // Whatever query parameters an export gets, it answers 2xx or 4xx.
    let params = proptest::collection::vec(("[a-zA-Z]{1,12}", "\\PC{0,24}"), 0..6);
    property(64, params, |params| {
        on_runtime(Box::pin(async {
            let query: String = params
                .iter()
                .map(|(k, v)| format!("{k}={}", url_encode(v)))
                .collect::<Vec<_>>()
                .join("&");
            let (status, _, body) = app
                .get_as(&shop.brand.admin, &format!("/export/offers.csv?{query}"))
                .await;
            if status.is_success() || status.is_client_error() {
                Ok(())
            } else {
                Err(format!("{status} for {query}: {body}"))
            }
        }))
    });
}

fn url_encode(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// JSON of any shape, with the webhook's own field names likely to turn up.
fn json_value(depth: u32) -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let key = prop_oneof![
        Just("event".to_string()),
        Just("order_id".to_string()),
        Just("amount".to_string()),
        Just("occurred_at".to_string()),
        Just("promo_code".to_string()),
        Just("click_id".to_string()),
        Just("id".to_string()),
        Just("total_price".to_string()),
        Just("discount_codes".to_string()),
        "[a-z_]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(Value::from("order.created")),
        Just(Value::from("order.refunded")),
        "\\PC{0,12}".prop_map(Value::from),
        "[0-9.e_-]{0,32}".prop_map(Value::from),
    ];
    leaf.prop_recursive(depth, 24, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[tokio::test]
async fn metrics_need_the_token_when_one_is_set_and_name_no_brand() {
    let app = TestApp::with_config(sales_tracking::AppConfig {
        metrics_token: Some("metrics-secret".into()),
        ..Default::default()
    })
    .await;
    let shop = crate::tracking::shop(&app).await;
    crate::tracking::click(&app, &shop.link_code, "Mozilla/5.0").await;
    assert_eq!(app.get("/metrics").await.0, StatusCode::UNAUTHORIZED);
    let (status, _, wrong) = app.get_as("not-the-token", "/metrics").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{wrong}");
    let (status, _, text) = app.get_as("metrics-secret", "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("sales_tracking_clicks_total"), "{text}");
    for private in [shop.brand.slug.as_str(), "Trail Co", shop.link_code.as_str()] {
        assert!(!text.contains(private), "/metrics shows {private}");
    }
    // Without a configured token it stays open, as before.
    let open = TestApp::new().await;
    assert_eq!(open.get("/metrics").await.0, StatusCode::OK);
}

#[tokio::test]
async fn cors_answers_only_the_configured_origins() {
    let app = TestApp::with_config(sales_tracking::AppConfig {
        cors_origins: vec!["https://app.example.com".into()],
        ..Default::default()
    })
    .await;
    let preflight = |origin: &str| {
        Request::options("/graphql")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization, content-type")
            .body(Body::empty())
            .unwrap()
    };
    let allowed = app.respond(preflight("https://app.example.com")).await;
    assert_eq!(
        allowed.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example.com"
    );
    let allowed_headers = allowed.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(allowed_headers.contains("authorization"), "{allowed_headers}");
    let refused = app.respond(preflight("https://evil.example")).await;
    assert!(refused.headers().get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}

#[tokio::test]
async fn member_emails_are_for_admin_keys_only() {
    let app = TestApp::new().await;
    let brand = app.brand("Acme").await;
    app.ok(
        &brand.admin,
        "mutation { createMember(input: { name: \"Ana\", email: \"ana@example.com\", payoutEmail: \"ana@paypal.example\" }) { member { id } } }",
        json!({}),
    )
    .await;
    let query = "{ members { nodes { name email payoutEmail } } }";
    let data = app.ok(&brand.admin, query, json!({})).await;
    assert_eq!(data["members"]["nodes"][0]["payoutEmail"], "ana@paypal.example");
    let (_, body) = app.graphql(Some(&brand.analyst), query, json!({})).await;
    let member = &body["data"]["members"]["nodes"][0];
    assert_eq!(member["name"], "Ana", "{body}");
    assert!(member["email"].is_null() && member["payoutEmail"].is_null(), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
}

#[tokio::test]
async fn a_panic_is_a_500_with_a_json_body_and_a_metric() {
    let metrics = std::sync::Arc::new(sales_tracking::metrics::Metrics::new());
    let routes = axum::Router::new().route(
        "/boom",
        axum::routing::get(|| async {
            let words: Vec<&str> = Vec::new();
            words[1].len().to_string()
        }),
    );
    let router = sales_tracking::http::catch_panics(routes, metrics.clone());
    let request = Request::get("/boom").body(Body::empty()).unwrap();
    let response = tower::ServiceExt::oneshot(router, request).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["error"]["code"], "INTERNAL");
    assert!(
        metrics.encode().contains("sales_tracking_panics_total 1"),
        "{}",
        metrics.encode()
    );
}

#[tokio::test]
async fn exports_are_charged_to_the_key_and_answer_429_over_budget() {
    // Less than a page of 100 offers with their KPIs requests (about 210).
    let app = app_with_budget(1, 150).await;
    let brand = app.brand("Acme").await;
    // Cheap queries pass on the same budget…
    app.ok(&brand.admin, "{ viewer { role } }", json!({})).await;
    // …an export's first page does not.
    let request = Request::get("/export/offers.csv")
        .header(header::AUTHORIZATION, format!("Bearer {}", brand.admin))
        .body(Body::empty())
        .unwrap();
    let response = app.respond(request).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    let body: Value = serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["error"]["code"], "THROTTLED", "{body}");
    // With the default budget the same export runs.
    let open = TestApp::new().await;
    let brand = open.brand("Acme").await;
    let (status, _, body) = open.get_as(&brand.admin, "/export/offers.csv").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
