//! Report figures, read from the monthly and daily rollups and the ledger
//! balances, never raw events.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Date, Nullable, Numeric, Text, Timestamptz};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use super::schema::offer_projects;
use super::{DbError, DbResult};
use crate::domain::date_range::DateRange;
use crate::domain::kpis::MembershipFigures;

#[derive(QueryableByName)]
struct ScopedMembership {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    offer_id: i64,
    #[diesel(sql_type = Timestamptz)]
    joined_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    removed_at: Option<DateTime<Utc>>,
}

#[derive(QueryableByName)]
struct Sums {
    #[diesel(sql_type = BigInt)]
    membership_id: i64,
    #[diesel(sql_type = BigInt)]
    clicks: i64,
    #[diesel(sql_type = BigInt)]
    conversions: i64,
    #[diesel(sql_type = Numeric)]
    sales: Decimal,
    #[diesel(sql_type = Numeric)]
    commission: Decimal,
    #[diesel(sql_type = Numeric)]
    due: Decimal,
    #[diesel(sql_type = Numeric)]
    paid: Decimal,
}

/// Which memberships to read: those of some offers, and/or some by id.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    pub offer_ids: Vec<i64>,
    pub membership_ids: Vec<i64>,
}

/// Above this many memberships, summing the whole brand and dropping the rest is
/// faster than filtering by id (PostgreSQL plans a long id list poorly).
const BRAND_WIDE_ABOVE: usize = 2_000;

/// Every membership in scope with its figures for `range` (rollups) and now (ledger).
/// Two statements, whatever the scope, in one read-only snapshot. Parallel plans
/// are turned off for them: on these few-thousand-row aggregates, starting
/// workers and merging their output cost more than they save (measured: 67 ms
/// with, 51 ms without, on the benchmark data).
pub async fn membership_figures(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    scope: &Scope,
    range: DateRange,
    now: DateTime<Utc>,
) -> DbResult<Vec<MembershipFigures>> {
    conn.build_transaction()
        .read_only()
        .run::<_, DbError, _>(|conn| {
            async move {
                diesel::sql_query("SET LOCAL max_parallel_workers_per_gather = 0")
                    .execute(conn)
                    .await?;
                read_figures(conn, brand_id, scope, range, now).await
            }
            .scope_boxed()
        })
        .await
}

async fn read_figures(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    scope: &Scope,
    range: DateRange,
    now: DateTime<Utc>,
) -> DbResult<Vec<MembershipFigures>> {
    let scoped: Vec<ScopedMembership> = diesel::sql_query(
        "SELECT id, offer_id, joined_at, removed_at FROM memberships WHERE brand_id = $1 AND (offer_id = ANY($2) OR id = ANY($3))",
    )
    .bind::<BigInt, _>(brand_id)
    .bind::<Array<BigInt>, _>(&scope.offer_ids)
    .bind::<Array<BigInt>, _>(&scope.membership_ids)
    .load(conn)
    .await?;
    let ids: Vec<i64> = scoped.iter().map(|m| m.id).collect();
    // An empty id list means "the whole brand" in the query below.
    let filter_ids: Vec<i64> = if ids.len() > BRAND_WIDE_ABOVE { Vec::new() } else { ids };
    // Whole months come from the monthly rollups, the partial ones from the days.
    let (first_month, after_last_month) = range.whole_months();
    let sums: Vec<Sums> = diesel::sql_query(
        "WITH days AS (
             SELECT membership_id, clicks, conversions, sales, commission
             FROM membership_monthly_stats
             WHERE brand_id = $1 AND month >= $6 AND month < $7 AND (cardinality($2::bigint[]) = 0 OR membership_id = ANY($2))
             UNION ALL
             SELECT membership_id, clicks, conversions, sales, commission
             FROM membership_daily_stats
             WHERE brand_id = $1 AND day >= $3 AND day < $6 AND (cardinality($2::bigint[]) = 0 OR membership_id = ANY($2))
             UNION ALL
             SELECT membership_id, clicks, conversions, sales, commission
             FROM membership_daily_stats
             WHERE brand_id = $1 AND day >= $7 AND day <= $4 AND (cardinality($2::bigint[]) = 0 OR membership_id = ANY($2))),
         stats AS (
             SELECT membership_id, SUM(clicks)::bigint AS clicks, SUM(conversions)::bigint AS conversions,
                    SUM(sales) AS sales, SUM(commission) AS commission
             FROM days GROUP BY membership_id),
         on_hold AS (
             SELECT membership_id, SUM(amount) AS amount
             FROM ledger_entries
             WHERE brand_id = $1 AND payment_item_id IS NULL AND payable_at > $5
               AND (cardinality($2::bigint[]) = 0 OR membership_id = ANY($2))
             GROUP BY membership_id),
         ledger AS (
             SELECT b.membership_id, b.unpaid - COALESCE(h.amount, 0) AS due, b.paid
             FROM membership_balances b LEFT JOIN on_hold h ON h.membership_id = b.membership_id
             WHERE b.brand_id = $1 AND (cardinality($2::bigint[]) = 0 OR b.membership_id = ANY($2)))
         SELECT COALESCE(stats.membership_id, ledger.membership_id) AS membership_id,
                COALESCE(stats.clicks, 0) AS clicks, COALESCE(stats.conversions, 0) AS conversions,
                COALESCE(stats.sales, 0) AS sales, COALESCE(stats.commission, 0) AS commission,
                COALESCE(ledger.due, 0) AS due, COALESCE(ledger.paid, 0) AS paid
         FROM stats FULL JOIN ledger ON ledger.membership_id = stats.membership_id",
    )
    .bind::<BigInt, _>(brand_id)
    .bind::<Array<BigInt>, _>(&filter_ids)
    .bind::<Date, _>(range.start)
    .bind::<Date, _>(range.end)
    .bind::<Timestamptz, _>(now)
    .bind::<Date, _>(first_month)
    .bind::<Date, _>(after_last_month)
    .load(conn)
    .await?;
    let mut by_membership: HashMap<i64, Sums> = sums.into_iter().map(|s| (s.membership_id, s)).collect();
    Ok(scoped
        .into_iter()
        .map(|m| {
            let sums = by_membership.remove(&m.id);
            MembershipFigures {
                membership_id: m.id,
                offer_id: m.offer_id,
                joined_at: m.joined_at,
                removed_at: m.removed_at,
                clicks: sums.as_ref().map_or(0, |s| s.clicks),
                conversions: sums.as_ref().map_or(0, |s| s.conversions),
                sales: sums.as_ref().map_or(Decimal::ZERO, |s| s.sales),
                commission: sums.as_ref().map_or(Decimal::ZERO, |s| s.commission),
                due: sums.as_ref().map_or(Decimal::ZERO, |s| s.due),
                paid: sums.as_ref().map_or(Decimal::ZERO, |s| s.paid),
            }
        })
        .collect())
}

/// One membership's rollup totals over one bucket of a series.
#[derive(QueryableByName, Clone, Debug)]
pub struct BucketRow {
    #[diesel(sql_type = Date)]
    pub bucket: NaiveDate,
    #[diesel(sql_type = BigInt)]
    pub membership_id: i64,
    #[diesel(sql_type = BigInt)]
    pub clicks: i64,
    #[diesel(sql_type = BigInt)]
    pub conversions: i64,
    #[diesel(sql_type = Numeric)]
    pub sales: Decimal,
    #[diesel(sql_type = Numeric)]
    pub commission: Decimal,
}

/// Rollups of the memberships summed per bucket (`day`, `week` starting Monday, or `month`).
pub async fn buckets(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    membership_ids: &[i64],
    range: DateRange,
    unit: &'static str,
) -> DbResult<Vec<BucketRow>> {
    Ok(diesel::sql_query(
        "SELECT date_trunc($5, day)::date AS bucket, membership_id,
                SUM(clicks)::bigint AS clicks, SUM(conversions)::bigint AS conversions,
                SUM(sales) AS sales, SUM(commission) AS commission
         FROM membership_daily_stats
         WHERE brand_id = $1 AND membership_id = ANY($2) AND day BETWEEN $3 AND $4
         GROUP BY 1, 2",
    )
    .bind::<BigInt, _>(brand_id)
    .bind::<Array<BigInt>, _>(membership_ids)
    .bind::<Date, _>(range.start)
    .bind::<Date, _>(range.end)
    .bind::<Text, _>(unit)
    .load(conn)
    .await?)
}

/// The projects each of the brand's offers is connected to.
pub async fn offer_project_ids(conn: &mut AsyncPgConnection, brand_id: i64) -> DbResult<HashMap<i64, Vec<i64>>> {
    let pairs: Vec<(i64, i64)> = offer_projects::table
        .filter(offer_projects::brand_id.eq(brand_id))
        .select((offer_projects::offer_id, offer_projects::project_id))
        .load(conn)
        .await?;
    let mut grouped: HashMap<i64, Vec<i64>> = HashMap::new();
    for (offer_id, project_id) in pairs {
        grouped.entry(offer_id).or_default().push(project_id);
    }
    Ok(grouped)
}
