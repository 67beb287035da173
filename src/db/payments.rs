//! Payments and their items: the rows Send Payment writes (see `app::payments`).

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Numeric, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use super::DbResult;
use super::pagination::{Page, PageRequest};
use super::schema::{ledger_entries, payment_items, payments};
use crate::domain::enums::{PaymentProvider, PaymentScope, PaymentState};
use crate::domain::ids::{ApiKeyId, BrandId, LedgerEntryId, MembershipId, OfferId, PaymentId, PaymentItemId};
use crate::domain::payment::DueEntry;

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = payments, check_for_backend(diesel::pg::Pg))]
pub struct PaymentRow {
    pub brand_id: BrandId,
    pub id: PaymentId,
    pub idempotency_key: String,
    pub scope: PaymentScope,
    pub offer_id: Option<OfferId>,
    pub provider: PaymentProvider,
    pub state: PaymentState,
    pub total_amount: Decimal,
    pub created_by_key_id: Option<ApiKeyId>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The provider's own id of the batch (PayPal's `payout_batch_id`), once known.
    pub provider_batch_id: Option<String>,
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = payment_items, check_for_backend(diesel::pg::Pg))]
pub struct PaymentItemRow {
    pub brand_id: BrandId,
    pub id: PaymentItemId,
    pub payment_id: PaymentId,
    pub membership_id: MembershipId,
    pub amount: Decimal,
    pub state: PaymentState,
    pub provider_reference: Option<String>,
    /// The provider's own status word (PayPal's `transaction_status`).
    pub provider_status: Option<String>,
    /// What is sent, in the member's payout currency (`amount`, in the brand's,
    /// is what a failed item returns to due).
    pub payout_currency: String,
    pub payout_amount: Decimal,
    /// Units of `payout_currency` per unit of the brand's; 1 when they are the same.
    pub exchange_rate: Decimal,
    /// The business day whose published rate was used, and who published it
    /// (none at rate 1).
    pub rate_published_on: Option<NaiveDate>,
    pub rate_source: Option<String>,
}

#[derive(QueryableByName)]
struct DueRow {
    #[diesel(sql_type = BigInt)]
    id: LedgerEntryId,
    #[diesel(sql_type = BigInt)]
    membership_id: MembershipId,
    #[diesel(sql_type = Numeric)]
    amount: Decimal,
}

/// Unpaid entries past their hold period, in scope. `FOR UPDATE` is appended when claiming.
const DUE_ENTRIES: &str = "SELECT e.id, e.membership_id, e.amount
     FROM ledger_entries e
     JOIN memberships m ON m.brand_id = e.brand_id AND m.id = e.membership_id
     WHERE e.brand_id = $1 AND e.payment_item_id IS NULL AND e.payable_at <= $2
       AND ($3::bigint[] IS NULL OR m.offer_id = ANY($3))
       AND ($4::bigint[] IS NULL OR e.membership_id = ANY($4))
     ORDER BY e.id";

/// Which due entries to read: the brand's, or some offers', or some memberships'.
#[derive(Clone, Copy, Debug, Default)]
pub struct DueFilter<'a> {
    pub offer_ids: Option<&'a [OfferId]>,
    pub membership_ids: Option<&'a [MembershipId]>,
}

/// Unpaid entries payable at `now`; `lock` holds them until the transaction ends.
pub async fn due_entries(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    filter: DueFilter<'_>,
    now: DateTime<Utc>,
    lock: bool,
) -> DbResult<Vec<DueEntry>> {
    let sql = if lock {
        format!("{DUE_ENTRIES} FOR UPDATE OF e")
    } else {
        DUE_ENTRIES.to_string()
    };
    let rows: Vec<DueRow> = diesel::sql_query(sql)
        .bind::<BigInt, _>(brand_id)
        .bind::<Timestamptz, _>(now)
        .bind::<Nullable<Array<BigInt>>, _>(filter.offer_ids)
        .bind::<Nullable<Array<BigInt>>, _>(filter.membership_ids)
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| DueEntry {
            entry_id: row.id,
            membership_id: row.membership_id,
            amount: row.amount,
        })
        .collect())
}

/// A payment about to be claimed.
pub struct NewPayment<'a> {
    pub brand_id: BrandId,
    pub idempotency_key: &'a str,
    pub scope: &'a str,
    pub offer_id: Option<OfferId>,
    pub provider: PaymentProvider,
    pub created_by_key_id: ApiKeyId,
    pub created_at: DateTime<Utc>,
}

/// Inserts a processing payment; none when its idempotency key is taken.
pub async fn insert(conn: &mut AsyncPgConnection, payment: NewPayment<'_>) -> DbResult<Option<PaymentRow>> {
    Ok(diesel::insert_into(payments::table)
        .values((
            payments::brand_id.eq(payment.brand_id),
            payments::idempotency_key.eq(payment.idempotency_key),
            payments::scope.eq(payment.scope),
            payments::offer_id.eq(payment.offer_id),
            payments::provider.eq(payment.provider.as_str()),
            payments::state.eq(PaymentState::Processing.as_str()),
            payments::created_by_key_id.eq(payment.created_by_key_id),
            payments::created_at.eq(payment.created_at),
        ))
        .on_conflict_do_nothing()
        .returning(PaymentRow::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}

/// One item about to be claimed: what it pays, in the brand's currency and in
/// the member's.
pub struct NewItem<'a> {
    pub membership_id: MembershipId,
    pub amount: Decimal,
    pub entry_ids: &'a [LedgerEntryId],
    pub payout_currency: &'a str,
    pub payout_amount: Decimal,
    pub exchange_rate: Decimal,
    pub rate_published_on: Option<NaiveDate>,
    pub rate_source: Option<&'a str>,
}

/// Adds a processing item and links the ledger entries it pays to it.
pub async fn insert_item(
    conn: &mut AsyncPgConnection,
    payment: &PaymentRow,
    new: NewItem<'_>,
) -> DbResult<PaymentItemRow> {
    let entry_ids = new.entry_ids;
    let item: PaymentItemRow = diesel::insert_into(payment_items::table)
        .values((
            payment_items::brand_id.eq(payment.brand_id),
            payment_items::payment_id.eq(payment.id),
            payment_items::membership_id.eq(new.membership_id),
            payment_items::amount.eq(new.amount),
            payment_items::state.eq(PaymentState::Processing.as_str()),
            payment_items::payout_currency.eq(new.payout_currency),
            payment_items::payout_amount.eq(new.payout_amount),
            payment_items::exchange_rate.eq(new.exchange_rate),
            payment_items::rate_published_on.eq(new.rate_published_on),
            payment_items::rate_source.eq(new.rate_source),
        ))
        .returning(PaymentItemRow::as_returning())
        .get_result(conn)
        .await?;
    diesel::update(
        ledger_entries::table
            .filter(ledger_entries::brand_id.eq(payment.brand_id))
            .filter(ledger_entries::id.eq_any(entry_ids)),
    )
    .set(ledger_entries::payment_item_id.eq(item.id))
    .execute(conn)
    .await?;
    Ok(item)
}

pub async fn set_total(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    id: PaymentId,
    total: Decimal,
) -> DbResult<PaymentRow> {
    Ok(diesel::update(payments::table.find((brand_id, id)))
        .set(payments::total_amount.eq(total))
        .returning(PaymentRow::as_returning())
        .get_result(conn)
        .await?)
}

/// What a provider said of one item.
pub struct ItemReport<'a> {
    pub state: PaymentState,
    pub reference: Option<&'a str>,
    pub provider_status: Option<&'a str>,
}

/// Stores a provider's answer for one of `payment_id`'s items. A failed item is
/// final, and releases its entries once: they are due again. A paid item can still
/// fail (a payout returned or reversed while its payment is unsettled). Call inside
/// a transaction that holds the payment (`lock`).
pub async fn set_item_outcome(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    payment_id: PaymentId,
    item_id: PaymentItemId,
    report: ItemReport<'_>,
) -> DbResult<()> {
    let open = payment_items::table
        .find((brand_id, item_id))
        .filter(payment_items::payment_id.eq(payment_id))
        .filter(payment_items::state.ne(PaymentState::Failed.as_str()));
    let updated = diesel::update(open)
        .set((
            payment_items::state.eq(report.state.as_str()),
            payment_items::provider_reference.eq(report.reference),
            payment_items::provider_status.eq(report.provider_status),
        ))
        .execute(conn)
        .await?;
    if updated == 1 && report.state == PaymentState::Failed {
        diesel::update(
            ledger_entries::table
                .filter(ledger_entries::brand_id.eq(brand_id))
                .filter(ledger_entries::payment_item_id.eq(item_id)),
        )
        .set(ledger_entries::payment_item_id.eq(None::<PaymentItemId>))
        .execute(conn)
        .await?;
    }
    Ok(())
}

pub async fn set_state(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    id: PaymentId,
    state: PaymentState,
    completed_at: Option<DateTime<Utc>>,
) -> DbResult<PaymentRow> {
    Ok(diesel::update(payments::table.find((brand_id, id)))
        .set((
            payments::state.eq(state.as_str()),
            payments::completed_at.eq(completed_at),
        ))
        .returning(PaymentRow::as_returning())
        .get_result(conn)
        .await?)
}

pub async fn find_by_key(conn: &mut AsyncPgConnection, brand_id: BrandId, key: &str) -> DbResult<Option<PaymentRow>> {
    Ok(payments::table
        .filter(payments::brand_id.eq(brand_id).and(payments::idempotency_key.eq(key)))
        .select(PaymentRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The payment, held until the transaction ends, so its outcomes are recorded one at a time.
pub async fn lock(conn: &mut AsyncPgConnection, brand_id: BrandId, id: PaymentId) -> DbResult<PaymentRow> {
    Ok(payments::table
        .find((brand_id, id))
        .select(PaymentRow::as_select())
        .for_update()
        .first(conn)
        .await?)
}

/// Records the provider's batch id, once.
pub async fn set_provider_batch_id(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    id: PaymentId,
    batch_id: &str,
) -> DbResult<()> {
    diesel::update(
        payments::table
            .find((brand_id, id))
            .filter(payments::provider_batch_id.is_null()),
    )
    .set(payments::provider_batch_id.eq(batch_id))
    .execute(conn)
    .await?;
    Ok(())
}

/// Payments (of any brand) the provider has not finished with and that are due a
/// check at `now`, the longest waiting first.
pub async fn unsettled(
    conn: &mut AsyncPgConnection,
    providers: &[PaymentProvider],
    now: DateTime<Utc>,
    limit: i64,
) -> DbResult<Vec<PaymentRow>> {
    Ok(payments::table
        .filter(payments::state.eq_any([PaymentState::Pending.as_str(), PaymentState::Processing.as_str()]))
        .filter(payments::provider.eq_any(providers))
        .filter(payments::next_check_at.is_null().or(payments::next_check_at.le(now)))
        .order((payments::next_check_at.asc().nulls_first(), payments::created_at))
        .limit(limit)
        .select(PaymentRow::as_select())
        .load(conn)
        .await?)
}

/// When reconciliation next asks about the payment.
pub async fn set_next_check(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    id: PaymentId,
    at: DateTime<Utc>,
) -> DbResult<()> {
    diesel::update(payments::table.find((brand_id, id)))
        .set(payments::next_check_at.eq(at))
        .execute(conn)
        .await?;
    Ok(())
}

/// The payment a provider's batch id belongs to, in any brand.
pub async fn find_by_provider_batch(
    conn: &mut AsyncPgConnection,
    provider: PaymentProvider,
    batch_id: &str,
) -> DbResult<Option<PaymentRow>> {
    Ok(payments::table
        .filter(payments::provider.eq(provider.as_str()))
        .filter(payments::provider_batch_id.eq(batch_id))
        .select(PaymentRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

pub async fn find(conn: &mut AsyncPgConnection, brand_id: BrandId, id: PaymentId) -> DbResult<Option<PaymentRow>> {
    Ok(payments::table
        .find((brand_id, id))
        .select(PaymentRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The brand's payments, newest first.
pub async fn page(conn: &mut AsyncPgConnection, brand_id: BrandId, request: PageRequest) -> DbResult<Page<PaymentRow>> {
    let mut query = payments::table.filter(payments::brand_id.eq(brand_id)).into_boxed();
    if let Some(before) = request.before_id {
        query = query.filter(payments::id.lt(before));
    }
    let rows = query
        .order(payments::id.desc())
        .limit(request.limit + 1)
        .select(PaymentRow::as_select())
        .load(conn)
        .await?;
    Ok(Page::from_overfetched(rows, request.limit))
}

/// The items of these payments, by payment then membership.
pub async fn items(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    payment_ids: &[PaymentId],
) -> DbResult<Vec<PaymentItemRow>> {
    Ok(payment_items::table
        .filter(
            payment_items::brand_id
                .eq(brand_id)
                .and(payment_items::payment_id.eq_any(payment_ids)),
        )
        .order((payment_items::payment_id, payment_items::membership_id))
        .select(PaymentItemRow::as_select())
        .load(conn)
        .await?)
}

/// One row of a bulk-payout file: who is paid how much, in their payout currency.
#[derive(QueryableByName, Debug)]
pub struct PayoutLine {
    #[diesel(sql_type = BigInt)]
    pub item_id: PaymentItemId,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub recipient: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub member_name: String,
    #[diesel(sql_type = Numeric)]
    pub amount: Decimal,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub currency: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub brand_name: String,
}

/// The payment's items with their recipients' payout addresses (their email when none is set);
/// `page` is (offset, limit) in item order, none for all.
pub async fn payout_lines(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    payment_id: PaymentId,
    page: Option<(usize, usize)>,
) -> DbResult<Vec<PayoutLine>> {
    let (offset, limit) = page.map_or((0, None), |(offset, limit)| (offset as i64, Some(limit as i64)));
    Ok(diesel::sql_query(
        "SELECT i.id AS item_id, COALESCE(mb.payout_email, mb.email) AS recipient, mb.name AS member_name,
                i.payout_amount AS amount, i.payout_currency AS currency, b.name AS brand_name
         FROM payment_items i
         JOIN memberships m ON m.brand_id = i.brand_id AND m.id = i.membership_id
         JOIN members mb ON mb.brand_id = m.brand_id AND mb.id = m.member_id
         JOIN brands b ON b.id = i.brand_id
         WHERE i.brand_id = $1 AND i.payment_id = $2 AND i.state <> 'FAILED'
         ORDER BY i.id
         OFFSET $3 LIMIT $4",
    )
    .bind::<BigInt, _>(brand_id)
    .bind::<BigInt, _>(payment_id)
    .bind::<BigInt, _>(offset)
    .bind::<Nullable<BigInt>, _>(limit)
    .load(conn)
    .await?)
}
