//! Report figures, read from the daily rollups and the ledger, never raw events.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Date, Nullable, Numeric, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use super::DbResult;
use super::schema::offer_projects;
use crate::domain::date_range::DateRange;
use crate::domain::kpis::MembershipFigures;

#[derive(QueryableByName)]
struct FigureRow {
    #[diesel(sql_type = BigInt)]
    membership_id: i64,
    #[diesel(sql_type = BigInt)]
    offer_id: i64,
    #[diesel(sql_type = Timestamptz)]
    joined_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    removed_at: Option<DateTime<Utc>>,
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

/// Every membership in scope with its figures for `range` (rollups) and now (ledger).
pub async fn membership_figures(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    scope: &Scope,
    range: DateRange,
    now: DateTime<Utc>,
) -> DbResult<Vec<MembershipFigures>> {
    let rows: Vec<FigureRow> = diesel::sql_query(
        "WITH scoped AS (
             SELECT id, offer_id, joined_at, removed_at FROM memberships
             WHERE brand_id = $1 AND (offer_id = ANY($2) OR id = ANY($3))),
         stats AS (
             SELECT s.membership_id, SUM(s.clicks)::bigint AS clicks, SUM(s.conversions)::bigint AS conversions,
                    SUM(s.sales) AS sales, SUM(s.commission) AS commission
             FROM membership_daily_stats s JOIN scoped ON scoped.id = s.membership_id
             WHERE s.brand_id = $1 AND s.day BETWEEN $4 AND $5
             GROUP BY s.membership_id),
         money AS (
             SELECT l.membership_id,
                    SUM(l.amount) FILTER (WHERE l.payment_item_id IS NULL AND l.payable_at <= $6) AS due,
                    SUM(l.amount) FILTER (WHERE l.payment_item_id IS NOT NULL) AS paid
             FROM ledger_entries l JOIN scoped ON scoped.id = l.membership_id
             WHERE l.brand_id = $1
             GROUP BY l.membership_id)
         SELECT scoped.id AS membership_id, scoped.offer_id, scoped.joined_at, scoped.removed_at,
                COALESCE(stats.clicks, 0) AS clicks, COALESCE(stats.conversions, 0) AS conversions,
                COALESCE(stats.sales, 0) AS sales, COALESCE(stats.commission, 0) AS commission,
                COALESCE(money.due, 0) AS due, COALESCE(money.paid, 0) AS paid
         FROM scoped
         LEFT JOIN stats ON stats.membership_id = scoped.id
         LEFT JOIN money ON money.membership_id = scoped.id",
    )
    .bind::<BigInt, _>(brand_id)
    .bind::<Array<BigInt>, _>(&scope.offer_ids)
    .bind::<Array<BigInt>, _>(&scope.membership_ids)
    .bind::<Date, _>(range.start)
    .bind::<Date, _>(range.end)
    .bind::<Timestamptz, _>(now)
    .load(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| MembershipFigures {
            membership_id: r.membership_id,
            offer_id: r.offer_id,
            joined_at: r.joined_at,
            removed_at: r.removed_at,
            clicks: r.clicks,
            conversions: r.conversions,
            sales: r.sales,
            commission: r.commission,
            due: r.due,
            paid: r.paid,
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
