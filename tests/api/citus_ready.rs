//! The schema could be distributed by brand (Citus's `create_distributed_table(t,
//! 'brand_id')`) without changes: every tenant table has `brand_id`, every key and
//! foreign key among tenant tables includes it, and no query joins tenant tables
//! without it. What is found before its brand is known lives in reference tables.

use std::collections::BTreeSet;
use std::path::Path;

use diesel::QueryableByName;
use diesel::sql_types::{Bool, Text};
use diesel_async::RunQueryDsl;

use crate::common::TestDb;

/// Replicated to every node: looked up before the brand is known, or global settings
/// (a Shopify store is found by its domain, an install by its state: Shopify's
/// app-level webhooks and the install callback name the shop, not the brand).
const REFERENCE_TABLES: [&str; 7] = [
    "brands",
    "api_keys",
    "link_codes",
    "click_retention",
    "shopify_stores",
    "shopify_installs",
    // Published rates, the same for every brand: replicated, not distributed.
    "exchange_rates",
];
/// Not part of the data: diesel's migration log, and the job queue (a local table
/// on the coordinator under Citus, like any queue of work for the servers).
const NOT_DATA: [&str; 2] = ["__diesel_schema_migrations", "jobs"];

#[derive(QueryableByName)]
struct Table {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    has_brand_id: bool,
}

#[derive(QueryableByName)]
struct Key {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    definition: String,
    #[diesel(sql_type = Text)]
    referenced: String,
}

async fn tables(conn: &mut diesel_async::AsyncPgConnection) -> Vec<Table> {
    diesel::sql_query(
        "SELECT c.relname::text AS name,
                EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'brand_id' AND NOT a.attisdropped) AS has_brand_id
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1",
    )
    .load(conn)
    .await
    .unwrap()
}

/// Primary keys, unique constraints, unique indexes and foreign keys, with their columns.
async fn keys(conn: &mut diesel_async::AsyncPgConnection) -> Vec<Key> {
    diesel::sql_query(
        "SELECT c.relname::text AS table_name, con.conname::text AS name, pg_get_constraintdef(con.oid) AS definition,
                COALESCE(r.relname::text, '') AS referenced
         FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_class r ON r.oid = con.confrelid
         WHERE n.nspname = 'public' AND con.contype IN ('p', 'u', 'f')
         UNION ALL
         SELECT c.relname::text, i.relname::text, pg_get_indexdef(i.oid), ''
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND x.indisunique
           AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.oid)",
    )
    .load(conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn every_tenant_key_and_reference_includes_brand_id() {
    let db = TestDb::new().await;
    let mut conn = db.connect().await;
    let tables = tables(&mut conn).await;
    let tenant: BTreeSet<&str> = tables
        .iter()
        .filter(|t| !REFERENCE_TABLES.contains(&t.name.as_str()) && !NOT_DATA.contains(&t.name.as_str()))
        .map(|t| t.name.as_str())
        .collect();
    let without_brand: Vec<&str> = tables
        .iter()
        .filter(|t| tenant.contains(t.name.as_str()) && !t.has_brand_id)
        .map(|t| t.name.as_str())
        .collect();
    assert!(
        without_brand.is_empty(),
        "tenant tables without brand_id: {without_brand:?}"
    );
    assert!(tenant.len() > 20, "{tenant:?}");

    let mut broken = Vec::new();
    for key in keys(&mut conn).await {
        let table = key.table_name.as_str();
        if !tenant.contains(table) {
            // A reference table may point only at reference tables.
            if REFERENCE_TABLES.contains(&table)
                && !key.referenced.is_empty()
                && tenant.contains(key.referenced.as_str())
            {
                broken.push(format!(
                    "{table}.{}: a reference table points at a tenant table",
                    key.name
                ));
            }
            continue;
        }
        let is_foreign = key.definition.starts_with("FOREIGN KEY");
        if is_foreign && REFERENCE_TABLES.contains(&key.referenced.as_str()) {
            continue;
        }
        // Both column lists of a foreign key, the one list of any other key.
        let lists: Vec<&str> = key
            .definition
            .split('(')
            .skip(1)
            .map(|rest| rest.split(')').next().unwrap_or(""))
            .collect();
        let wanted = if is_foreign { 2 } else { 1 };
        let with_brand = lists
            .iter()
            .take(wanted)
            .filter(|cols| cols.contains("brand_id"))
            .count();
        if with_brand < wanted {
            broken.push(format!("{table}.{}: {}", key.name, key.definition));
        }
    }
    assert!(
        broken.is_empty(),
        "keys that do not include brand_id:\n{}",
        broken.join("\n")
    );
}

/// Tenant tables named after `JOIN` in SQL text, or in a diesel `*_join(table…)`.
fn joined_tables<'a>(text: &'a str, tenant: &[&str]) -> Vec<(usize, &'a str)> {
    let mut found = Vec::new();
    for (offset, _) in text.match_indices("JOIN ") {
        let name = text[offset + 5..].split_whitespace().next().unwrap_or("");
        if tenant.contains(&name) {
            found.push((offset, &text[offset..]));
        }
    }
    for pattern in ["inner_join(", "left_join("] {
        for (offset, _) in text.match_indices(pattern) {
            let name = text[offset + pattern.len()..]
                .trim_start()
                .split("::")
                .next()
                .unwrap_or("");
            if tenant.contains(&name) {
                found.push((offset, &text[offset..]));
            }
        }
    }
    found
}

#[test]
fn no_query_joins_tenant_tables_without_brand_id() {
    let tenant = [
        "clicks",
        "click_visitors",
        "conversions",
        "conversion_adjustments",
        "ledger_entries",
        "members",
        "memberships",
        "offers",
        "offer_projects",
        "projects",
        "promo_codes",
        "payments",
        "payment_items",
        "rewards",
        "reward_rules",
        "email_outbox",
        "email_attempts",
        "audit_events",
        "table_columns",
        "webhook_deliveries",
        "membership_daily_stats",
        "membership_monthly_stats",
        "offer_daily_stats",
        "offer_monthly_stats",
        "membership_balances",
        "offer_balances",
        "offer_member_counts",
        "offer_converting_members",
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![root.join("fixtures/seed.rs")];
    for entry in std::fs::read_dir(root.join("db")).unwrap() {
        files.push(entry.unwrap().path());
    }
    let mut joins = 0;
    let mut missing = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (offset, rest) in joined_tables(&text, &tenant) {
            joins += 1;
            // The join's condition: up to the next clause of the statement.
            let end = [
                "WHERE",
                "GROUP BY",
                "JOIN ",
                ".inner_join(",
                ".left_join(",
                ".filter(",
                ".select(",
                "\n\n",
                ";",
            ]
            .iter()
            .filter_map(|stop| rest[5..].find(stop).map(|at| at + 5))
            .min()
            .unwrap_or(rest.len());
            let condition = &rest[..end];
            if !condition.contains("brand_id") {
                let line = text[..offset].lines().count();
                missing.push(format!("{}:{line}: {}", file.display(), condition.trim()));
            }
        }
    }
    assert!(joins > 20, "the scan finds the joins ({joins})");
    assert!(missing.is_empty(), "joins without brand_id:\n{}", missing.join("\n"));
}
