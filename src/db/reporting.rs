//! Report figures, read from the monthly and daily rollups and the ledger
//! balances, never raw events.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::serialize::ToSql;
use diesel::sql_types::{Array, BigInt, Bool, Date, Nullable, Numeric, Timestamptz};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use super::schema::offer_projects;
use super::{DbError, DbResult, converting};
use crate::domain::date_range::{DateRange, SeriesInterval};
use crate::domain::ids::{BrandId, MembershipId, OfferId, ProjectId};
use crate::domain::kpis::{Kpis, MembershipFigures};

#[derive(QueryableByName)]
struct ScopedMembership {
    #[diesel(sql_type = BigInt)]
    id: MembershipId,
    #[diesel(sql_type = BigInt)]
    offer_id: OfferId,
    #[diesel(sql_type = Timestamptz)]
    joined_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    removed_at: Option<DateTime<Utc>>,
}

#[derive(QueryableByName)]
struct Sums {
    #[diesel(sql_type = BigInt)]
    membership_id: MembershipId,
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
pub struct FigureScope {
    pub offer_ids: Vec<OfferId>,
    pub membership_ids: Vec<MembershipId>,
}

/// Above this many memberships, summing the whole brand and dropping the rest is
/// faster than filtering by id (PostgreSQL plans a long id list poorly).
const BRAND_WIDE_ABOVE: usize = 2_000;

/// Every membership in scope with its figures for `range` (rollups) and now (ledger).
/// Two statements, whatever the scope, in one snapshot.
pub async fn membership_figures(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    scope: &FigureScope,
    range: DateRange,
    now: DateTime<Utc>,
) -> DbResult<Vec<MembershipFigures>> {
    let scope = scope.clone();
    without_parallel_plans(conn, move |conn| {
        async move { read_figures(conn, brand_id, &scope, range, now).await }.scope_boxed()
    })
    .await
}

/// The memberships of some offers and some by id.
async fn scoped_memberships(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    offer_ids: &[OfferId],
    membership_ids: &[MembershipId],
) -> DbResult<Vec<ScopedMembership>> {
    let sql = "SELECT id, offer_id, joined_at, removed_at FROM memberships
               WHERE brand_id = $1 AND (offer_id = ANY($2) OR id = ANY($3))";
    Ok(diesel::sql_query(sql)
        .bind::<BigInt, _>(brand_id)
        .bind::<Array<BigInt>, _>(offer_ids)
        .bind::<Array<BigInt>, _>(membership_ids)
        .load(conn)
        .await?)
}

async fn read_figures(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    scope: &FigureScope,
    range: DateRange,
    now: DateTime<Utc>,
) -> DbResult<Vec<MembershipFigures>> {
    let scoped = scoped_memberships(conn, brand_id, &scope.offer_ids, &scope.membership_ids).await?;
    let ids: Vec<MembershipId> = scoped.iter().map(|m| m.id).collect();
    // An empty id list means "the whole brand" in the query below.
    let filter_ids: Vec<MembershipId> = if ids.len() > BRAND_WIDE_ABOVE { Vec::new() } else { ids };
    let in_scope = "(cardinality($2::bigint[]) = 0 OR membership_id = ANY($2))";
    let sql = format!(
        "WITH {},
         stats AS (
             SELECT membership_id, SUM(clicks)::bigint AS clicks, SUM(conversions)::bigint AS conversions,
                    SUM(sales) AS sales, SUM(commission) AS commission
             FROM ({}) days GROUP BY membership_id)
         SELECT COALESCE(stats.membership_id, ledger.membership_id) AS membership_id,
                COALESCE(stats.clicks, 0) AS clicks, COALESCE(stats.conversions, 0) AS conversions,
                COALESCE(stats.sales, 0) AS sales, COALESCE(stats.commission, 0) AS commission,
                COALESCE(ledger.due, 0) AS due, COALESCE(ledger.paid, 0) AS paid
         FROM stats FULL JOIN ledger ON ledger.membership_id = stats.membership_id",
        figure_ctes(in_scope),
        range_rows(
            &MEMBERSHIP_ROLLUPS,
            "membership_id, clicks, conversions, sales, commission",
            in_scope
        )
    );
    let sums: Vec<Sums> = with_figure_params(sql, brand_id, &filter_ids, range, now)
        .load(conn)
        .await?;
    let mut by_membership: HashMap<MembershipId, Sums> = sums.into_iter().map(|s| (s.membership_id, s)).collect();
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

/// The common table expressions of the memberships' figures, for the memberships
/// `memberships` selects (a condition on `membership_id`): `tail` (see `range_rows`),
/// `late` and `ledger`, each membership's balance due now and paid. Parameters: $1
/// brand, $3..$4 the range's days, $5 now, $6..$7 the whole months inside the range,
/// $8 whether the range covers its last month from the 1st to a day before its end.
fn figure_ctes(memberships: &str) -> String {
    format!(
        "{TAIL_CTE}, {},
         ledger AS (
             SELECT b.membership_id, b.unpaid - b.on_hold + COALESCE(l.amount, 0) AS due, b.paid
             FROM (SELECT * FROM membership_balances WHERE brand_id = $1 AND {memberships}) b
             LEFT JOIN late l ON l.membership_id = b.membership_id)",
        late_cte(memberships)
    )
}

/// Whether the range's last month can be read whole from its monthly row.
const TAIL_CTE: &str = "tail AS (
    SELECT $8::boolean AND NOT EXISTS (
        SELECT 1 FROM membership_daily_stats
        WHERE brand_id = $1 AND day > $4 AND day < ($7::date + interval '1 month')::date) AS whole)";

/// `late`: per membership, the unpaid entries that came due (by $5) since the maturity
/// job last ran, which the balances still count as on hold. A few rows at most: the
/// partial index holds only entries on hold, and this reads its oldest end.
fn late_cte(memberships: &str) -> String {
    format!(
        "late AS (
             SELECT membership_id, SUM(amount) AS amount
             FROM ledger_entries
             WHERE payment_item_id IS NULL AND NOT matured AND payable_at <= $5 AND brand_id = $1 AND {memberships}
             GROUP BY membership_id)"
    )
}

/// Where rows covering a range are kept: a table (or table expression) of whole
/// months with its month column, and one of days with its day column.
struct Periods {
    months: &'static str,
    month: &'static str,
    days: &'static str,
    day: &'static str,
}

/// The memberships' monthly and daily rollups.
const MEMBERSHIP_ROLLUPS: Periods = Periods {
    months: "membership_monthly_stats",
    month: "month",
    days: "membership_daily_stats",
    day: "day",
};

/// The offers' monthly and daily rollups.
const OFFER_ROLLUPS: Periods = Periods {
    months: "offer_monthly_stats",
    month: "month",
    days: "offer_daily_stats",
    day: "day",
};

/// The converting-member sets of offers, per month and per day.
const CONVERTING_SETS: Periods = Periods {
    months: "(SELECT * FROM offer_converting_members WHERE is_month) sets",
    month: "period_start",
    days: "(SELECT * FROM offer_converting_members WHERE NOT is_month) sets",
    day: "period_start",
};

/// The rows of `periods` that together cover the range, with `columns`, where
/// `condition` holds: whole months from the monthly rows, partial months from the
/// days. The last month, when partial, is read from its monthly row if nothing is
/// recorded after the range's end (`tail`; the usual case: a range that ends today).
fn range_rows(periods: &Periods, columns: &str, condition: &str) -> String {
    let Periods {
        months,
        month,
        days,
        day,
    } = periods;
    format!(
        "SELECT {columns} FROM {months}
         WHERE brand_id = $1 AND {month} >= $6 AND ({month} < $7 OR ({month} = $7 AND (SELECT whole FROM tail)))
           AND {condition}
         UNION ALL
         SELECT {columns} FROM {days}
         WHERE brand_id = $1 AND {day} >= $3 AND {day} < $6 AND {day} <= $4 AND {condition}
         UNION ALL
         SELECT {columns} FROM {days}
         WHERE brand_id = $1 AND {day} >= $7 AND {day} <= $4 AND NOT (SELECT whole FROM tail) AND {condition}"
    )
}

/// `sql` (built on `figure_ctes`) with the parameters $1..$8 bound; `ids`
/// (memberships' or offers', as `sql` reads them) is $2.
fn with_figure_params<'a, Id>(
    sql: String,
    brand_id: BrandId,
    ids: &'a [Id],
    range: DateRange,
    now: DateTime<Utc>,
) -> BoxedSqlQuery<'a, Pg, SqlQuery>
where
    Id: ToSql<BigInt, Pg> + Send + Sync,
{
    let (first_month, after_last_month) = range.whole_months();
    diesel::sql_query(sql)
        .into_boxed()
        .bind::<BigInt, _>(brand_id)
        .bind::<Array<BigInt>, _>(ids)
        .bind::<Date, _>(range.start)
        .bind::<Date, _>(range.end)
        .bind::<Timestamptz, _>(now)
        .bind::<Date, _>(first_month)
        .bind::<Date, _>(after_last_month)
        .bind::<Bool, _>(range.ends_inside_month())
}

#[derive(QueryableByName)]
struct OfferSums {
    #[diesel(sql_type = BigInt)]
    offer_id: OfferId,
    #[diesel(sql_type = BigInt)]
    members: i64,
    #[diesel(sql_type = BigInt)]
    conversions: i64,
    #[diesel(sql_type = BigInt)]
    clicks: i64,
    #[diesel(sql_type = Numeric)]
    sales: Decimal,
    #[diesel(sql_type = Numeric)]
    commission: Decimal,
    #[diesel(sql_type = Numeric)]
    payments_due: Decimal,
    #[diesel(sql_type = BigInt)]
    members_with_payments_due: i64,
    #[diesel(sql_type = Numeric)]
    paid: Decimal,
}

/// The KPIs of each offer for `range` (what `Kpis::of` computes, read from summaries):
/// clicks, conversions, sales and commission from the per-offer monthly and daily
/// rollups, Members with Conversions from the converting-member sets, the ledger
/// figures from the offer balances, and the member count from the offers' membership
/// counts. `start..end` is the range as
/// instants, for the member count.
pub async fn offer_kpis(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    offer_ids: &[OfferId],
    range: DateRange,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
) -> DbResult<HashMap<OfferId, Kpis>> {
    let sql = format!(
        "WITH {TAIL_CTE}, {},
         people AS (
             -- Every membership the offer had, less those that joined after the range
             -- and those removed before it: index ranges that are empty for a range up
             -- to today.
             SELECT c.offer_id,
                    c.memberships
                    - (SELECT count(*) FROM memberships m
                       WHERE m.brand_id = $1 AND m.offer_id = c.offer_id AND m.joined_at >= $10)
                    - (SELECT count(*) FROM memberships m
                       WHERE m.brand_id = $1 AND m.offer_id = c.offer_id AND m.removed_at < $9 AND m.joined_at < $10)
                      AS members
             FROM offer_member_counts c
             WHERE c.brand_id = $1 AND c.offer_id = ANY($2)),
         late_dues AS (
             -- Scalar subqueries: a few key lookups, where the planner would expect many rows.
             SELECT offer_id, due AS before, due + amount AS after
             FROM (SELECT l.amount,
                          (SELECT offer_id FROM memberships WHERE brand_id = $1 AND id = l.membership_id) AS offer_id,
                          (SELECT unpaid - on_hold FROM membership_balances
                           WHERE brand_id = $1 AND membership_id = l.membership_id) AS due
                   FROM late l) d),
         dues AS (
             SELECT o.offer_id,
                    o.payments_due + COALESCE(SUM(GREATEST(d.after, 0) - GREATEST(d.before, 0)), 0) AS payments_due,
                    o.members_with_payments_due + COALESCE(SUM((d.after > 0)::int - (d.before > 0)::int), 0) AS members_with_payments_due,
                    o.paid
             FROM offer_balances o LEFT JOIN late_dues d ON d.offer_id = o.offer_id
             WHERE o.brand_id = $1 AND o.offer_id = ANY($2)
             GROUP BY o.offer_id, o.payments_due, o.members_with_payments_due, o.paid),
         sums AS (
             SELECT offer_id, SUM(clicks)::bigint AS clicks, SUM(conversions)::bigint AS conversions,
                    SUM(sales) AS sales, SUM(commission) AS commission
             FROM ({}) r
             GROUP BY offer_id)
         SELECT p.offer_id, p.members,
                COALESCE(s.conversions, 0)::bigint AS conversions, COALESCE(s.clicks, 0)::bigint AS clicks,
                COALESCE(s.sales, 0) AS sales, COALESCE(s.commission, 0) AS commission,
                COALESCE(d.payments_due, 0) AS payments_due,
                COALESCE(d.members_with_payments_due, 0)::bigint AS members_with_payments_due,
                COALESCE(d.paid, 0) AS paid
         FROM people p LEFT JOIN sums s ON s.offer_id = p.offer_id LEFT JOIN dues d ON d.offer_id = p.offer_id",
        // Entries come due for a few memberships at most: read them brand-wide.
        late_cte("TRUE"),
        range_rows(
            &OFFER_ROLLUPS,
            "offer_id, clicks, conversions, sales, commission",
            "offer_id = ANY($2)"
        )
    );
    let offer_ids = offer_ids.to_vec();
    let (rows, converting): (Vec<OfferSums>, HashMap<OfferId, i64>) = without_parallel_plans(conn, move |conn| {
        async move {
            let rows = with_figure_params(sql, brand_id, &offer_ids, range, now)
                .bind::<Timestamptz, _>(start)
                .bind::<Timestamptz, _>(end)
                .load(conn)
                .await?;
            let sets = with_figure_params(
                format!(
                    "WITH {TAIL_CTE} {}",
                    range_rows(&CONVERTING_SETS, "offer_id, members", "offer_id = ANY($2)")
                ),
                brand_id,
                &offer_ids,
                range,
                now,
            )
            .load(conn)
            .await?;
            let converting = converting::count_members(sets)?;
            Ok((rows, converting))
        }
        .scope_boxed()
    })
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let kpis = Kpis {
                members: r.members,
                members_with_conversions: converting.get(&r.offer_id).copied().unwrap_or(0),
                conversions: r.conversions,
                clicks: r.clicks,
                total_sales: r.sales,
                commissions_earned: r.commission,
                payments_due: r.payments_due,
                members_with_payments_due: r.members_with_payments_due,
                paid: r.paid,
            };
            (r.offer_id, kpis)
        })
        .collect())
}

/// For this transaction only: no parallel plans, and a statement may run 4 s
/// before PostgreSQL cancels it (within the API's 5 s deadline for a query). One
/// statement, so a report costs one round trip more.
const REPORT_SETTINGS: &str = "SELECT set_config('max_parallel_workers_per_gather', '0', true), \
     set_config('statement_timeout', '4s', true)";

/// Runs report reads in one read-only snapshot (repeatable read, so that a report's
/// statements see the same data) with parallel plans off: on these
/// few-thousand-row aggregates, starting workers and merging their output costs
/// more than it saves (measured in psql on the benchmark data: 66 ms with, 51 ms without).
/// Each statement runs for at most 10 s; how many run at once is the size of the
/// report pool they take their connections from (`graphql::context::report_conn`).
async fn without_parallel_plans<T, F>(conn: &mut AsyncPgConnection, read: F) -> DbResult<T>
where
    T: Send,
    F: for<'c> FnOnce(
            &'c mut AsyncPgConnection,
        ) -> diesel_async::scoped_futures::ScopedBoxFuture<'static, 'c, DbResult<T>>
        + Send,
{
    conn.build_transaction()
        .read_only()
        .repeatable_read()
        .run::<_, DbError, _>(|conn| {
            async move {
                diesel::sql_query(REPORT_SETTINGS).execute(conn).await?;
                read(conn).await
            }
            .scope_boxed()
        })
        .await
}

/// Whose activity a series shows: some offers' or one membership's.
#[derive(Clone, Debug)]
pub enum SeriesScope {
    Offers(Vec<OfferId>),
    Membership(MembershipId),
}

impl SeriesScope {
    /// The offers and the memberships it names, as the series query's $2 and $3.
    fn ids(&self) -> (Vec<OfferId>, Vec<MembershipId>) {
        match self {
            SeriesScope::Offers(ids) => (ids.clone(), Vec::new()),
            SeriesScope::Membership(id) => (Vec::new(), vec![*id]),
        }
    }
}

/// The rollups of one bucket of a series, summed over its scope.
#[derive(QueryableByName, Clone, Debug)]
pub struct BucketRow {
    #[diesel(sql_type = Date)]
    pub bucket: NaiveDate,
    #[diesel(sql_type = BigInt)]
    pub clicks: i64,
    #[diesel(sql_type = BigInt)]
    pub conversions: i64,
    #[diesel(sql_type = Numeric)]
    pub sales: Decimal,
    #[diesel(sql_type = Numeric)]
    pub commission: Decimal,
    #[diesel(sql_type = BigInt)]
    pub members_with_conversions: i64,
}

/// `SeriesInterval::bucket_start` of the column `day`, as date arithmetic (no time zones).
fn bucket_start_sql(interval: SeriesInterval) -> &'static str {
    match interval {
        SeriesInterval::Day => "day",
        SeriesInterval::Week => "day - (EXTRACT(ISODOW FROM day)::int - 1)",
        SeriesInterval::Month => "day - (EXTRACT(DAY FROM day)::int - 1)",
    }
}

/// The scope's rollups per bucket: the sums from the per-offer rollups (or the
/// membership's own) and, when `count_converting`, how many of the scope's memberships
/// converted in each bucket (a distinct count, the one part that reads memberships'
/// rows). Buckets without activity are absent.
pub async fn buckets(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    scope: &SeriesScope,
    range: DateRange,
    interval: SeriesInterval,
    count_converting: bool,
) -> DbResult<Vec<BucketRow>> {
    let (offer_ids, membership_ids) = scope.ids();
    let bucket = bucket_start_sql(interval);
    let converting = if count_converting {
        format!(
            "SELECT {bucket} AS bucket, count(DISTINCT membership_id) AS members
             FROM membership_daily_stats
             WHERE brand_id = $1 AND day BETWEEN $4 AND $5 AND conversions > 0
               AND membership_id IN (SELECT id FROM memberships WHERE brand_id = $1 AND (offer_id = ANY($2) OR id = ANY($3)))
             GROUP BY 1"
        )
    } else {
        "SELECT NULL::date AS bucket, 0::bigint AS members WHERE false".to_string()
    };
    let sql = format!(
        "WITH sums AS (
             SELECT {bucket} AS bucket, SUM(clicks)::bigint AS clicks,
                    SUM(conversions)::bigint AS conversions, SUM(sales) AS sales, SUM(commission) AS commission
             FROM (SELECT day, clicks, conversions, sales, commission FROM offer_daily_stats
                   WHERE brand_id = $1 AND offer_id = ANY($2) AND day BETWEEN $4 AND $5
                   UNION ALL
                   SELECT day, clicks, conversions, sales, commission FROM membership_daily_stats
                   WHERE brand_id = $1 AND membership_id = ANY($3) AND day BETWEEN $4 AND $5) days
             GROUP BY 1),
         converting AS ({converting})
         SELECT s.bucket, s.clicks, s.conversions, s.sales, s.commission,
                COALESCE(c.members, 0) AS members_with_conversions
         FROM sums s LEFT JOIN converting c ON c.bucket = s.bucket"
    );
    without_parallel_plans(conn, move |conn| {
        async move {
            Ok(diesel::sql_query(sql)
                .bind::<BigInt, _>(brand_id)
                .bind::<Array<BigInt>, _>(&offer_ids)
                .bind::<Array<BigInt>, _>(&membership_ids)
                .bind::<Date, _>(range.start)
                .bind::<Date, _>(range.end)
                .load(conn)
                .await?)
        }
        .scope_boxed()
    })
    .await
}

/// When a series' memberships joined and left, to count its members per bucket.
pub async fn membership_periods(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    scope: &SeriesScope,
) -> DbResult<Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>> {
    let (offer_ids, membership_ids) = scope.ids();
    let periods = scoped_memberships(conn, brand_id, &offer_ids, &membership_ids).await?;
    Ok(periods.into_iter().map(|m| (m.joined_at, m.removed_at)).collect())
}

/// The projects each of the brand's offers is connected to.
pub async fn offer_project_ids(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
) -> DbResult<HashMap<OfferId, Vec<ProjectId>>> {
    let pairs: Vec<(OfferId, ProjectId)> = offer_projects::table
        .filter(offer_projects::brand_id.eq(brand_id))
        .select((offer_projects::offer_id, offer_projects::project_id))
        .load(conn)
        .await?;
    let mut grouped: HashMap<OfferId, Vec<ProjectId>> = HashMap::new();
    for (offer_id, project_id) in pairs {
        grouped.entry(offer_id).or_default().push(project_id);
    }
    Ok(grouped)
}
