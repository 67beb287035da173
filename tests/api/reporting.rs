//! Every KPI against the same figure computed from raw events in plain SQL, for
//! several ranges and filters; sorting; series; and the statement count of a page.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use chrono::Datelike;
use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel_async::{AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::common::TestApp;

#[derive(diesel::QueryableByName, Debug)]
struct RawKpis {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    members: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    members_with_conversions: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    conversions: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    clicks: i64,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    total_sales: Decimal,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    commissions_earned: Decimal,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    payments_due: Decimal,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    members_with_payments_due: i64,
}

/// The KPIs straight from clicks, conversions and ledger entries: no rollups.
async fn raw_kpis(conn: &mut AsyncPgConnection, offers_where: &str, start: &str, end: &str) -> RawKpis {
    let sql = format!(
        "WITH b AS (SELECT id, time_zone AS tz FROM brands WHERE slug = 'demo'),
              bounds AS (SELECT ('{start}'::date::timestamp AT TIME ZONE b.tz) AS s,
                                (('{end}'::date + 1)::timestamp AT TIME ZONE b.tz) AS e FROM b),
              chosen AS (SELECT o.id FROM offers o, b WHERE o.brand_id = b.id AND ({offers_where})),
              ms AS (SELECT m.* FROM memberships m WHERE m.offer_id IN (SELECT id FROM chosen)),
              conv AS (SELECT c.* FROM conversions c, bounds WHERE c.status = 'ACCEPTED'
                       AND c.membership_id IN (SELECT id FROM ms) AND c.occurred_at >= bounds.s AND c.occurred_at < bounds.e),
              due AS (SELECT membership_id, SUM(amount) AS d FROM ledger_entries
                      WHERE payment_item_id IS NULL AND payable_at <= now() AND membership_id IN (SELECT id FROM ms) GROUP BY 1)
         SELECT
           (SELECT count(*) FROM ms, bounds WHERE ms.joined_at < bounds.e AND (ms.removed_at IS NULL OR ms.removed_at >= bounds.s)) AS members,
           (SELECT count(DISTINCT membership_id) FROM conv) AS members_with_conversions,
           (SELECT count(*) FROM conv) AS conversions,
           (SELECT count(*) FROM clicks k, bounds WHERE NOT k.is_bot AND k.membership_id IN (SELECT id FROM ms)
              AND k.clicked_at >= bounds.s AND k.clicked_at < bounds.e) AS clicks,
           (SELECT COALESCE(SUM(sale_amount), 0) FROM conv) AS total_sales,
           (SELECT COALESCE(SUM(commission), 0) FROM conv)
             + (SELECT COALESCE(SUM(amount), 0) FROM ledger_entries l, bounds WHERE l.kind IN ('CLICKS', 'REWARD')
                  AND l.membership_id IN (SELECT id FROM ms) AND l.earned_at >= bounds.s AND l.earned_at < bounds.e) AS commissions_earned,
           (SELECT COALESCE(SUM(d), 0) FROM due WHERE d > 0) AS payments_due,
           (SELECT count(*) FROM due WHERE d > 0) AS members_with_payments_due"
    );
    diesel::sql_query(sql).get_result(conn).await.unwrap()
}

fn money(value: &Value) -> Decimal {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not money: {value}"))
        .parse()
        .unwrap()
}

const KPI_FIELDS: &str = "dateRange { start end } members membersWithConversions conversions clicks totalSales salesPerMember commissionsEarned averageCommissionPerMember paymentsDue membersWithPaymentsDue payouts averageSale";

fn assert_same(kpis: &Value, raw: &RawKpis, context: &str) {
    assert_eq!(kpis["members"], raw.members, "{context}: members");
    assert_eq!(
        kpis["membersWithConversions"], raw.members_with_conversions,
        "{context}: members with conversions"
    );
    assert_eq!(kpis["conversions"], raw.conversions, "{context}: conversions");
    assert_eq!(kpis["clicks"], raw.clicks, "{context}: clicks");
    assert_eq!(money(&kpis["totalSales"]), raw.total_sales, "{context}: total sales");
    assert_eq!(
        money(&kpis["commissionsEarned"]),
        raw.commissions_earned,
        "{context}: commissions"
    );
    assert_eq!(money(&kpis["paymentsDue"]), raw.payments_due, "{context}: payments due");
    assert_eq!(
        kpis["membersWithPaymentsDue"], raw.members_with_payments_due,
        "{context}: members with payments due"
    );
    if raw.members_with_conversions > 0 {
        let n = Decimal::from(raw.members_with_conversions);
        let round = |d: Decimal| d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointNearestEven);
        assert_eq!(
            money(&kpis["salesPerMember"]),
            round(raw.total_sales / n),
            "{context}: sales per member"
        );
        assert_eq!(
            money(&kpis["averageCommissionPerMember"]),
            round(raw.commissions_earned / n),
            "{context}: average commission"
        );
    } else {
        assert_eq!(kpis["salesPerMember"], Value::Null, "{context}");
    }
}

const ACTIVE: &str = "o.status = 'ACTIVE' AND (o.ends_on IS NULL OR o.ends_on >= (now() AT TIME ZONE b.tz)::date)";

#[tokio::test]
async fn every_kpi_equals_raw_event_sql_for_ranges_and_filters() {
    let app = TestApp::new().await;
    let key = sales_tracking::fixtures::demo::ensure_demo_brand(&app.pool)
        .await
        .unwrap();
    let mut conn = app.db.connect().await;
    // Some memberships removed, at times spread over the year, so that member counts
    // meet removals before, inside and after each range.
    conn.batch_execute(
        "UPDATE memberships SET active = false, removed_at = joined_at + (id % 300) * interval '1 day'
         WHERE id % 5 = 0 AND joined_at + (id % 300) * interval '1 day' < now()",
    )
    .await
    .unwrap();
    let project = app.ok(&key, "{ projects { id name } }", json!({})).await["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Evergreen Creators")
        .unwrap()["id"]
        .clone();
    let project_number = project.as_str().unwrap().trim_start_matches("project_").to_string();
    let filters = [
        (Value::Null, ACTIVE.to_string()),
        (
            json!({ "statuses": ["ACTIVE", "PAUSED", "EXPIRED", "ARCHIVED"] }),
            "true".to_string(),
        ),
        (
            json!({ "types": ["SALES_LINK"] }),
            format!("{ACTIVE} AND o.offer_type = 'SALES_LINK'"),
        ),
        (
            json!({ "statuses": ["ACTIVE", "PAUSED"], "projectIds": [project] }),
            format!(
                "o.status IN ('ACTIVE', 'PAUSED') AND o.id IN (SELECT offer_id FROM offer_projects WHERE project_id = {project_number})"
            ),
        ),
    ];
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::America::New_York)
        .date_naive();
    let day = |days_ago: u64| (today - chrono::Days::new(days_ago)).to_string();
    // A range ending mid-month with activity after it: the last month comes from its days.
    let mid_last_month = (today.with_day(1).unwrap() - chrono::Days::new(1))
        .with_day(15)
        .unwrap()
        .to_string();
    // The 10th to the 20th of three months ago: no whole month, days on both sides.
    let three_months_ago = today.with_day(1).unwrap() - chrono::Months::new(3);
    let inside_a_month = (
        three_months_ago.with_day(10).unwrap().to_string(),
        three_months_ago.with_day(20).unwrap().to_string(),
    );
    let ranges = [
        (Value::Null, day(0), "six months"),
        (json!({ "preset": "LAST_30_DAYS" }), day(29), "30 days"),
        (json!({ "preset": "ALL_TIME" }), "2000-01-01".to_string(), "all time"),
        (json!({ "start": day(300), "end": day(100) }), day(300), "custom"),
        (
            json!({ "start": day(200), "end": mid_last_month }),
            day(200),
            "mid-month end",
        ),
        (
            json!({ "start": inside_a_month.0, "end": inside_a_month.1 }),
            inside_a_month.0.clone(),
            "inside a month",
        ),
    ];
    let query =
        format!("query($f: OfferFilter, $r: DateRangeInput) {{ kpis(filter: $f, dateRange: $r) {{ {KPI_FIELDS} }} }}");
    for (filter, offers_where) in &filters {
        for (range, start, name) in &ranges {
            let data = app.ok(&key, &query, json!({ "f": filter, "r": range })).await;
            let kpis = &data["kpis"];
            let start = if range.is_null() {
                kpis["dateRange"]["start"].as_str().unwrap().to_string()
            } else {
                start.clone()
            };
            let end = match *name {
                "custom" => day(100),
                "mid-month end" => mid_last_month.clone(),
                "inside a month" => inside_a_month.1.clone(),
                _ => today.to_string(),
            };
            assert_eq!(kpis["dateRange"], json!({ "start": start, "end": end }), "{name}");
            let raw = raw_kpis(&mut conn, offers_where, &start, &end).await;
            assert!(
                raw.conversions > 0 || *name == "30 days",
                "the demo has activity in {name}: {raw:?}"
            );
            assert_same(kpis, &raw, &format!("{filter} / {name}"));
        }
    }
}

#[tokio::test]
async fn offers_sort_by_any_kpi_and_page_stably() {
    let app = TestApp::new().await;
    let key = sales_tracking::fixtures::demo::ensure_demo_brand(&app.pool)
        .await
        .unwrap();
    let query = "query($after: String, $first: Int, $sort: OfferSort) { offers(first: $first, after: $after, sort: $sort, filter: { statuses: [ACTIVE, PAUSED, EXPIRED, ARCHIVED] }, dateRange: { preset: ALL_TIME }) { totalCount edges { node { id name kpis { commissionsEarned clicks salesPerMember } } } pageInfo { hasNextPage endCursor } } }";
    let sort = json!({ "field": "COMMISSIONS_EARNED", "direction": "DESC" });
    let all = app.ok(&key, query, json!({ "first": 100, "sort": sort })).await;
    let nodes: Vec<Value> = all["offers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    assert_eq!(nodes.len(), 6);
    assert_eq!(all["offers"]["totalCount"], 6);
    let earned: Vec<Decimal> = nodes.iter().map(|n| money(&n["kpis"]["commissionsEarned"])).collect();
    assert!(earned.windows(2).all(|w| w[0] >= w[1]), "not descending: {earned:?}");
    assert!(earned[0] > earned[5]);
    let mut conn = app.db.connect().await;
    for node in &nodes {
        let id = node["id"].as_str().unwrap().trim_start_matches("offer_");
        let raw = raw_kpis(&mut conn, &format!("o.id = {id}"), "2000-01-01", "2100-01-01").await;
        assert_eq!(
            money(&node["kpis"]["commissionsEarned"]),
            raw.commissions_earned,
            "{}",
            node["name"]
        );
    }

    // Two at a time gives the same order.
    let mut paged = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = app
            .ok(&key, query, json!({ "first": 2, "after": after, "sort": sort }))
            .await;
        paged.extend(
            page["offers"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["id"].clone()),
        );
        if page["offers"]["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["offers"]["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(paged, nodes.iter().map(|n| n["id"].clone()).collect::<Vec<_>>());

    let ascending = app
        .ok(
            &key,
            query,
            json!({ "first": 100, "sort": { "field": "CLICKS", "direction": "ASC" } }),
        )
        .await;
    let clicks: Vec<i64> = ascending["offers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["kpis"]["clicks"].as_i64().unwrap())
        .collect();
    assert!(clicks.windows(2).all(|w| w[0] <= w[1]), "{clicks:?}");
    let by_name = app
        .ok(
            &key,
            query,
            json!({ "first": 100, "sort": { "field": "NAME", "direction": "ASC" } }),
        )
        .await;
    let names: Vec<&str> = by_name["offers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names, sorted);

    // KPI ranges select offers on the home page.
    let busy = app
        .ok(&key, "{ offers(first: 100, filter: { statuses: [ACTIVE, PAUSED, EXPIRED, ARCHIVED], clicks: { min: 1 } }, dateRange: { preset: ALL_TIME }) { totalCount } }", json!({}))
        .await;
    assert_eq!(
        busy["offers"]["totalCount"], 3,
        "only the three link offers have clicks"
    );
}

/// Each point of a series has the KPIs of its own dates, on the brand, an offer and a
/// membership: the months of a year, and the days with conversions in the last 3 months.
#[tokio::test]
async fn every_series_point_equals_the_kpis_of_its_own_dates() {
    let app = TestApp::new().await;
    let key = sales_tracking::fixtures::demo::ensure_demo_brand(&app.pool)
        .await
        .unwrap();
    let busiest = app
        .ok(
            &key,
            "{ offers(first: 1, sort: { field: CONVERSIONS }) { nodes { id
               memberships(first: 1, sort: { field: CONVERSIONS }) { nodes { id } } } } }",
            json!({}),
        )
        .await;
    let offer = &busiest["offers"]["nodes"][0];
    let scopes = [
        ("", Value::Null),
        ("offer", offer["id"].clone()),
        ("membership", offer["memberships"]["nodes"][0]["id"].clone()),
    ];
    // The same fields, through the root or through the scope's node.
    let through = |scope: &str, field: &str| match scope {
        "" => field.to_string(),
        _ => format!("{scope}(id: $id) {{ {field} }}"),
    };
    let id_variable = |scope: &str| if scope.is_empty() { "" } else { "$id: ID!, " };
    let at = |data: &Value, scope: &str| match scope {
        "" => data.clone(),
        _ => data[scope].clone(),
    };
    for (scope, id) in &scopes {
        for (interval, range) in [("MONTH", "LAST_12_MONTHS"), ("DAY", "LAST_3_MONTHS")] {
            // Through a fragment: the series computes what the selection needs, fragments included.
            let series = format!(
                "kpiSeries(dateRange: {{ preset: {range} }}, interval: {interval}) {{ start end kpis {{ ...Figures }} }}"
            );
            let query = format!(
                "query({}) {{ {} }} fragment Figures on Kpis {{ {KPI_FIELDS} }}",
                id_variable(scope),
                through(scope, &series)
            )
            .replace("()", "");
            let data = at(&app.ok(&key, &query, json!({ "id": id })).await, scope);
            let points = data["kpiSeries"].as_array().unwrap();
            let checked: Vec<&Value> = points
                .iter()
                .filter(|p| interval == "MONTH" || p["kpis"]["conversions"].as_i64().unwrap() > 0)
                .collect();
            assert!(
                checked.len() >= 3,
                "{scope} {interval}: {} points checked",
                checked.len()
            );
            for point in checked {
                let kpis = format!("kpis(dateRange: {{ start: $start, end: $end }}) {{ {KPI_FIELDS} }}");
                let query = format!(
                    "query({}$start: Date, $end: Date) {{ {} }}",
                    id_variable(scope),
                    through(scope, &kpis)
                );
                let variables = json!({ "id": id, "start": point["start"], "end": point["end"] });
                let own = at(&app.ok(&key, &query, variables).await, scope);
                assert_eq!(point["kpis"], own["kpis"], "{scope} {interval} {}", point["start"]);
            }
        }
    }
}

#[tokio::test]
async fn series_add_up_to_the_totals_and_bad_ranges_are_refused() {
    let app = TestApp::new().await;
    let key = sales_tracking::fixtures::demo::ensure_demo_brand(&app.pool)
        .await
        .unwrap();
    let totals = app
        .ok(
            &key,
            "{ kpis(dateRange: { preset: LAST_12_MONTHS }) { clicks conversions totalSales commissionsEarned } }",
            json!({}),
        )
        .await;
    for interval in ["DAY", "WEEK", "MONTH"] {
        let data = app
            .ok(&key, "query($i: SeriesInterval!) { kpiSeries(dateRange: { preset: LAST_12_MONTHS }, interval: $i) { start end kpis { clicks conversions totalSales commissionsEarned } } }", json!({ "i": interval }))
            .await;
        let points = data["kpiSeries"].as_array().unwrap();
        assert!(
            points.len() >= if interval == "MONTH" { 12 } else { 50 },
            "{interval}: {} points",
            points.len()
        );
        let sum = |field: &str| points.iter().map(|p| p["kpis"][field].as_i64().unwrap()).sum::<i64>();
        let sum_money = |field: &str| points.iter().map(|p| money(&p["kpis"][field])).sum::<Decimal>();
        assert_eq!(sum("clicks"), totals["kpis"]["clicks"].as_i64().unwrap(), "{interval}");
        assert_eq!(
            sum("conversions"),
            totals["kpis"]["conversions"].as_i64().unwrap(),
            "{interval}"
        );
        assert_eq!(
            sum_money("totalSales"),
            money(&totals["kpis"]["totalSales"]),
            "{interval}"
        );
        assert_eq!(
            sum_money("commissionsEarned"),
            money(&totals["kpis"]["commissionsEarned"]),
            "{interval}"
        );
        for pair in points.windows(2) {
            assert!(
                pair[0]["end"].as_str().unwrap() < pair[1]["start"].as_str().unwrap(),
                "points overlap"
            );
        }
    }
    let query = "query($r: DateRangeInput) { kpis(dateRange: $r) { clicks } }";
    for bad in [
        json!({ "start": "2026-02-01", "end": "2026-01-01" }),
        json!({ "start": "2010-01-01", "end": "2026-01-01" }),
        json!({ "start": "2026-01-01" }),
        json!({ "preset": "ALL_TIME", "start": "2026-01-01", "end": "2026-01-02" }),
        json!({ "preset": "LAST_WEEK" }),
    ] {
        assert_eq!(
            app.error_code(Some(&key), query, json!({ "r": bad })).await,
            "BAD_USER_INPUT",
            "{bad}"
        );
    }
}

/// Statements run per test database, counted by diesel's instrumentation.
static STATEMENTS: OnceLock<Mutex<HashMap<String, usize>>> = OnceLock::new();

struct CountStatements {
    database: Option<String>,
}

impl Instrumentation for CountStatements {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartEstablishConnection { url, .. } => {
                self.database = url.rsplit('/').next().map(str::to_string)
            }
            InstrumentationEvent::StartQuery { query, .. } => {
                if std::env::var_os("SHOW_SQL").is_some() {
                    eprintln!(
                        "SQL {}",
                        query
                            .to_string()
                            .chars()
                            .take(90)
                            .collect::<String>()
                            .replace('\n', " ")
                    );
                }
                if let Some(database) = &self.database {
                    *STATEMENTS
                        .get_or_init(Default::default)
                        .lock()
                        .unwrap()
                        .entry(database.clone())
                        .or_default() += 1;
                }
            }
            _ => {}
        }
    }
}

fn statements(database: &str) -> usize {
    STATEMENTS
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .get(database)
        .copied()
        .unwrap_or(0)
}

#[tokio::test]
async fn a_page_of_100_offers_runs_as_many_statements_as_a_page_of_10() {
    diesel::connection::set_default_instrumentation(|| Some(Box::new(CountStatements { database: None }))).unwrap();
    let app = TestApp::new().await;
    let brand = app.brand("Many Offers").await;
    let mut conn = app.db.connect().await;
    conn.batch_execute(&format!(
        "INSERT INTO projects (brand_id, name) VALUES ({b}, 'P1'), ({b}, 'P2');
         INSERT INTO offers (brand_id, name, offer_type, destination_url, payout_type, payout_percent, starts_on)
         SELECT {b}, 'Offer ' || n, 'SALES_LINK', 'https://x.example.com', 'PERCENT_OF_SALE', 10, current_date - 30 FROM generate_series(1, 120) n;
         INSERT INTO offer_projects (brand_id, offer_id, project_id) SELECT {b}, o.id, p.id FROM offers o, projects p;
         INSERT INTO members (brand_id, name, email) SELECT {b}, 'M' || n, 'm' || n || '@example.com' FROM generate_series(1, 5) n;
         INSERT INTO memberships (brand_id, offer_id, member_id, link_code) SELECT {b}, o.id, m.id, 'c' || o.id || '-' || m.id FROM offers o, members m;",
        b = brand.id.0
    ))
    .await
    .unwrap();
    let query = format!(
        "query($n: Int) {{ offers(first: $n, sort: {{ field: COMMISSIONS_EARNED }}) {{ totalCount edges {{ node {{ id name status type payout {{ type percent }} projects {{ name }} kpis {{ {KPI_FIELDS} }} memberships(first: 3) {{ edges {{ node {{ id member {{ name }} }} }} }} }} }} }} }}"
    );
    // Warm the pool first: opening a connection runs statements of its own.
    app.ok(&brand.admin, &query, json!({ "n": 100 })).await;
    let mut counts = Vec::new();
    for size in [10, 100] {
        let before = statements(&app.db.name);
        let data = app.ok(&brand.admin, &query, json!({ "n": size })).await;
        assert_eq!(data["offers"]["edges"].as_array().unwrap().len(), size);
        assert_eq!(
            data["offers"]["edges"][0]["node"]["projects"].as_array().unwrap().len(),
            2
        );
        counts.push(statements(&app.db.name) - before);
    }
    assert!(counts[0] > 0, "statements were counted");
    assert_eq!(
        counts[0], counts[1],
        "a bigger page must not run more statements: {counts:?}"
    );
    // The key, the offers, their KPIs (2: the figures and the converting-member sets),
    // projects, memberships, the memberships' figures (2), members and promo codes: ten,
    // whatever the page size; each of the two report reads also runs BEGIN, SET LOCAL
    // and COMMIT. Sixteen.
    assert!(counts[1] <= 16, "a handful of statements, not {}", counts[1]);
}

/// Payments Due comes from balances the maturity job keeps: exact before the job has
/// run (entries that came due since are added at read time) and after it.
#[tokio::test]
async fn payments_due_is_exact_before_and_after_the_maturity_job() {
    let app = TestApp::new().await;
    let key = sales_tracking::fixtures::demo::ensure_demo_brand(&app.pool)
        .await
        .unwrap();
    let mut conn = app.db.connect().await;
    let every_offer = json!({ "statuses": ["ACTIVE", "PAUSED", "EXPIRED", "ARCHIVED"] });
    let query = format!("query($f: OfferFilter) {{ kpis(filter: $f) {{ {KPI_FIELDS} }} }}");
    let membership_query =
        "query($id: ID!) { membership(id: $id) { kpis(dateRange: { preset: ALL_TIME }) { paymentsDue } } }";
    let busiest: i64 = crate::common::count(
        &mut conn,
        "SELECT membership_id AS n FROM ledger_entries WHERE payment_item_id IS NULL AND payable_at <= now()
         GROUP BY 1 ORDER BY SUM(amount) DESC LIMIT 1",
    )
    .await;
    let raw_due_of_busiest = || {
        format!(
            "SELECT (SUM(amount) * 100)::bigint AS n FROM ledger_entries
             WHERE membership_id = {busiest} AND payment_item_id IS NULL AND payable_at <= now()"
        )
    };
    // As if the job had not run since every entry the demo booked was written.
    conn.batch_execute("UPDATE ledger_entries SET matured = false WHERE matured")
        .await
        .unwrap();
    let late = crate::common::count(
        &mut conn,
        "SELECT count(*) AS n FROM ledger_entries WHERE payment_item_id IS NULL AND NOT matured AND payable_at <= now()",
    )
    .await;
    assert!(late > 100, "the demo has entries past their hold period: {late}");
    for phase in ["before the job", "after the job"] {
        let raw = raw_kpis(&mut conn, "true", "2000-01-01", "2000-01-01").await;
        let kpis = app.ok(&key, &query, json!({ "f": every_offer })).await;
        assert!(raw.payments_due > Decimal::ZERO);
        assert_eq!(money(&kpis["kpis"]["paymentsDue"]), raw.payments_due, "{phase}");
        assert_eq!(
            kpis["kpis"]["membersWithPaymentsDue"], raw.members_with_payments_due,
            "{phase}"
        );
        let membership = app
            .ok(&key, membership_query, json!({ "id": format!("membership_{busiest}") }))
            .await;
        assert_eq!(
            money(&membership["membership"]["kpis"]["paymentsDue"]) * Decimal::ONE_HUNDRED,
            Decimal::from(crate::common::count(&mut conn, &raw_due_of_busiest()).await),
            "{phase}: one membership"
        );
        if phase == "before the job" {
            let matured = sales_tracking::app::maturity::mature_due(&app.pool).await.unwrap();
            assert_eq!(matured as i64, late, "the job matures every entry that came due");
        }
    }
    assert_eq!(
        sales_tracking::db::stats::summary_mismatches(&mut conn).await.unwrap(),
        0
    );
    // The check notices a disturbed offer balance.
    conn.batch_execute("UPDATE offer_balances SET members_with_payments_due = members_with_payments_due + 1 WHERE ctid = (SELECT ctid FROM offer_balances LIMIT 1)").await.unwrap();
    assert_eq!(
        sales_tracking::db::stats::summary_mismatches(&mut conn).await.unwrap(),
        1
    );
}

/// A member table's rows show the KPIs of the range the table is sorted by.
#[tokio::test]
async fn member_table_rows_show_the_tables_range() {
    let app = TestApp::new().await;
    let key = sales_tracking::fixtures::demo::ensure_demo_brand(&app.pool)
        .await
        .unwrap();
    let data = app
        .ok(
            &key,
            "{ offers(first: 1, dateRange: { preset: ALL_TIME }, sort: { field: COMMISSIONS_EARNED }) { nodes {
                 memberships(first: 5, dateRange: { preset: ALL_TIME }, sort: { field: COMMISSIONS_EARNED }) {
                   nodes { kpis { dateRange { start } commissionsEarned } sixMonths: kpis(dateRange: { preset: LAST_6_MONTHS }) { commissionsEarned } } } } } }",
            json!({}),
        )
        .await;
    let rows = data["offers"]["nodes"][0]["memberships"]["nodes"].as_array().unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        assert_eq!(row["kpis"]["dateRange"]["start"], "2000-01-01", "{row}");
    }
    let all_time: Vec<Decimal> = rows.iter().map(|r| money(&r["kpis"]["commissionsEarned"])).collect();
    assert!(
        all_time.windows(2).all(|w| w[0] >= w[1]),
        "sorted by what the rows show: {all_time:?}"
    );
    assert!(
        rows.iter()
            .any(|r| money(&r["kpis"]["commissionsEarned"]) > money(&r["sixMonths"]["commissionsEarned"])),
        "the demo has commission older than six months"
    );
}

/// A database whose rollups predate the converting-member sets gets them built at
/// start, equal to what the live paths keep.
#[tokio::test]
async fn converting_member_sets_are_built_for_older_rollups() {
    let app = TestApp::new().await;
    let key = sales_tracking::fixtures::demo::ensure_demo_brand(&app.pool)
        .await
        .unwrap();
    let query = "{ kpis(dateRange: { preset: ALL_TIME }) { membersWithConversions } }";
    let before = app.ok(&key, query, json!({})).await;
    let mut conn = app.db.connect().await;
    assert_eq!(sales_tracking::db::converting::mismatches(&mut conn).await.unwrap(), 0);
    conn.batch_execute("DELETE FROM offer_converting_members")
        .await
        .unwrap();
    assert!(sales_tracking::db::converting::mismatches(&mut conn).await.unwrap() > 0);
    let built = sales_tracking::db::converting::build_if_missing(&mut conn)
        .await
        .unwrap();
    assert!(built > 0);
    assert_eq!(sales_tracking::db::converting::mismatches(&mut conn).await.unwrap(), 0);
    assert_eq!(
        sales_tracking::db::converting::build_if_missing(&mut conn)
            .await
            .unwrap(),
        0,
        "once"
    );
    assert_eq!(app.ok(&key, query, json!({})).await, before);
}

/// An offer's summary with the member table's filter and search adds up exactly the
/// rows that table lists; without them it is the whole offer's.
#[tokio::test]
async fn an_offer_summary_follows_the_member_table_filter() {
    let app = TestApp::new().await;
    let key = sales_tracking::fixtures::demo::ensure_demo_brand(&app.pool)
        .await
        .unwrap();
    let offer = app
        .ok(&key, "{ offers(first: 1) { edges { node { id } } } }", json!({}))
        .await["offers"]["edges"][0]["node"]["id"]
        .clone();
    let mut conn = app.db.connect().await;
    // Some members inactive, so the filter has something to leave out.
    conn.batch_execute("UPDATE memberships SET active = false WHERE id % 3 = 0")
        .await
        .unwrap();
    let query = "query($id: ID!, $f: MembershipFilter, $s: String) { offer(id: $id) {
        all: kpis { members conversions clicks totalSales commissionsEarned }
        shown: kpis(filter: $f, search: $s) { members conversions clicks totalSales commissionsEarned }
        memberships(first: 100, filter: $f, search: $s) { totalCount edges { node { kpis { members conversions clicks totalSales commissionsEarned } } } } } }";
    let number = |value: &Value| match value {
        Value::String(s) => s.parse::<Decimal>().unwrap(),
        n => Decimal::from(n.as_i64().unwrap()),
    };
    let fields = ["members", "conversions", "clicks", "totalSales", "commissionsEarned"];
    let mut active_and_inactive = vec![Decimal::ZERO; fields.len()];
    let mut whole = Vec::new();
    for (filter, search) in [
        (json!({ "active": true }), Value::Null),
        (json!({ "active": false }), Value::Null),
        (json!({ "conversions": { "min": 1 } }), json!("a")),
    ] {
        let data = app
            .ok(&key, query, json!({ "id": offer, "f": filter, "s": search }))
            .await;
        let offer = &data["offer"];
        let rows = offer["memberships"]["edges"].as_array().unwrap();
        assert_eq!(rows.len() as i64, offer["memberships"]["totalCount"].as_i64().unwrap());
        for (i, field) in fields.iter().enumerate() {
            let listed: Decimal = rows.iter().map(|r| number(&r["node"]["kpis"][field])).sum();
            assert_eq!(number(&offer["shown"][field]), listed, "{filter} {search}: {field}");
            if filter.get("active").is_some() {
                active_and_inactive[i] += listed;
            }
        }
        whole = fields.iter().map(|f| number(&offer["all"][f])).collect();
    }
    // Active and inactive memberships together are the whole offer.
    assert_eq!(active_and_inactive, whole);
    assert!(whole[0] > Decimal::ZERO, "the offer has members");
}

#[tokio::test]
async fn a_series_answers_every_bucket_of_its_range_and_marks_the_partial_ones() {
    let app = TestApp::new().await;
    let key = sales_tracking::fixtures::demo::ensure_demo_brand(&app.pool)
        .await
        .unwrap();
    let series = |start: &str, end: &str, interval: &str| {
        let variables = json!({ "r": { "start": start, "end": end }, "i": interval });
        let app = &app;
        let key = key.clone();
        async move {
            app.ok(&key, "query($r: DateRangeInput, $i: SeriesInterval!) { kpiSeries(dateRange: $r, interval: $i) { start end partial kpis { conversions totalSales } } }", variables)
                .await["kpiSeries"]
                .clone()
        }
    };
    // Long before the brand's first order: every month, with zeros; the last one cut short.
    let months = series("2001-01-01", "2001-03-15", "MONTH").await;
    assert_eq!(
        months,
        json!([
            { "start": "2001-01-01", "end": "2001-01-31", "partial": false, "kpis": { "conversions": 0, "totalSales": "0.00" } },
            { "start": "2001-02-01", "end": "2001-02-28", "partial": false, "kpis": { "conversions": 0, "totalSales": "0.00" } },
            { "start": "2001-03-01", "end": "2001-03-15", "partial": true, "kpis": { "conversions": 0, "totalSales": "0.00" } },
        ])
    );
    // Weeks start on Monday: a range from a Wednesday to a Saturday cuts both ends.
    let weeks = series("2001-01-03", "2001-01-20", "WEEK").await;
    let partial: Vec<(&str, bool)> = weeks
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["start"].as_str().unwrap(), w["partial"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        partial,
        [("2001-01-03", true), ("2001-01-08", false), ("2001-01-15", true)]
    );

    // A brand with nothing yet: ALL_TIME is one bucket, not an empty chart.
    let empty = app.brand("Nothing Yet").await;
    let all_time = app
        .ok(
            &empty.admin,
            "{ kpiSeries(dateRange: { preset: ALL_TIME }, interval: MONTH) { kpis { conversions } } }",
            json!({}),
        )
        .await;
    assert_eq!(all_time["kpiSeries"], json!([{ "kpis": { "conversions": 0 } }]));
}

#[tokio::test]
async fn pooled_connections_never_jit_compile() {
    // JIT compiling costs tens of milliseconds and starts by estimated cost alone:
    // at 100M events a report's estimate crossed the threshold.
    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        jit: String,
    }
    let app = TestApp::new().await;
    let mut conn = app.pool.get().await.unwrap();
    let setting: Setting = diesel::sql_query("SELECT current_setting('jit') AS jit")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(setting.jit, "off");
}
