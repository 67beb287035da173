use std::collections::BTreeMap;

use diesel_async::RunQueryDsl;

use crate::common::{TestDb, count};

/// The database's schema as `pg_dump --schema-only` writes it, without the
/// migrations bookkeeping table, comments, and the random `\restrict` keys of
/// newer pg_dump releases.
fn schema_dump(url: &str) -> String {
    let bin = sales_tracking::dev::local_postgres::find_bin_dir().expect("PostgreSQL binaries");
    let output = std::process::Command::new(bin.join("pg_dump"))
        .args([
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            "--exclude-table=__diesel_schema_migrations",
        ])
        .arg(url)
        .output()
        .expect("pg_dump runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with("--") && !line.starts_with("\\restrict") && !line.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each table of `src/db/schema.rs`, with its columns in order and whether each is nullable.
fn tables_in_schema_rs() -> BTreeMap<String, Vec<(String, bool)>> {
    let text = include_str!("../../src/db/schema.rs");
    let mut tables = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_suffix('{').and_then(|head| head.split_whitespace().next()) {
            if !name.starts_with("diesel::") {
                current = Some(name.to_string());
                tables.insert(name.to_string(), Vec::new());
            }
            continue;
        }
        if let (Some(table), Some((column, ty))) = (&current, line.split_once(" -> ")) {
            let column = column.trim().trim_start_matches("r#").to_string();
            tables
                .get_mut(table)
                .unwrap()
                .push((column, ty.starts_with("Nullable<")));
        }
        if line == "}" {
            current = None;
        }
    }
    tables
}

#[derive(diesel::QueryableByName)]
struct Column {
    #[diesel(sql_type = diesel::sql_types::Text)]
    table_name: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    column_name: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    nullable: bool,
}

#[tokio::test]
async fn schema_rs_matches_the_migrated_database() {
    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    let columns: Vec<Column> = diesel::sql_query(
        "SELECT table_name::text, column_name::text, is_nullable = 'YES' AS nullable
         FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'
           AND table_name IN (SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE')
           -- A partition is its table's (clicks by month): schema.rs has the table once.
           AND table_name NOT IN (SELECT relname FROM pg_class WHERE relispartition)
         ORDER BY table_name, ordinal_position",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let mut database: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
    for column in columns {
        database
            .entry(column.table_name)
            .or_default()
            .push((column.column_name, column.nullable));
    }
    let generated = tables_in_schema_rs();
    assert!(generated.len() >= 17, "{generated:?}");
    assert_eq!(
        generated, database,
        "src/db/schema.rs differs from the migrated database: run `diesel print-schema > src/db/schema.rs`"
    );
}

const TABLES: &str = "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'";

#[tokio::test]
async fn every_migration_runs_up_down_and_up_again() {
    let db = TestDb::empty().await;
    sales_tracking::db::run_migrations(&db.url()).await.unwrap();
    let mut conn = db.connect().await;
    let after_up = count(&mut conn, TABLES).await;
    assert!(after_up >= 17, "expected the whole data model, found {after_up} tables");

    let first_up = schema_dump(&db.url());
    assert!(first_up.contains("CREATE TABLE public.clicks"), "{first_up}");

    sales_tracking::db::revert_all_migrations(&db.url()).await.unwrap();
    assert_eq!(count(&mut conn, TABLES).await, 0, "down.sql left tables behind");
    let after_down = schema_dump(&db.url());
    for object in [
        "CREATE TABLE",
        "CREATE FUNCTION",
        "CREATE TYPE",
        "CREATE SEQUENCE",
        "CREATE INDEX",
        "CREATE VIEW",
    ] {
        assert!(
            !after_down.contains(object),
            "down.sql left {object} behind:\n{after_down}"
        );
    }

    sales_tracking::db::run_migrations(&db.url()).await.unwrap();
    assert_eq!(count(&mut conn, TABLES).await, after_up);
    // The whole schema, not only its tables: columns, types, defaults, constraints,
    // indexes, triggers and functions come back exactly as the first run made them.
    let second_up = schema_dump(&db.url());
    let differing: Vec<_> = first_up
        .lines()
        .zip(second_up.lines())
        .filter(|(a, b)| a != b)
        .take(5)
        .collect();
    assert!(second_up == first_up, "up, down, up differs from up: {differing:?}");
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
