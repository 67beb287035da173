//! Reporting benchmark: the default `kpis`, the offers table (50 offers, every KPI
//! column), one offer's member table (100 rows, every column) and the home page's
//! chart (the default KPIs per day), timed through the router on a seeded database,
//! next to the same answers computed by plain SQL over the raw events. Run it with
//! `bench/reporting.sh`.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, header};
use diesel_async::RunQueryDsl;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use sales_tracking::db::{self, api_keys, brands};
use sales_tracking::domain::enums::Role;

const RUNS: usize = 30;
const KPIS: &str = "members membersWithConversions conversions clicks totalSales salesPerMember commissionsEarned averageCommissionPerMember paymentsDue membersWithPaymentsDue payouts averageSale";

#[derive(diesel::QueryableByName, Debug)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    clicks: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    conversions: i64,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    sales: rust_decimal::Decimal,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    commission: rust_decimal::Decimal,
}

/// What the raw-event SQL groups by.
#[derive(Clone, Copy)]
enum Group {
    Offer,
    Membership,
    /// Brand-local days since the range's start.
    Day,
}

impl Group {
    /// The group of an event happening at `at` (a column of the event, joined to `ms`).
    fn key(self, at: &str, start: &str) -> String {
        match self {
            Group::Offer => "ms.offer_id".to_string(),
            Group::Membership => "ms.id".to_string(),
            Group::Day => format!("(({at} AT TIME ZONE b.tz)::date - '{start}'::date)::bigint"),
        }
    }

    /// Every group, active or not.
    fn all(self) -> &'static str {
        match self {
            Group::Offer => "SELECT DISTINCT offer_id AS id FROM ms",
            Group::Membership => "SELECT id FROM ms",
            Group::Day => {
                "SELECT generate_series(0, ((now() AT TIME ZONE b.tz)::date - bounds.s_day))::bigint AS id FROM b, bounds"
            }
        }
    }
}

/// Per offer, membership or day, figures straight from clicks, conversions and
/// ledger entries, for `start` to today in the brand's zone, sorted by commission
/// (days: by day).
fn raw_sql(group: Group, where_offer: &str, limit: i64, start: &str) -> String {
    let order = match group {
        Group::Day => "ids.id",
        _ => "commission DESC, ids.id DESC",
    };
    format!(
        "WITH b AS (SELECT id, time_zone AS tz FROM brands WHERE slug = 'generated'),
              bounds AS (SELECT '{start}'::date AS s_day, ('{start}'::date::timestamp AT TIME ZONE b.tz) AS s, ((now() AT TIME ZONE b.tz)::date + 1)::timestamp AT TIME ZONE b.tz AS e FROM b),
              ms AS (SELECT m.id, m.offer_id FROM memberships m JOIN offers o ON o.id = m.offer_id, b WHERE m.brand_id = b.id AND o.status = 'ACTIVE' {where_offer}),
              k AS (SELECT {clicked} AS id, count(*) AS n FROM clicks c JOIN ms ON ms.id = c.membership_id, bounds, b
                    WHERE NOT c.is_bot AND c.clicked_at >= bounds.s AND c.clicked_at < bounds.e GROUP BY 1),
              v AS (SELECT {ordered} AS id, count(*) AS n, SUM(c.sale_amount) AS sales, SUM(c.commission) AS commission
                    FROM conversions c JOIN ms ON ms.id = c.membership_id, bounds, b
                    WHERE c.status = 'ACCEPTED' AND c.occurred_at >= bounds.s AND c.occurred_at < bounds.e GROUP BY 1),
              l AS (SELECT {earned} AS id, SUM(l.amount) AS amount FROM ledger_entries l JOIN ms ON ms.id = l.membership_id, bounds, b
                    WHERE l.kind IN ('CLICKS', 'REWARD') AND l.earned_at >= bounds.s AND l.earned_at < bounds.e GROUP BY 1),
              ids AS ({all})
         SELECT ids.id, COALESCE(k.n, 0)::bigint AS clicks, COALESCE(v.n, 0)::bigint AS conversions, COALESCE(v.sales, 0) AS sales,
                COALESCE(v.commission, 0) + COALESCE(l.amount, 0) AS commission
         FROM ids LEFT JOIN k USING (id) LEFT JOIN v USING (id) LEFT JOIN l USING (id)
         ORDER BY {order} LIMIT {limit}",
        clicked = group.key("c.clicked_at", start),
        ordered = group.key("c.occurred_at", start),
        earned = group.key("l.earned_at", start),
        all = group.all(),
    )
}

fn stats(mut times: Vec<Duration>) -> String {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "p50 {:7.2} ms  p95 {:7.2} ms  max {:7.2} ms",
        ms(times[times.len() / 2]),
        ms(times[times.len() * 95 / 100]),
        ms(times[times.len() - 1])
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| anyhow::anyhow!("set DATABASE_URL to a database made by `sales-tracking seed`"))?;
    let pool = db::connect_pool(&url, 8)?;
    let mut conn = pool.get().await?;
    let brand = brands::find_by_slug(&mut conn, "generated").await?;
    let (_, key) = api_keys::create(&mut conn, brand.id, Role::Analyst, "bench").await?;
    let router = sales_tracking::router(pool.clone(), Default::default());
    let call = |query: String, variables: Value| {
        let router = router.clone();
        let key = key.clone();
        async move {
            let body = json!({ "query": query, "variables": variables }).to_string();
            let request = Request::post("/graphql")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::AUTHORIZATION, format!("Bearer {key}"))
                .body(Body::from(body))
                .unwrap();
            let started = Instant::now();
            let response = router.oneshot(request).await.unwrap();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let elapsed = started.elapsed();
            let value: Value = serde_json::from_slice(&bytes).unwrap();
            assert!(value.get("errors").is_none(), "{value}");
            (elapsed, value)
        }
    };
    let time = |query: String, variables: Value| {
        let call = &call;
        async move {
            for _ in 0..3 {
                call(query.clone(), variables.clone()).await;
            }
            let mut times = Vec::new();
            let mut last = Value::Null;
            for _ in 0..RUNS {
                let (elapsed, value) = call(query.clone(), variables.clone()).await;
                times.push(elapsed);
                last = value;
            }
            (stats(times), last)
        }
    };
    let raw = |sql: String| {
        let pool = pool.clone();
        async move {
            let mut conn = pool.get().await.unwrap();
            let mut times = Vec::new();
            let mut rows: Vec<Row> = Vec::new();
            for _ in 0..5 {
                let started = Instant::now();
                rows = diesel::sql_query(&sql).load(&mut conn).await.unwrap();
                times.push(started.elapsed());
            }
            (stats(times), rows)
        }
    };
    let counts: (i64, i64, i64) = {
        #[derive(diesel::QueryableByName)]
        struct Sizes {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            clicks: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            conversions: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            members: i64,
        }
        let s: Sizes = diesel::sql_query(format!(
            "SELECT (SELECT count(*) FROM clicks WHERE brand_id = {b}) AS clicks, (SELECT count(*) FROM conversions WHERE brand_id = {b}) AS conversions, (SELECT count(*) FROM members WHERE brand_id = {b}) AS members",
            b = brand.id
        ))
        .get_result(&mut conn)
        .await?;
        (s.clicks, s.conversions, s.members)
    };
    println!(
        "data: {} clicks, {} conversions, {} members; {RUNS} timed runs each after 3 warm-ups; raw SQL 5 runs\n",
        counts.0, counts.1, counts.2
    );

    // 1. The home page's default KPIs.
    let (timing, kpis) = time(format!("{{ kpis {{ dateRange {{ start end }} {KPIS} }} }}"), json!({})).await;
    let start = kpis["data"]["kpis"]["dateRange"]["start"].as_str().unwrap().to_string();
    let (raw_timing, raw_rows) = raw(format!("SELECT 0::bigint AS id, SUM(clicks)::bigint AS clicks, SUM(conversions)::bigint AS conversions, SUM(sales) AS sales, SUM(commission) AS commission FROM ({}) t", raw_sql(Group::Offer, "", 1_000_000, &start))).await;
    let k = &kpis["data"]["kpis"];
    println!("default kpis         graphql {timing}");
    println!("                     raw sql {raw_timing}");
    println!(
        "  graphql: clicks {} conversions {} sales {} commissions {}",
        k["clicks"], k["conversions"], k["totalSales"], k["commissionsEarned"]
    );
    println!(
        "  raw sql: clicks {} conversions {} sales \"{}\" commissions \"{}\"\n",
        raw_rows[0].clicks, raw_rows[0].conversions, raw_rows[0].sales, raw_rows[0].commission
    );

    // 2. The offers table, 50 offers, every KPI column, by commissions earned.
    let query = format!(
        "{{ offers(first: 50, sort: {{ field: COMMISSIONS_EARNED, direction: DESC }}) {{ totalCount edges {{ node {{ id name type status kpis {{ {KPIS} }} }} }} }} }}"
    );
    let (timing, table) = time(query, json!({})).await;
    let (raw_timing, raw_rows) = raw(raw_sql(Group::Offer, "", 50, &start)).await;
    let nodes = table["data"]["offers"]["edges"].as_array().unwrap();
    let same_order = nodes
        .iter()
        .zip(&raw_rows)
        .filter(|(n, r)| n["node"]["id"] == format!("offer_{}", r.id))
        .count();
    println!("offers table (50)    graphql {timing}");
    println!("                     raw sql {raw_timing}");
    println!(
        "  first row graphql: {} clicks {} conversions {} commissions {}",
        nodes[0]["node"]["id"],
        nodes[0]["node"]["kpis"]["clicks"],
        nodes[0]["node"]["kpis"]["conversions"],
        nodes[0]["node"]["kpis"]["commissionsEarned"]
    );
    println!(
        "  first row raw sql: \"offer_{}\" clicks {} conversions {} commissions \"{}\"",
        raw_rows[0].id, raw_rows[0].clicks, raw_rows[0].conversions, raw_rows[0].commission
    );
    println!("  rows in the same order: {same_order} of {}\n", raw_rows.len());

    // 3. The busiest offer's member table, 100 rows, every column.
    let busiest = nodes[0]["node"]["id"].as_str().unwrap().to_string();
    let offer_number: i64 = busiest.trim_start_matches("offer_").parse()?;
    let query = format!(
        "query($id: ID!) {{ offer(id: $id) {{ memberships(first: 100, sort: {{ field: COMMISSIONS_EARNED, direction: DESC }}) {{ totalCount edges {{ node {{ id active promoCode trackingUrl joinedAt member {{ name }} kpis {{ {KPIS} }} }} }} }} }} }}"
    );
    let (timing, members) = time(query, json!({ "id": busiest })).await;
    let (raw_timing, raw_rows) = raw(raw_sql(
        Group::Membership,
        &format!("AND o.id = {offer_number}"),
        100,
        &start,
    ))
    .await;
    let rows = members["data"]["offer"]["memberships"]["edges"].as_array().unwrap();
    let same_order = rows
        .iter()
        .zip(&raw_rows)
        .filter(|(n, r)| n["node"]["id"] == format!("membership_{}", r.id))
        .count();
    println!(
        "member table (100)   graphql {timing}   ({} memberships in the offer)",
        members["data"]["offer"]["memberships"]["totalCount"]
    );
    println!("                     raw sql {raw_timing}");
    println!(
        "  first row graphql: {} clicks {} commissions {}",
        rows[0]["node"]["id"], rows[0]["node"]["kpis"]["clicks"], rows[0]["node"]["kpis"]["commissionsEarned"]
    );
    println!(
        "  first row raw sql: \"membership_{}\" clicks {} commissions \"{}\"",
        raw_rows[0].id, raw_rows[0].clicks, raw_rows[0].commission
    );
    println!("  rows in the same order: {same_order} of {}\n", raw_rows.len());

    // 4. The home page's chart: the default KPIs per day.
    let query = "{ kpiSeries(interval: DAY) { start kpis { clicks conversions totalSales commissionsEarned } } }";
    let (timing, series) = time(query.to_string(), json!({})).await;
    let (raw_timing, raw_rows) = raw(raw_sql(Group::Day, "", 1_000, &start)).await;
    let points = series["data"]["kpiSeries"].as_array().unwrap();
    let same_days = points
        .iter()
        .zip(&raw_rows)
        .filter(|(p, r)| {
            let k = &p["kpis"];
            k["clicks"] == r.clicks
                && k["conversions"] == r.conversions
                && k["totalSales"] == r.sales.to_string()
                && k["commissionsEarned"] == r.commission.to_string()
        })
        .count();
    println!("home chart (by day)  graphql {timing}");
    println!("                     raw sql {raw_timing}");
    println!(
        "  days equal on all four figures: {same_days} of {} ({} points)",
        raw_rows.len(),
        points.len()
    );
    Ok(())
}
