use crate::common::{TestDb, count};

const TABLES: &str = "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'";

#[tokio::test]
async fn every_migration_runs_up_down_and_up_again() {
    let db = TestDb::empty().await;
    sales_tracking::db::run_migrations(&db.url()).await.unwrap();
    let mut conn = db.connect().await;
    let after_up = count(&mut conn, TABLES).await;
    assert!(after_up >= 17, "expected the whole data model, found {after_up} tables");

    sales_tracking::db::revert_all_migrations(&db.url()).await.unwrap();
    assert_eq!(count(&mut conn, TABLES).await, 0, "down.sql left tables behind");

    sales_tracking::db::run_migrations(&db.url()).await.unwrap();
    assert_eq!(count(&mut conn, TABLES).await, after_up);
    // Running again is a no-op, as at every start-up.
    sales_tracking::db::run_migrations(&db.url()).await.unwrap();
}

#[tokio::test]
async fn constraints_guard_the_data_even_past_the_api() {
    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    use diesel_async::RunQueryDsl;
    diesel::sql_query("INSERT INTO brands (slug, name, time_zone) VALUES ('b', 'B', 'UTC')")
        .execute(&mut conn)
        .await
        .unwrap();
    let refused = [
        "INSERT INTO brands (slug, name, time_zone) VALUES ('b', 'Again', 'UTC')",
        "INSERT INTO offers (brand_id, name, offer_type, payout_type, payout_percent, starts_on) SELECT id, 'X', 'SALES_LINK', 'PERCENT_OF_SALE', 10, current_date FROM brands",
        "INSERT INTO offers (brand_id, name, offer_type, code_prefix, payout_type, payout_flat, starts_on) SELECT id, 'X', 'PROMO_CODE', 'X', 'FLAT_PER_CONVERSION', -5, current_date FROM brands",
        "INSERT INTO offers (brand_id, name, offer_type, code_prefix, payout_type, payout_percent, starts_on) SELECT id, 'X', 'PROMO_CODE', 'X', 'PERCENT_OF_SALE', 101, current_date FROM brands",
        "INSERT INTO offers (brand_id, name, offer_type, code_prefix, payout_type, payout_percent, starts_on, status) SELECT id, 'X', 'PROMO_CODE', 'X', 'PERCENT_OF_SALE', 10, current_date, 'EXPIRED' FROM brands",
        "INSERT INTO members (brand_id, name, email) SELECT id, 'A', 'no-at-sign' FROM brands",
        "INSERT INTO api_keys (brand_id, role, key_hash, key_prefix) SELECT id, 'OWNER', sha256('x'), 'x' FROM brands",
    ];
    for sql in refused {
        assert!(
            diesel::sql_query(sql).execute(&mut conn).await.is_err(),
            "accepted: {sql}"
        );
    }
}
