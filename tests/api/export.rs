use axum::http::StatusCode;
use diesel_async::SimpleAsyncConnection;
use serde_json::{Value, json};

use crate::common::TestApp;

fn parse(body: &str) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body.as_bytes());
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[tokio::test]
async fn the_offers_csv_matches_the_graphql_table() {
    let app = TestApp::new().await;
    let key = sales_tracking::fixtures::demo::ensure_demo_brand(&app.pool)
        .await
        .unwrap();
    let uri = "/export/offers.csv?statuses=ACTIVE,PAUSED,EXPIRED,ARCHIVED&preset=ALL_TIME&sort=COMMISSIONS_EARNED&direction=DESC&columns=NAME,CLICKS,COMMISSIONS_EARNED,TOTAL_SALES,SALES_PER_MEMBER";
    let (status, content_type, body) = app.get_as(&key, uri).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(content_type.starts_with("text/csv"));
    let rows = parse(&body);
    assert_eq!(
        rows[0],
        [
            "Offer",
            "Clicks",
            "Commissions Earned",
            "Total Sales",
            "Sales per Member"
        ]
    );
    let data = app
        .ok(
            &key,
            "{ offers(first: 100, filter: { statuses: [ACTIVE, PAUSED, EXPIRED, ARCHIVED] }, dateRange: { preset: ALL_TIME }, sort: { field: COMMISSIONS_EARNED, direction: DESC }) { edges { node { name kpis { clicks commissionsEarned totalSales salesPerMember } } } } }",
            json!({}),
        )
        .await;
    let expected: Vec<Vec<String>> = data["offers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let n = &e["node"];
            let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
            vec![
                text(&n["name"]),
                text(&n["kpis"]["clicks"]),
                text(&n["kpis"]["commissionsEarned"]),
                text(&n["kpis"]["totalSales"]),
                text(&n["kpis"]["salesPerMember"]),
            ]
        })
        .collect();
    assert_eq!(rows[1..], expected[..]);
    assert_eq!(rows.len(), 7);

    // KPI range filters go by the names the GraphQL filter uses, with Min / Max; the
    // bounds are picked from the data so that they leave some offers out.
    let all = app
        .ok(
            &key,
            "{ offers(first: 100, filter: { statuses: [ACTIVE, PAUSED, EXPIRED, ARCHIVED] }, dateRange: { preset: ALL_TIME }) { edges { node { kpis { totalSales commissionsEarned conversions } } } } }",
            json!({}),
        )
        .await;
    let figures = |field: &str| -> Vec<f64> {
        let mut values: Vec<f64> = all["offers"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let v = &e["node"]["kpis"][field];
                v.as_str().map_or_else(|| v.as_f64().unwrap(), |s| s.parse().unwrap())
            })
            .collect();
        values.sort_by(f64::total_cmp);
        values
    };
    let sales_min = figures("totalSales")[1];
    let commissions_max = figures("commissionsEarned")[4];
    let conversions_min = figures("conversions")[0] as i64 + 1;
    let filtered = format!(
        "/export/offers.csv?statuses=ACTIVE,PAUSED,EXPIRED,ARCHIVED&preset=ALL_TIME&sort=NAME&direction=ASC&columns=NAME&salesMin={sales_min:.2}&commissionsEarnedMax={commissions_max:.2}&conversionsMin={conversions_min}"
    );
    let (status, _, body) = app.get_as(&key, &filtered).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let exported: Vec<String> = parse(&body)[1..].iter().map(|r| r[0].clone()).collect();
    let data = app
        .ok(
            &key,
            "query($s: Money, $c: Money, $n: Int) { offers(first: 100, filter: { statuses: [ACTIVE, PAUSED, EXPIRED, ARCHIVED], sales: { min: $s }, commissionsEarned: { max: $c }, conversions: { min: $n } }, dateRange: { preset: ALL_TIME }, sort: { field: NAME, direction: ASC }) { edges { node { name } } } }",
            json!({ "s": format!("{sales_min:.2}"), "c": format!("{commissions_max:.2}"), "n": conversions_min }),
        )
        .await;
    let listed: Vec<String> = data["offers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(exported, listed);
    assert!(
        !listed.is_empty() && listed.len() < 6,
        "the filter selects some offers: {listed:?}"
    );
}

#[tokio::test]
async fn a_large_member_table_streams_every_page_and_cells_are_spreadsheet_safe() {
    let app = TestApp::new().await;
    let brand = app.brand("Export Co").await;
    let mut conn = app.db.connect().await;
    conn.batch_execute(&format!(
        "INSERT INTO offers (brand_id, name, offer_type, destination_url, payout_type, payout_percent, starts_on)
         VALUES ({b}, '=HYPERLINK(\"http://evil\")', 'SALES_LINK', 'https://x.example.com', 'PERCENT_OF_SALE', 10, current_date);
         INSERT INTO members (brand_id, name, email) SELECT {b}, CASE WHEN n = 1 THEN '@admin, \"boss\"' ELSE 'Member ' || n END, 'm' || n || '@example.com' FROM generate_series(1, 250) n;
         INSERT INTO memberships (brand_id, offer_id, member_id, link_code) SELECT {b}, o.id, m.id, 'mx-' || m.id FROM offers o, members m;",
        b = brand.id.0
    ))
    .await
    .unwrap();
    let offer_id = app
        .ok(&brand.admin, "{ offers { edges { node { id } } } }", json!({}))
        .await["offers"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let (status, _, body) = app
        .get_as(&brand.analyst, "/export/offers.csv?columns=NAME,MEMBERS")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(parse(&body)[1], ["'=HYPERLINK(\"http://evil\")", "250"]);

    let uri =
        format!("/export/offers/{offer_id}/memberships.csv?columns=NAME,TRACKING_URL,CLICKS&sort=NAME&direction=ASC");
    let (status, _, body) = app.get_as(&brand.admin, &uri).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rows = parse(&body);
    assert_eq!(rows.len(), 251, "a header and all 250 members, over three pages");
    assert_eq!(rows[0], ["Member", "Link", "Clicks"]);
    assert_eq!(rows[1][0], "'@admin, \"boss\"", "quoted by RFC 4180 and made safe");
    assert!(rows[2][1].starts_with("http://127.0.0.1:8080/r/mx-"));
    assert_eq!(rows[2][2], "0");

    let (status, _, body) = app
        .get_as(
            &brand.admin,
            &format!("/export/offers/{offer_id}/memberships.csv?search=member%2012&columns=NAME"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<String> = parse(&body)[1..].iter().map(|r| r[0].clone()).collect();
    assert_eq!(names.len(), 11, "Member 12 and Member 120 to 129: {names:?}");

    assert_eq!(app.get("/export/offers.csv").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get_as(&brand.admin, "/export/offers.csv?columns=NAME,BANANA")
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get_as(&brand.admin, "/export/offers.csv?clicksMin=lots").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get_as(&brand.admin, "/export/offers.csv?preset=SOMETIME").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get_as(&brand.admin, "/export/offers/offer_99999/memberships.csv")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let rival = app.brand("Rival").await;
    assert_eq!(
        app.get_as(&rival.admin, &format!("/export/offers/{offer_id}/memberships.csv"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_orders_export_streams_every_order_of_the_range_page_by_page() {
    let app = TestApp::new().await;
    let brand = app.brand("Orders Co").await;
    let other = app.brand("Other Co").await;
    let mut conn = app.db.connect().await;
    // 2,500 orders this week (three pages), one last year, and another brand's.
    conn.batch_execute(&format!(
        "INSERT INTO conversions (brand_id, source, external_order_id, occurred_at, original_sale_amount, sale_amount)
           SELECT {b}, 'store', 'A-' || n, now() - interval '1 hour', n, n FROM generate_series(1, 2500) n;
         INSERT INTO conversions (brand_id, source, external_order_id, occurred_at, original_sale_amount, sale_amount)
           VALUES ({b}, 'store', 'OLD', now() - interval '400 days', 1, 1),
                  ({o}, 'store', 'THEIRS', now() - interval '1 hour', 1, 1);",
        b = brand.id.0,
        o = other.id.0
    ))
    .await
    .unwrap();
    let (status, content_type, body) = app
        .get_as(&brand.analyst, "/export/orders.csv?preset=LAST_7_DAYS")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(content_type, "text/csv; charset=utf-8");
    let rows = parse(&body);
    assert_eq!(
        rows.len(),
        2501,
        "a header and every order of the range, over three pages"
    );
    assert_eq!(rows[0][0], "Order");
    assert_eq!(rows[0].last().map(String::as_str), Some("Currency"));
    let orders: std::collections::HashSet<&str> = rows[1..].iter().map(|row| row[0].as_str()).collect();
    assert_eq!(orders.len(), 2500);
    assert!(!orders.contains("OLD") && !orders.contains("THEIRS"));
    let last = rows.iter().find(|row| row[0] == "A-2500").unwrap();
    assert_eq!(
        last[8..],
        ["2500.00", "USD", "0.00", "1", "", "", "2500.00", "0.00", "USD"],
        "sold in the brand's currency: at rate 1"
    );
    let (status, _, body) = app.get_as(&brand.admin, "/export/orders.csv?preset=NEXT_WEEK").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("preset"), "{body}");
}
