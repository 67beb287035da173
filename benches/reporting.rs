//! Reporting benchmark, over HTTP against the release server (`serve`, started here
//! on the seeded database): the default `kpis`, the offers table (50 offers, every
//! KPI column), the busiest offer's member table (100 rows, every column) and the
//! home page's chart (the default KPIs per day), each over the default six months,
//! over ALL_TIME, and with every filter at once; next to the same answers computed
//! by plain SQL over the raw events, and with the server's resident memory. Run it
//! with `bench/reporting.sh`.

use std::time::{Duration, Instant};

use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

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

/// A `Money` field as a number (so that "0" and "0.00" are equal).
fn money(value: &Value) -> rust_decimal::Decimal {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(rust_decimal::Decimal::MIN)
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

/// The release server, started on the seeded database; killed when dropped.
struct Server {
    child: std::process::Child,
    base: String,
    /// A spool directory of its own (another server may hold the default one),
    /// removed once the server is killed.
    _spool: tempfile::TempDir,
}

impl Server {
    async fn start(database_url: &str) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let bin = std::env::var("SALES_TRACKING_BIN").unwrap_or_else(|_| "target/release/sales-tracking".into());
        let spool = tempfile::tempdir()?;
        let child = std::process::Command::new(&bin)
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .arg("--spool-dir")
            .arg(spool.path())
            .env("DATABASE_URL", database_url)
            .env("RUST_LOG", "warn")
            // No exchange-rates job reaching out for the ECB during the timings.
            .env("FX_RATES_URL", "none")
            // One client asking in a loop is not an abuser: no per-key budget here.
            .env("RATE_LIMIT_POINTS_PER_SECOND", "0")
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {bin} (build it with `cargo build --release`): {e}"))?;
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _spool: spool,
        };
        for _ in 0..200 {
            if reqwest::get(format!("{}/livez", server.base))
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("the server did not answer /livez")
    }

    /// Resident memory now and at its peak, in MiB, from /proc.
    fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
                .map_or(0, |kb| kb / 1024)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A report request to time, with where the raw SQL looks.
struct Scenario {
    name: &'static str,
    /// The `dateRange` argument.
    range: Value,
    /// The `filter` argument.
    filter: Value,
    /// The raw SQL's extra condition on offers (`o`).
    where_offer: String,
    /// Which offers the filter's KPI bounds keep, from the raw rows.
    keeps: fn(&Row) -> bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL")
        .map_err(|_| anyhow::anyhow!("set DATABASE_URL to a database made by `sales-tracking seed`"))?;
    let pool = db::connect_pool(&url, 8)?;
    let mut conn = pool.get().await?;
    let brand = brands::find_by_slug(&mut conn, "generated").await?;
    let (_, key) = api_keys::create(&mut conn, brand.id, Role::Analyst, "bench").await?;
    let project: i64 = {
        #[derive(diesel::QueryableByName)]
        struct Id {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            id: i64,
        }
        let found: Id = diesel::sql_query(format!(
            "SELECT min(id) AS id FROM projects WHERE brand_id = {}",
            brand.id.0
        ))
        .get_result(&mut conn)
        .await?;
        found.id
    };
    let server = Server::start(&url).await?;
    let client = reqwest::Client::new();
    let call = |query: String, variables: Value| {
        let client = client.clone();
        let key = key.clone();
        let endpoint = format!("{}/graphql", server.base);
        async move {
            let started = Instant::now();
            let response = client
                .post(endpoint)
                .bearer_auth(key)
                .json(&json!({ "query": query, "variables": variables }))
                .send()
                .await
                .unwrap();
            let bytes = response.bytes().await.unwrap();
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
    // At 100M events one pass of plain SQL takes tens of seconds: BENCH_RAW_RUNS=1.
    let raw_runs: usize = std::env::var("BENCH_RAW_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(3);
    let raw = |sql: String| {
        let pool = pool.clone();
        async move {
            let mut conn = pool.get().await.unwrap();
            let mut times = Vec::new();
            let mut rows: Vec<Row> = Vec::new();
            for _ in 0..raw_runs {
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
            b = brand.id.0
        ))
        .get_result(&mut conn)
        .await?;
        (s.clicks, s.conversions, s.members)
    };
    println!(
        "data: {} clicks, {} conversions, {} members; over HTTP to the release server; {RUNS} timed runs each after 3 warm-ups; raw SQL {raw_runs} run(s)\n",
        counts.0, counts.1, counts.2
    );

    let scenarios = [
        Scenario {
            name: "six months",
            range: Value::Null,
            filter: Value::Null,
            where_offer: String::new(),
            keeps: |_| true,
        },
        Scenario {
            name: "all time",
            range: json!({ "preset": "ALL_TIME" }),
            filter: Value::Null,
            where_offer: String::new(),
            keeps: |_| true,
        },
        Scenario {
            name: "every filter",
            range: Value::Null,
            filter: json!({
                "statuses": ["ACTIVE", "PAUSED"],
                "types": ["SALES_LINK", "PROMO_CODE"],
                "projectIds": [format!("project_{project}")],
                "conversions": { "min": 1 },
                "sales": { "min": "0.01" },
            }),
            where_offer: format!("AND o.id IN (SELECT offer_id FROM offer_projects WHERE project_id = {project})"),
            keeps: |row| row.conversions >= 1 && row.sales >= rust_decimal::Decimal::new(1, 2),
        },
    ];
    let mut table = Vec::new();
    for scenario in &scenarios {
        println!("== {} ==", scenario.name);
        let vars = json!({ "r": scenario.range, "f": scenario.filter });

        // 1. The KPIs above the offers table.
        let (timing, kpis) = time(
            format!("query($r: DateRangeInput, $f: OfferFilter) {{ kpis(dateRange: $r, filter: $f) {{ dateRange {{ start end }} {KPIS} }} }}"),
            vars.clone(),
        )
        .await;
        let start = kpis["data"]["kpis"]["dateRange"]["start"].as_str().unwrap().to_string();
        let (raw_timing, per_offer) = raw(raw_sql(Group::Offer, &scenario.where_offer, 1_000_000, &start)).await;
        let kept: Vec<&Row> = per_offer.iter().filter(|r| (scenario.keeps)(r)).collect();
        let k = &kpis["data"]["kpis"];
        let same = k["clicks"] == kept.iter().map(|r| r.clicks).sum::<i64>()
            && k["conversions"] == kept.iter().map(|r| r.conversions).sum::<i64>()
            && money(&k["totalSales"]) == kept.iter().map(|r| r.sales).sum::<rust_decimal::Decimal>()
            && money(&k["commissionsEarned"]) == kept.iter().map(|r| r.commission).sum::<rust_decimal::Decimal>();
        println!("kpis                 graphql {timing}\n                     raw sql {raw_timing}");
        println!(
            "  graphql: clicks {} conversions {} sales {} commissions {}; equal to raw SQL: {same}\n",
            k["clicks"], k["conversions"], k["totalSales"], k["commissionsEarned"]
        );
        if !same {
            println!(
                "  raw SQL: clicks {} conversions {} sales {} commissions {}\n",
                kept.iter().map(|r| r.clicks).sum::<i64>(),
                kept.iter().map(|r| r.conversions).sum::<i64>(),
                kept.iter().map(|r| r.sales).sum::<rust_decimal::Decimal>(),
                kept.iter().map(|r| r.commission).sum::<rust_decimal::Decimal>()
            );
        }
        table.push((scenario.name, "kpis", timing.clone(), raw_timing.clone(), same));

        // 2. The offers table, every KPI column, by commissions earned.
        let query = format!(
            "query($r: DateRangeInput, $f: OfferFilter) {{ offers(first: 50, dateRange: $r, filter: $f, sort: {{ field: COMMISSIONS_EARNED, direction: DESC }}) {{ totalCount edges {{ node {{ id name type status kpis {{ {KPIS} }} }} }} }} }}"
        );
        let (timing, offers) = time(query, vars.clone()).await;
        let nodes = offers["data"]["offers"]["edges"].as_array().unwrap();
        let same_rows = nodes
            .iter()
            .zip(&kept)
            .filter(|(n, r)| {
                n["node"]["id"] == format!("offer_{}", r.id)
                    && n["node"]["kpis"]["clicks"] == r.clicks
                    && money(&n["node"]["kpis"]["commissionsEarned"]) == r.commission
            })
            .count();
        let same = same_rows == kept.len().min(50) && nodes.len() == kept.len().min(50);
        println!("offers table         graphql {timing}   (same raw SQL as kpis)");
        println!(
            "  {same_rows} of {} rows equal, in the same order: {same}\n",
            kept.len().min(50)
        );
        table.push((scenario.name, "offers table", timing, raw_timing, same));

        // 3. The busiest offer's member table, 100 rows, every column.
        let busiest = nodes[0]["node"]["id"].as_str().unwrap().to_string();
        let offer_number: i64 = busiest.trim_start_matches("offer_").parse()?;
        let query = format!(
            "query($id: ID!, $r: DateRangeInput) {{ offer(id: $id) {{ memberships(first: 100, dateRange: $r, sort: {{ field: COMMISSIONS_EARNED, direction: DESC }}) {{ totalCount edges {{ node {{ id active promoCode trackingUrl joinedAt member {{ name }} kpis {{ {KPIS} }} }} }} }} }} }}"
        );
        let (timing, members) = time(query, json!({ "id": busiest, "r": scenario.range })).await;
        let (raw_timing, raw_rows) = raw(raw_sql(
            Group::Membership,
            &format!("AND o.id = {offer_number}"),
            100,
            &start,
        ))
        .await;
        let rows = members["data"]["offer"]["memberships"]["edges"].as_array().unwrap();
        let same_rows = rows
            .iter()
            .zip(&raw_rows)
            .filter(|(n, r)| {
                n["node"]["id"] == format!("membership_{}", r.id)
                    && n["node"]["kpis"]["clicks"] == r.clicks
                    && money(&n["node"]["kpis"]["commissionsEarned"]) == r.commission
            })
            .count();
        let same = same_rows == raw_rows.len() && rows.len() == raw_rows.len();
        println!(
            "member table (100)   graphql {timing}   ({} memberships in the offer)\n                     raw sql {raw_timing}",
            members["data"]["offer"]["memberships"]["totalCount"]
        );
        println!(
            "  {same_rows} of {} rows equal, in the same order: {same}\n",
            raw_rows.len()
        );
        table.push((scenario.name, "member table", timing, raw_timing, same));

        // 4. The home page's chart: the default KPIs per day.
        let query = "query($r: DateRangeInput, $f: OfferFilter) { kpiSeries(dateRange: $r, filter: $f, interval: DAY) { start kpis { clicks conversions totalSales commissionsEarned } } }";
        let (timing, series) = time(query.to_string(), vars.clone()).await;
        // A chart covers the offers the filter keeps, KPI bounds included.
        let kept_ids: Vec<String> = kept.iter().map(|r| r.id.to_string()).collect();
        let chart_where = format!("{} AND o.id IN ({})", scenario.where_offer, kept_ids.join(","));
        let points = series["data"]["kpiSeries"].as_array().unwrap();
        // An ALL_TIME chart starts at the brand's first activity.
        let first_day = points[0]["start"].as_str().unwrap().to_string();
        let (raw_timing, raw_rows) = raw(raw_sql(Group::Day, &chart_where, 100_000, &first_day)).await;
        let same_days = points
            .iter()
            .zip(&raw_rows)
            .filter(|(p, r)| {
                let k = &p["kpis"];
                k["clicks"] == r.clicks
                    && k["conversions"] == r.conversions
                    && money(&k["totalSales"]) == r.sales
                    && money(&k["commissionsEarned"]) == r.commission
            })
            .count();
        let same = same_days == raw_rows.len() && points.len() == raw_rows.len();
        println!("chart (by day)       graphql {timing}\n                     raw sql {raw_timing}");
        println!(
            "  {same_days} of {} days equal on all four figures: {same}\n",
            raw_rows.len()
        );
        table.push((scenario.name, "chart by day", timing, raw_timing, same));
    }
    let (rss, peak) = server.memory();
    println!("server resident memory: {rss} MiB now, {peak} MiB at its peak\n");
    println!("| range / filter | request | GraphQL over HTTP | raw-event SQL | same answer |");
    println!("| --- | --- | --- | --- | --- |");
    for (scenario, request, timing, raw_timing, same) in table {
        println!(
            "| {scenario} | {request} | {timing} | {raw_timing} | {} |",
            if same { "yes" } else { "NO" }
        );
    }
    Ok(())
}
