//! Commission owed to memberships. Balances are always sums over entries.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Numeric, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use super::DbResult;
use super::cached::cached_statement;
use super::schema::ledger_entries;

use crate::domain::enums::LedgerKind;
use crate::domain::ids::{BrandId, ConversionId, LedgerEntryId, MembershipId, PaymentItemId, RewardId};

/// An entry to book ([`insert`]).
#[derive(Clone, Debug)]
pub struct NewLedgerEntry {
    pub brand_id: BrandId,
    pub membership_id: MembershipId,
    pub kind: LedgerKind,
    pub amount: Decimal,
    pub conversion_id: Option<ConversionId>,
    pub reward_id: Option<RewardId>,
    pub earned_at: DateTime<Utc>,
    pub payable_at: DateTime<Utc>,
}

/// Books entries, in order. The statement is made at once and the future does not
/// hold the connection, so polled together with the next statement's it shares one
/// round trip (diesel-async pipelines futures polled concurrently).
pub fn insert(
    conn: &mut AsyncPgConnection,
    entries: &[NewLedgerEntry],
) -> impl Future<Output = DbResult<()>> + Send + 'static {
    book(conn, entries, false)
}

/// Books entries as [`insert`] does, with their balances added to `order_tallies`
/// instead of to the balances (for a fold to carry there). For an order group
/// written beside another: the group's other ledger writes in its transaction
/// would skip the balances too.
pub fn insert_tallied(
    conn: &mut AsyncPgConnection,
    entries: &[NewLedgerEntry],
) -> impl Future<Output = DbResult<()>> + Send + 'static {
    book(conn, entries, true)
}

fn book(
    conn: &mut AsyncPgConnection,
    entries: &[NewLedgerEntry],
    tally_balances: bool,
) -> impl Future<Output = DbResult<()>> + Send + 'static {
    let statement = (!entries.is_empty()).then(|| {
        InsertEntries {
            brand_ids: entries.iter().map(|e| e.brand_id).collect(),
            membership_ids: entries.iter().map(|e| e.membership_id).collect(),
            kinds: entries.iter().map(|e| e.kind.as_str()).collect(),
            amounts: entries.iter().map(|e| e.amount).collect(),
            conversion_ids: entries.iter().map(|e| e.conversion_id).collect(),
            reward_ids: entries.iter().map(|e| e.reward_id).collect(),
            earned_at: entries.iter().map(|e| e.earned_at).collect(),
            payable_at: entries.iter().map(|e| e.payable_at).collect(),
            tally_balances,
        }
        .execute(conn)
    });
    async move {
        if let Some(statement) = statement {
            statement.await?;
        }
        Ok(())
    }
}

cached_statement! {
    /// The statement of [`insert`]: one text whatever the number of entries, so a
    /// group of orders does not parse and plan it again. With `$9` it sets
    /// `sales_tracking.balances_tallied` for the transaction, which the balances'
    /// insert trigger obeys, and tallies the balances itself (new entries are
    /// neither paid nor matured).
    struct InsertEntries<'a> = "WITH balances AS MATERIALIZED (
             SELECT set_config('sales_tracking.balances_tallied', CASE WHEN $9 THEN 'on' ELSE 'off' END, true)),
         booked AS (
             INSERT INTO ledger_entries
                 (brand_id, membership_id, kind, amount, conversion_id, reward_id, earned_at, payable_at)
             SELECT e.brand_id, e.membership_id, e.kind, e.amount, e.conversion_id, e.reward_id, e.earned_at,
                    e.payable_at
             FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::numeric[], $5::bigint[], $6::bigint[],
                         $7::timestamptz[], $8::timestamptz[])
                 WITH ORDINALITY AS e (brand_id, membership_id, kind, amount, conversion_id, reward_id,
                     earned_at, payable_at, position)
             CROSS JOIN balances
             ORDER BY e.position
             RETURNING brand_id, membership_id, amount)
         INSERT INTO order_tallies (brand_id, membership_id, unpaid, on_hold)
         SELECT brand_id, membership_id, SUM(amount), SUM(amount) FROM booked WHERE $9 GROUP BY 1, 2"; {
        brand_ids: Array<BigInt> => Vec<BrandId>,
        membership_ids: Array<BigInt> => Vec<MembershipId>,
        kinds: Array<Text> => Vec<&'a str>,
        amounts: Array<Numeric> => Vec<Decimal>,
        conversion_ids: Array<Nullable<BigInt>> => Vec<Option<ConversionId>>,
        reward_ids: Array<Nullable<BigInt>> => Vec<Option<RewardId>>,
        earned_at: Array<Timestamptz> => Vec<DateTime<Utc>>,
        payable_at: Array<Timestamptz> => Vec<DateTime<Utc>>,
        tally_balances: Bool => bool,
    }
}

/// Books each accepted conversion of the brand as the order path does (an entry
/// payable after the offer's hold period), for conversions loaded in bulk; entries
/// already payable are booked matured, as the maturity job would mark them.
pub async fn book_accepted_conversions(conn: &mut AsyncPgConnection, brand_id: BrandId) -> DbResult<usize> {
    Ok(diesel::sql_query(
        "INSERT INTO ledger_entries (brand_id, membership_id, kind, amount, conversion_id, earned_at, payable_at, matured)
         SELECT c.brand_id, c.membership_id, 'CONVERSION', c.commission, c.id, c.occurred_at, payable.at, payable.at <= now()
         FROM conversions c
         JOIN memberships m ON m.brand_id = c.brand_id AND m.id = c.membership_id
         JOIN offers o ON o.brand_id = m.brand_id AND o.id = m.offer_id
         CROSS JOIN LATERAL (SELECT c.occurred_at + make_interval(days => o.hold_period_days) AS at) payable
         WHERE c.brand_id = $1 AND c.status = 'ACCEPTED'
         ON CONFLICT (brand_id, conversion_id) WHERE kind = 'CONVERSION' DO NOTHING",
    )
    .bind::<diesel::sql_types::BigInt, _>(brand_id)
    .execute(conn)
    .await?)
}

/// What earned an entry that a clawback may take back.
#[derive(Clone, Copy, Debug)]
pub enum Earning {
    Conversion(ConversionId),
    Reward(RewardId),
}

/// Takes `taken_back` off an earning's entry: while the entry is unpaid it is
/// lowered to `keep`; once paid (or in a payment) a `CLAWBACK` entry dated
/// `earned_at` is booked instead, for the next payment to net.
pub async fn take_back(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    membership_id: MembershipId,
    earning: Earning,
    (keep, taken_back): (Decimal, Decimal),
    earned_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DbResult<()> {
    let (kind, conversion_id, reward_id) = match earning {
        Earning::Conversion(id) => (LedgerKind::Conversion, Some(id), None),
        Earning::Reward(id) => (LedgerKind::Reward, None, Some(id)),
    };
    let entry: Option<(LedgerEntryId, Option<PaymentItemId>)> = ledger_entries::table
        .filter(ledger_entries::brand_id.eq(brand_id))
        .filter(ledger_entries::kind.eq(kind))
        .filter(
            ledger_entries::conversion_id
                .eq(conversion_id)
                .or(ledger_entries::reward_id.eq(reward_id)),
        )
        .select((ledger_entries::id, ledger_entries::payment_item_id))
        .for_update()
        .first(conn)
        .await
        .optional()?;
    match entry {
        Some((entry_id, None)) => set_amount(conn, brand_id, entry_id, keep).await,
        _ => {
            let clawback = NewLedgerEntry {
                brand_id,
                membership_id,
                kind: LedgerKind::Clawback,
                amount: -taken_back,
                conversion_id,
                reward_id,
                earned_at,
                payable_at: now,
            };
            insert(conn, &[clawback]).await
        }
    }
}

/// Changes an unpaid entry's amount.
pub async fn set_amount(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    entry_id: LedgerEntryId,
    amount: Decimal,
) -> DbResult<()> {
    diesel::update(ledger_entries::table.find((brand_id, entry_id)))
        .set(ledger_entries::amount.eq(amount))
        .execute(conn)
        .await?;
    Ok(())
}

/// A membership's commission account, derived from its entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, QueryableByName)]
pub struct Balance {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub membership_id: MembershipId,
    /// Commission earned: conversions (net of refunds before payment), paid clicks, cash rewards.
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub earned: Decimal,
    /// Taken back after payment (refunds and rejections of paid conversions), as a positive amount.
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub reversed: Decimal,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub paid: Decimal,
    /// Unpaid and past the hold period, net of clawbacks (negative: owed back, netted next time).
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub due: Decimal,
    /// Unpaid and still inside the hold period.
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub on_hold: Decimal,
}

impl Balance {
    /// The balance of a membership without entries.
    pub fn empty(membership_id: MembershipId) -> Self {
        Balance {
            membership_id,
            earned: Decimal::ZERO,
            reversed: Decimal::ZERO,
            paid: Decimal::ZERO,
            due: Decimal::ZERO,
            on_hold: Decimal::ZERO,
        }
    }
}

/// Balances of the given memberships as of `now` (memberships with no entries get zeros).
pub async fn balances(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    membership_ids: &[MembershipId],
    now: DateTime<Utc>,
) -> DbResult<Vec<Balance>> {
    Ok(diesel::sql_query(
        "SELECT m.id AS membership_id,
                COALESCE(SUM(e.amount) FILTER (WHERE e.kind <> 'CLAWBACK'), 0) AS earned,
                COALESCE(-SUM(e.amount) FILTER (WHERE e.kind = 'CLAWBACK'), 0) AS reversed,
                COALESCE(SUM(e.amount) FILTER (WHERE e.payment_item_id IS NOT NULL), 0) AS paid,
                COALESCE(SUM(e.amount) FILTER (WHERE e.payment_item_id IS NULL AND e.payable_at <= $3), 0) AS due,
                COALESCE(SUM(e.amount) FILTER (WHERE e.payment_item_id IS NULL AND e.payable_at > $3), 0) AS on_hold
         FROM unnest($2::bigint[]) AS m(id)
         LEFT JOIN ledger_entries e ON e.brand_id = $1 AND e.membership_id = m.id
         GROUP BY m.id",
    )
    .bind::<diesel::sql_types::BigInt, _>(brand_id)
    .bind::<diesel::sql_types::Array<diesel::sql_types::BigInt>, _>(membership_ids)
    .bind::<diesel::sql_types::Timestamptz, _>(now)
    .load(conn)
    .await?)
}

/// Marks up to `limit` unpaid entries whose payable time has passed (by the
/// database's clock) as matured, which moves them from on hold to due in the
/// balances; returns how many. Entries another writer holds are left for next time.
pub async fn mature_due_entries(conn: &mut AsyncPgConnection, limit: i64) -> DbResult<usize> {
    Ok(diesel::sql_query(
        "WITH came_due AS (
             SELECT brand_id, id FROM ledger_entries
             WHERE payment_item_id IS NULL AND NOT matured AND payable_at <= now()
             ORDER BY payable_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         UPDATE ledger_entries e SET matured = true
         FROM came_due WHERE e.brand_id = came_due.brand_id AND e.id = came_due.id",
    )
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .execute(conn)
    .await?)
}
