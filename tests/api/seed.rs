use serde_json::json;

use sales_tracking::fixtures::seed::{SeedSize, seed};

use crate::common::{TestApp, count};

#[tokio::test]
async fn the_generator_is_deterministic_heavy_tailed_and_consistent() {
    let app = TestApp::new().await;
    let size = SeedSize {
        clicks: 20_000,
        conversions: 2_000,
        members: 200,
        offers: 10,
        seed: 11,
    };
    let (first, key) = seed(&app.pool, &app.db.url(), size).await.unwrap();
    let (second, _) = seed(&app.pool, &app.db.url(), size).await.unwrap();
    assert_eq!((first.as_str(), second.as_str()), ("generated", "generated-2"));
    let mut conn = app.db.connect().await;
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM clicks").await, 40_000);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM conversions").await, 4_000);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM pg_stat_user_tables WHERE relname IN ('clicks', 'conversions', 'ledger_entries') AND last_analyze IS NOT NULL"
        )
        .await,
        3,
        "the seed leaves fresh planner statistics"
    );
    crate::common::assert_summaries_rebuild(&mut conn).await;
    // The same seed, the same activity (ids aside).
    let per_brand = "SELECT count(DISTINCT x)::bigint AS n FROM (SELECT brand_id, sum(sale_amount) AS x FROM conversions GROUP BY brand_id) s";
    assert_eq!(
        count(&mut conn, per_brand).await,
        1,
        "both brands have the same total sales"
    );
    // Heavy tail: the busiest tenth of memberships gets most clicks.
    let top_share = count(
        &mut conn,
        "SELECT (100 * SUM(n) FILTER (WHERE rank <= total / 10) / SUM(n))::bigint AS n FROM (
           SELECT count(*) AS n, row_number() OVER (ORDER BY count(*) DESC) AS rank, count(*) OVER () AS total
           FROM clicks c JOIN memberships m ON m.id = c.membership_id JOIN brands b ON b.id = m.brand_id AND b.slug = 'generated'
           GROUP BY c.membership_id) per",
    )
    .await;
    assert!(
        top_share > 50,
        "the top 10% of link memberships got {top_share}% of clicks"
    );
    let kpis = app
        .ok(
            &key,
            "{ kpis(dateRange: { preset: LAST_12_MONTHS }) { conversions clicks } }",
            json!({}),
        )
        .await;
    assert!(kpis["kpis"]["conversions"].as_i64().unwrap() > 1_000);
}
