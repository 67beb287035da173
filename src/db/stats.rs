//! Daily rollups per membership: one upsert per key per batch, never a per-row trigger.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Date, Numeric};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use super::DbResult;
use super::cached::cached_statement;
use super::converting::{self, DayChange};

use crate::domain::ids::{BrandId, MembershipId};

/// Change to one membership-day. Negative values undo (a refund, a rejection).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    pub clicks: i64,
    pub conversions: i64,
    pub sales: Decimal,
    pub commission: Decimal,
}

impl std::ops::AddAssign for Delta {
    fn add_assign(&mut self, other: Delta) {
        self.clicks += other.clicks;
        self.conversions += other.conversions;
        self.sales += other.sales;
        self.commission += other.commission;
    }
}

/// Changes gathered over a batch, keyed by (brand, membership, brand-local day).
/// A BTreeMap so rows are always locked in the same order, which keeps two
/// concurrent batches from deadlocking.
#[derive(Default)]
pub struct Deltas(BTreeMap<(BrandId, MembershipId, NaiveDate), Delta>);

impl Deltas {
    pub fn add(&mut self, brand_id: BrandId, membership_id: MembershipId, day: NaiveDate, delta: Delta) {
        *self.0.entry((brand_id, membership_id, day)).or_default() += delta;
    }

    /// Writes all changes in one statement (in key order), and the converting-member
    /// sets when some day's conversions went from none to some or back. Call inside
    /// the events' transaction.
    pub async fn apply(self, conn: &mut AsyncPgConnection) -> DbResult<()> {
        let changed: Vec<_> = self.0.into_iter().filter(|(_, d)| *d != Delta::default()).collect();
        if changed.is_empty() {
            return Ok(());
        }
        let columns = DayColumns::of(&changed);
        let upsert = UpsertDays {
            brand_ids: &columns.brand_ids,
            membership_ids: &columns.membership_ids,
            days: &columns.days,
            clicks: &columns.clicks,
            conversions: &columns.conversions,
            sales: &columns.sales,
            commissions: &columns.commissions,
        };
        if changed.iter().all(|(_, d)| d.conversions == 0) {
            // Clicks only: no set can change, and nothing needs reading back.
            upsert.execute(conn).await?;
            return Ok(());
        }
        let now: Vec<DayConversions> = upsert.load(conn).await?;
        let deltas: BTreeMap<_, i64> = changed.iter().map(|&(key, d)| (key, d.conversions)).collect();
        let changes: Vec<DayChange> = now
            .into_iter()
            .map(|row| DayChange {
                brand_id: row.brand_id,
                membership_id: row.membership_id,
                day: row.day,
                conversions: row.conversions,
                delta: deltas
                    .get(&(row.brand_id, row.membership_id, row.day))
                    .copied()
                    .unwrap_or(0),
            })
            .collect();
        converting::follow(conn, &changes).await?;
        Ok(())
    }
}

impl Deltas {
    /// Adds the changes to `order_tallies`, for [`fold_order_tallies`] to carry into
    /// the rollups: an insert that takes no lock another group could be waiting on.
    /// For orders' changes (clicks have tallies of their own).
    pub async fn tally(self, conn: &mut AsyncPgConnection) -> DbResult<()> {
        let changed: Vec<_> = self.0.into_iter().filter(|(_, d)| *d != Delta::default()).collect();
        debug_assert!(changed.iter().all(|(_, d)| d.clicks == 0), "clicks are tallied apart");
        if changed.is_empty() {
            return Ok(());
        }
        let columns = DayColumns::of(&changed);
        TallyDays {
            brand_ids: &columns.brand_ids,
            membership_ids: &columns.membership_ids,
            days: &columns.days,
            conversions: &columns.conversions,
            sales: &columns.sales,
            commissions: &columns.commissions,
        }
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// Changed membership-days as the columns of an `unnest`, in key order.
struct DayColumns {
    brand_ids: Vec<BrandId>,
    membership_ids: Vec<MembershipId>,
    days: Vec<NaiveDate>,
    clicks: Vec<i64>,
    conversions: Vec<i64>,
    sales: Vec<Decimal>,
    commissions: Vec<Decimal>,
}

impl DayColumns {
    fn of(changed: &[((BrandId, MembershipId, NaiveDate), Delta)]) -> Self {
        DayColumns {
            brand_ids: changed.iter().map(|((b, _, _), _)| *b).collect(),
            membership_ids: changed.iter().map(|((_, m, _), _)| *m).collect(),
            days: changed.iter().map(|((_, _, d), _)| *d).collect(),
            clicks: changed.iter().map(|(_, d)| d.clicks).collect(),
            conversions: changed.iter().map(|(_, d)| d.conversions).collect(),
            sales: changed.iter().map(|(_, d)| d.sales).collect(),
            commissions: changed.iter().map(|(_, d)| d.commission).collect(),
        }
    }
}

cached_statement! {
    /// The statement of [`Deltas::tally`].
    struct TallyDays<'a> = "INSERT INTO order_tallies (brand_id, membership_id, day, conversions, sales, commission)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::date[], $4::bigint[], $5::numeric[], $6::numeric[])"; {
        brand_ids: Array<BigInt> => &'a [BrandId],
        membership_ids: Array<BigInt> => &'a [MembershipId],
        days: Array<Date> => &'a [NaiveDate],
        conversions: Array<BigInt> => &'a [i64],
        sales: Array<Numeric> => &'a [Decimal],
        commissions: Array<Numeric> => &'a [Decimal],
    }
}

/// Carries every order tally into the balances and the daily rollups (whose
/// triggers carry them further up, and the converting-member sets with them),
/// deleting each in the same transaction, so that each counts once; tallies another
/// connection is folding meanwhile are left to it. Balances are locked before
/// rollups, in key order, as an order group locks them. Returns the brands whose
/// figures moved.
pub async fn fold_order_tallies(conn: &mut AsyncPgConnection) -> DbResult<Vec<BrandId>> {
    #[derive(QueryableByName)]
    struct Folded {
        #[diesel(sql_type = BigInt)]
        brand_id: BrandId,
        #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
        membership_id: Option<MembershipId>,
        #[diesel(sql_type = diesel::sql_types::Nullable<Date>)]
        day: Option<NaiveDate>,
        #[diesel(sql_type = BigInt)]
        conversions: i64,
        #[diesel(sql_type = Numeric)]
        sales: Decimal,
        #[diesel(sql_type = Numeric)]
        commission: Decimal,
    }
    conn.transaction::<_, super::DbError, _>(|conn| {
        async move {
            // Not on an order's path: folds run when the writer falls idle, or every so often.
            let folded: Vec<Folded> = diesel::sql_query(
                "WITH folded AS (
                     DELETE FROM order_tallies
                     WHERE ctid = ANY(ARRAY(SELECT ctid FROM order_tallies FOR UPDATE SKIP LOCKED))
                     RETURNING *),
                 balances AS (
                     INSERT INTO membership_balances AS b (brand_id, membership_id, unpaid, on_hold, paid)
                     SELECT brand_id, membership_id, SUM(unpaid), SUM(on_hold), 0
                     FROM folded WHERE day IS NULL GROUP BY 1, 2 ORDER BY 1, 2
                     ON CONFLICT (brand_id, membership_id) DO UPDATE SET
                         unpaid = b.unpaid + EXCLUDED.unpaid, on_hold = b.on_hold + EXCLUDED.on_hold)
                 SELECT brand_id, membership_id, day, SUM(conversions)::bigint AS conversions,
                        SUM(sales) AS sales, SUM(commission) AS commission
                 FROM folded WHERE day IS NOT NULL GROUP BY 1, 2, 3
                 UNION ALL
                 SELECT DISTINCT brand_id, NULL::bigint, NULL::date, 0::bigint, 0::numeric, 0::numeric
                 FROM folded WHERE day IS NULL",
            )
            .load(conn)
            .await?;
            let mut brands: Vec<BrandId> = folded.iter().map(|f| f.brand_id).collect();
            brands.sort_unstable();
            brands.dedup();
            let mut deltas = Deltas::default();
            for row in folded {
                if let (Some(membership_id), Some(day)) = (row.membership_id, row.day) {
                    let delta = Delta {
                        clicks: 0,
                        conversions: row.conversions,
                        sales: row.sales,
                        commission: row.commission,
                    };
                    deltas.add(row.brand_id, membership_id, day, delta);
                }
            }
            deltas.apply(conn).await?;
            Ok(brands)
        }
        .scope_boxed()
    })
    .await
}

/// A membership-day's conversions after [`Deltas::apply`] changed them.
#[derive(QueryableByName)]
struct DayConversions {
    #[diesel(sql_type = BigInt)]
    brand_id: BrandId,
    #[diesel(sql_type = BigInt)]
    membership_id: MembershipId,
    #[diesel(sql_type = Date)]
    day: NaiveDate,
    #[diesel(sql_type = BigInt)]
    conversions: i64,
}

cached_statement! {
    /// The statement of [`Deltas::apply`]: one text whatever the number of days, so
    /// a group of orders does not parse and plan it again.
    struct UpsertDays<'a> = "INSERT INTO membership_daily_stats AS s
             (brand_id, membership_id, day, clicks, conversions, sales, commission)
         SELECT brand_id, membership_id, day, clicks, conversions, sales, commission
         FROM unnest($1::bigint[], $2::bigint[], $3::date[], $4::bigint[], $5::bigint[], $6::numeric[],
                     $7::numeric[])
             WITH ORDINALITY AS d (brand_id, membership_id, day, clicks, conversions, sales, commission,
                 position)
         ORDER BY position
         ON CONFLICT (brand_id, membership_id, day) DO UPDATE SET
             clicks = s.clicks + EXCLUDED.clicks, conversions = s.conversions + EXCLUDED.conversions,
             sales = s.sales + EXCLUDED.sales, commission = s.commission + EXCLUDED.commission
         RETURNING s.brand_id, s.membership_id, s.day, s.conversions"; {
        brand_ids: Array<BigInt> => &'a [BrandId],
        membership_ids: Array<BigInt> => &'a [MembershipId],
        days: Array<Date> => &'a [NaiveDate],
        clicks: Array<BigInt> => &'a [i64],
        conversions: Array<BigInt> => &'a [i64],
        sales: Array<Numeric> => &'a [Decimal],
        commissions: Array<Numeric> => &'a [Decimal],
    }
}

/// The daily rollups computed from raw events alone: counted clicks, accepted
/// conversions by order day, and commission from conversions, from what each
/// click earned (the click rules' verdicts, kept on the click), and from reward
/// ledger entries by the day they were earned.
pub const FROM_RAW_EVENTS_SQL: &str = "
    SELECT brand_id, membership_id, day,
           SUM(clicks)::bigint AS clicks, SUM(conversions)::bigint AS conversions,
           SUM(sales) AS sales, SUM(commission) AS commission
    FROM (
        SELECT c.brand_id, c.membership_id, (c.clicked_at AT TIME ZONE b.time_zone)::date AS day,
               count(*) AS clicks, 0 AS conversions, 0 AS sales, SUM(c.commission) AS commission
        FROM clicks c JOIN brands b ON b.id = c.brand_id
        WHERE NOT c.is_bot
        GROUP BY 1, 2, 3
        UNION ALL
        SELECT v.brand_id, v.membership_id, (v.occurred_at AT TIME ZONE b.time_zone)::date,
               0, count(*), SUM(v.sale_amount), SUM(v.commission)
        FROM conversions v JOIN brands b ON b.id = v.brand_id
        WHERE v.membership_id IS NOT NULL AND v.status = 'ACCEPTED'
        GROUP BY 1, 2, 3
        UNION ALL
        SELECT l.brand_id, l.membership_id, (l.earned_at AT TIME ZONE b.time_zone)::date,
               0, 0, 0, SUM(l.amount)
        FROM ledger_entries l JOIN brands b ON b.id = l.brand_id
        WHERE l.kind = 'REWARD' OR (l.kind = 'CLAWBACK' AND l.reward_id IS NOT NULL)
        GROUP BY 1, 2, 3
    ) raw
    GROUP BY brand_id, membership_id, day";

/// Days whose raw clicks are all still kept (`click_retention`): the first whole
/// brand-local day after the retention cutoff, and later.
const WITHIN_RETENTION: &str = "day > (SELECT (r.kept_since AT TIME ZONE b.time_zone)::date
                                 FROM click_retention r JOIN brands b ON b.id = brand_id)";

#[derive(QueryableByName)]
struct Mismatches {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// How many membership-days differ between the maintained rollups (with the click
/// and order tallies not folded into them yet) and a rebuild from raw events (all-zero days
/// count as absent), over the days whose raw clicks are kept.
pub async fn mismatches_with_raw_events(conn: &mut AsyncPgConnection) -> DbResult<i64> {
    let sql = format!(
        "SELECT count(*) AS n
         FROM (SELECT brand_id, membership_id, day, SUM(clicks) AS clicks, SUM(conversions) AS conversions,
                      SUM(sales) AS sales, SUM(commission) AS commission
               FROM (SELECT * FROM membership_daily_stats
                     UNION ALL
                     SELECT brand_id, membership_id, day, clicks, 0, 0, 0 FROM click_tallies
                     UNION ALL
                     SELECT brand_id, membership_id, day, 0, conversions, sales, commission
                     FROM order_tallies WHERE day IS NOT NULL) counted
               GROUP BY 1, 2, 3
               HAVING SUM(clicks) <> 0 OR SUM(conversions) <> 0 OR SUM(sales) <> 0 OR SUM(commission) <> 0) kept
         FULL OUTER JOIN ({FROM_RAW_EVENTS_SQL}) raw USING (brand_id, membership_id, day)
         WHERE (kept.clicks IS DISTINCT FROM raw.clicks OR kept.conversions IS DISTINCT FROM raw.conversions
            OR kept.sales IS DISTINCT FROM raw.sales OR kept.commission IS DISTINCT FROM raw.commission)
           AND {WITHIN_RETENTION}"
    );
    let rollups = diesel::sql_query(sql).get_result::<Mismatches>(conn).await?.n;
    // The ledger's per-click commission is what the clicks earned, day by day.
    let ledger = diesel::sql_query(format!(
        "SELECT count(*) AS n
         FROM (SELECT c.brand_id, c.membership_id, (c.clicked_at AT TIME ZONE b.time_zone)::date AS day,
                      SUM(c.commission) AS amount
               FROM clicks c JOIN brands b ON b.id = c.brand_id
               WHERE c.commission > 0 GROUP BY 1, 2, 3) earned
         FULL OUTER JOIN
              (SELECT l.brand_id, l.membership_id, (l.earned_at AT TIME ZONE b.time_zone)::date AS day,
                      SUM(l.amount) AS amount
               FROM ledger_entries l JOIN brands b ON b.id = l.brand_id
               WHERE l.kind = 'CLICKS' GROUP BY 1, 2, 3) booked USING (brand_id, membership_id, day)
         WHERE earned.amount IS DISTINCT FROM booked.amount AND {WITHIN_RETENTION}"
    ))
    .get_result::<Mismatches>(conn)
    .await?
    .n;
    Ok(rollups + ledger)
}

/// How many rows of an offer rollup (`table`, by `period`) differ from the
/// memberships' daily rollups summed per offer and `period_of_day`.
fn offer_rollup_mismatches(table: &str, period: &str, period_of_day: &str) -> String {
    format!(
        "SELECT count(*)
         FROM (SELECT * FROM {table}
               WHERE clicks <> 0 OR conversions <> 0 OR sales <> 0 OR commission <> 0) kept
         FULL OUTER JOIN (
             SELECT s.brand_id, m.offer_id, {period_of_day} AS {period}, SUM(s.clicks) AS clicks,
                    SUM(s.conversions) AS conversions, SUM(s.sales) AS sales, SUM(s.commission) AS commission
             FROM membership_daily_stats s JOIN memberships m ON m.brand_id = s.brand_id AND m.id = s.membership_id
             GROUP BY 1, 2, 3
             HAVING SUM(s.clicks) <> 0 OR SUM(s.conversions) <> 0 OR SUM(s.sales) <> 0 OR SUM(s.commission) <> 0) memberships
         USING (brand_id, offer_id, {period})
         WHERE kept.clicks IS DISTINCT FROM memberships.clicks OR kept.conversions IS DISTINCT FROM memberships.conversions
            OR kept.sales IS DISTINCT FROM memberships.sales OR kept.commission IS DISTINCT FROM memberships.commission"
    )
}

/// How many clicks, conversions and ledger entries name a membership, or a ledger
/// entry a conversion, that is not there. These references are not foreign keys
/// (checking them row by row was a fifth of a click batch's time and a tenth of an
/// order group's); every writer takes them from rows it read, and memberships and
/// conversions are never deleted, so this is always 0.
pub async fn dangling_references(conn: &mut AsyncPgConnection) -> DbResult<i64> {
    Ok(diesel::sql_query(
        "SELECT (SELECT count(*) FROM clicks c
                 WHERE NOT EXISTS (SELECT 1 FROM memberships m WHERE m.brand_id = c.brand_id AND m.id = c.membership_id))
              + (SELECT count(*) FROM conversions c
                 WHERE c.membership_id IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.brand_id = c.brand_id AND m.id = c.membership_id))
              + (SELECT count(*) FROM ledger_entries e
                 WHERE NOT EXISTS (SELECT 1 FROM memberships m WHERE m.brand_id = e.brand_id AND m.id = e.membership_id)
                    OR (e.conversion_id IS NOT NULL AND NOT EXISTS (
                        SELECT 1 FROM conversions c WHERE c.brand_id = e.brand_id AND c.id = e.conversion_id))) AS n",
    )
    .get_result::<Mismatches>(conn)
    .await?
    .n)
}

/// How many rows of the trigger-maintained summaries differ from what they
/// summarise: monthly and per-offer (daily and monthly) rollups against the
/// memberships' daily ones, offers' membership counts against the memberships,
/// membership balances (with the order tallies not folded yet) against the ledger entries, offer balances against the
/// membership balances (all-zero rows count as absent), entries marked matured
/// before their payable time, and the converting-member sets against the daily rollups.
pub async fn summary_mismatches(conn: &mut AsyncPgConnection) -> DbResult<i64> {
    let sql = format!(
        "SELECT (
         SELECT count(*)
         FROM (SELECT * FROM membership_monthly_stats
               WHERE clicks <> 0 OR conversions <> 0 OR sales <> 0 OR commission <> 0) kept
         FULL OUTER JOIN (
             SELECT brand_id, membership_id, date_trunc('month', day)::date AS month, SUM(clicks) AS clicks,
                    SUM(conversions) AS conversions, SUM(sales) AS sales, SUM(commission) AS commission
             FROM membership_daily_stats GROUP BY 1, 2, 3
             HAVING SUM(clicks) <> 0 OR SUM(conversions) <> 0 OR SUM(sales) <> 0 OR SUM(commission) <> 0) days
         USING (brand_id, membership_id, month)
         WHERE kept.clicks IS DISTINCT FROM days.clicks OR kept.conversions IS DISTINCT FROM days.conversions
            OR kept.sales IS DISTINCT FROM days.sales OR kept.commission IS DISTINCT FROM days.commission
       ) + (
         {offer_days}
       ) + (
         {offer_months}
       ) + (
         SELECT count(*)
         FROM (SELECT * FROM offer_member_counts WHERE memberships <> 0) kept
         FULL OUTER JOIN (SELECT brand_id, offer_id, count(*) AS memberships FROM memberships GROUP BY 1, 2) counted
         USING (brand_id, offer_id)
         WHERE kept.memberships IS DISTINCT FROM counted.memberships
       ) + (
         SELECT count(*)
         FROM (SELECT brand_id, membership_id, SUM(unpaid) AS unpaid, SUM(on_hold) AS on_hold, SUM(paid) AS paid
               FROM (SELECT brand_id, membership_id, unpaid, on_hold, paid FROM membership_balances
                     UNION ALL
                     SELECT brand_id, membership_id, unpaid, on_hold, 0 FROM order_tallies WHERE day IS NULL) b
               GROUP BY 1, 2
               HAVING SUM(unpaid) <> 0 OR SUM(on_hold) <> 0 OR SUM(paid) <> 0) kept
         FULL OUTER JOIN (
             SELECT brand_id, membership_id,
                    COALESCE(SUM(amount) FILTER (WHERE payment_item_id IS NULL), 0) AS unpaid,
                    COALESCE(SUM(amount) FILTER (WHERE payment_item_id IS NULL AND NOT matured), 0) AS on_hold,
                    COALESCE(SUM(amount) FILTER (WHERE payment_item_id IS NOT NULL), 0) AS paid
             FROM ledger_entries GROUP BY 1, 2) entries
         USING (brand_id, membership_id)
         WHERE COALESCE(kept.unpaid, 0) <> COALESCE(entries.unpaid, 0) OR COALESCE(kept.paid, 0) <> COALESCE(entries.paid, 0)
            OR COALESCE(kept.on_hold, 0) <> COALESCE(entries.on_hold, 0)
       ) + (
         SELECT count(*)
         FROM (SELECT * FROM offer_balances WHERE payments_due <> 0 OR members_with_payments_due <> 0 OR paid <> 0) kept
         FULL OUTER JOIN (
             SELECT b.brand_id, m.offer_id, SUM(GREATEST(b.unpaid - b.on_hold, 0)) AS payments_due,
                    count(*) FILTER (WHERE b.unpaid - b.on_hold > 0) AS members_with_payments_due, SUM(b.paid) AS paid
             FROM membership_balances b JOIN memberships m ON m.brand_id = b.brand_id AND m.id = b.membership_id
             GROUP BY 1, 2
             HAVING SUM(GREATEST(b.unpaid - b.on_hold, 0)) <> 0 OR SUM(b.paid) <> 0) balances
         USING (brand_id, offer_id)
         WHERE kept.payments_due IS DISTINCT FROM balances.payments_due
            OR kept.members_with_payments_due IS DISTINCT FROM balances.members_with_payments_due
            OR kept.paid IS DISTINCT FROM balances.paid
       ) + (
         SELECT count(*) FROM ledger_entries WHERE matured AND payable_at > now()
       ) AS n",
        offer_days = offer_rollup_mismatches("offer_daily_stats", "day", "s.day"),
        offer_months = offer_rollup_mismatches("offer_monthly_stats", "month", "date_trunc('month', s.day)::date"),
    );
    let rows = diesel::sql_query(sql).get_result::<Mismatches>(conn).await?.n;
    Ok(rows + super::converting::mismatches(conn).await?)
}
