//! Raw clicks by month: months are made ahead, the migration moved what was there,
//! and a retention drops whole old months while the KPIs keep every figure.

use chrono::{DateTime, Datelike, Duration, Utc};
use serde_json::json;

use crate::common::{TestApp, count};
use crate::tracking::shop;
use sales_tracking::app::clicks::{ClickRules, partitions, store_batch};
use sales_tracking::db::clicks::{NewClick, month_partitions};

fn month_name(at: DateTime<Utc>) -> String {
    format!("clicks_{}_{:02}", at.year(), at.month())
}

/// `n` human clicks on the membership at `at`.
async fn clicks_at(
    app: &TestApp,
    brand: sales_tracking::domain::ids::BrandId,
    membership: &str,
    at: DateTime<Utc>,
    n: usize,
) {
    let membership_id = sales_tracking::domain::public_id::parse(membership).unwrap();
    let batch = (0..n)
        .map(|i| NewClick {
            brand_id: brand,
            membership_id,
            id: uuid::Uuid::now_v7(),
            clicked_at: at + Duration::seconds(i as i64),
            ip_hash: None,
            user_agent: "Mozilla/5.0 (test)".into(),
            is_bot: false,
        })
        .collect();
    let mut conn = app.pool.get().await.unwrap();
    store_batch(&mut conn, batch, ClickRules::default()).await.unwrap();
}

async fn all_time_clicks(app: &TestApp, key: &str) -> i64 {
    app.ok(key, "{ kpis(dateRange: { preset: ALL_TIME }, filter: { statuses: [ACTIVE, PAUSED, EXPIRED, ARCHIVED] }) { clicks } }", json!({}))
        .await["kpis"]["clicks"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn clicks_land_in_their_month_and_months_ahead_exist() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let now = Utc::now();
    partitions::keep(&app.pool, None, now).await.unwrap();
    let mut conn = app.db.connect().await;
    let months = month_partitions(&mut conn).await.unwrap();
    for ahead in 0..=partitions::MONTHS_AHEAD {
        let month = now.checked_add_months(chrono::Months::new(ahead)).unwrap();
        assert!(
            months.contains(&month_name(month)),
            "{} in {months:?}",
            month_name(month)
        );
    }
    let (status, _) = app.get(&format!("/r/{}", shop.link_code)).await;
    assert_eq!(status.as_u16(), 302);
    let stored = async || {
        count(
            &mut app.db.connect().await,
            &format!("SELECT count(*) AS n FROM {}", month_name(Utc::now())),
        )
        .await
    };
    let started = std::time::Instant::now();
    while stored().await < 1 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the click reached its month"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM clicks_default").await, 0);
    // Storing the same click twice still stores it once (the key holds its time).
    let membership_id = sales_tracking::domain::public_id::parse(&shop.link_membership).unwrap();
    let click = NewClick {
        brand_id: shop.brand.id,
        membership_id,
        id: uuid::Uuid::now_v7(),
        clicked_at: now,
        ip_hash: None,
        user_agent: "Mozilla/5.0".into(),
        is_bot: false,
    };
    let mut pooled = app.pool.get().await.unwrap();
    store_batch(&mut pooled, vec![click.clone()], ClickRules::default())
        .await
        .unwrap();
    store_batch(&mut pooled, vec![click], ClickRules::default())
        .await
        .unwrap();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM clicks").await, 2);
}

#[tokio::test]
async fn the_migration_moves_existing_clicks_into_their_months() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let now = Utc::now();
    for months_back in [0, 2, 5] {
        let at = now.checked_sub_months(chrono::Months::new(months_back)).unwrap();
        clicks_at(&app, shop.brand.id, &shop.link_membership, at, 3).await;
    }
    sales_tracking::db::revert_migrations_from(&app.db.url(), "20261203000030")
        .await
        .unwrap();
    let mut conn = app.db.connect().await;
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM clicks").await, 9);
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM pg_partitioned_table WHERE partrelid = 'clicks'::regclass"
        )
        .await,
        0,
        "reverted to one table"
    );
    sales_tracking::db::run_migrations(&app.db.url()).await.unwrap();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM clicks").await, 9);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM clicks_default").await, 0);
    for months_back in [0, 2, 5] {
        let at = now.checked_sub_months(chrono::Months::new(months_back)).unwrap();
        assert_eq!(
            count(&mut conn, &format!("SELECT count(*) AS n FROM {}", month_name(at))).await,
            3
        );
    }
    crate::common::assert_summaries_rebuild(&mut conn).await;
}

#[tokio::test]
async fn retention_drops_old_months_of_raw_clicks_and_the_kpis_keep_them() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let admin = &shop.brand.admin;
    let now = Utc::now();
    partitions::keep(&app.pool, None, now).await.unwrap();
    let old = now.checked_sub_months(chrono::Months::new(6)).unwrap();
    let recent = now - Duration::days(1);
    clicks_at(&app, shop.brand.id, &shop.link_membership, old, 4).await;
    clicks_at(&app, shop.brand.id, &shop.link_membership, recent, 2).await;
    assert_eq!(all_time_clicks(&app, admin).await, 6);

    partitions::keep(&app.pool, Some(3), now).await.unwrap();
    let mut conn = app.db.connect().await;
    let months = month_partitions(&mut conn).await.unwrap();
    assert!(!months.contains(&month_name(old)), "{months:?}");
    assert!(months.contains(&month_name(now)));
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM clicks").await,
        2,
        "raw clicks older than 3 months are gone"
    );
    assert_eq!(all_time_clicks(&app, admin).await, 6, "the rollups keep every figure");
    // Checked against raw events over the days still kept.
    crate::common::assert_summaries_rebuild(&mut conn).await;
    // A second round (another server's, say) changes nothing.
    partitions::keep(&app.pool, Some(3), now).await.unwrap();
    assert_eq!(all_time_clicks(&app, admin).await, 6);
}
