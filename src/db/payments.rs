//! Send Payment: what is due in a scope becomes one payment with one item per
//! membership, exactly once.
//!
//! Claiming runs in one transaction: the payment row is inserted first (its
//! idempotency key is unique, so a concurrent request with the same key waits
//! and then finds it), then the due ledger entries are locked `FOR UPDATE` and
//! linked to the new items. A concurrent payment with another key waits on those
//! locks and, re-reading them, sees them paid. The provider is called after the
//! claim commits, and its answer is stored in a second transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Numeric, Timestamptz};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use super::audit;
use super::pagination::{Page, PageRequest};
use super::schema::{ledger_entries, payment_items, payments};
use super::{DbError, DbResult};
use crate::domain::enums::{PaymentScope, PaymentState};
use crate::payout_provider::{ItemOutcome, PayoutProvider};

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = payments, check_for_backend(diesel::pg::Pg))]
pub struct PaymentRow {
    pub brand_id: i64,
    pub id: i64,
    pub idempotency_key: String,
    pub scope: String,
    pub offer_id: Option<i64>,
    pub provider: String,
    pub state: String,
    pub total_amount: Decimal,
    pub created_by_key_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = payment_items, check_for_backend(diesel::pg::Pg))]
pub struct PaymentItemRow {
    pub brand_id: i64,
    pub id: i64,
    pub payment_id: i64,
    pub membership_id: i64,
    pub amount: Decimal,
    pub state: String,
    pub provider_reference: Option<String>,
}

/// Which memberships a payment covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    AllOffers,
    Offer(i64),
    Memberships(Vec<i64>),
}

impl Scope {
    pub fn kind(&self) -> PaymentScope {
        match self {
            Scope::AllOffers => PaymentScope::AllOffers,
            Scope::Offer(_) => PaymentScope::Offer,
            Scope::Memberships(_) => PaymentScope::Memberships,
        }
    }

    fn offer_id(&self) -> Option<i64> {
        match self {
            Scope::Offer(id) => Some(*id),
            _ => None,
        }
    }

    fn membership_ids(&self) -> Option<&[i64]> {
        match self {
            Scope::Memberships(ids) => Some(ids),
            _ => None,
        }
    }
}

/// What one membership would be paid: its due entries, net of clawbacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueAmount {
    pub membership_id: i64,
    pub amount: Decimal,
    entry_ids: Vec<i64>,
}

#[derive(QueryableByName)]
struct DueEntry {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    membership_id: i64,
    #[diesel(sql_type = Numeric)]
    amount: Decimal,
}

/// Unpaid entries past their hold period, in scope. `FOR UPDATE` is appended when claiming.
const DUE_ENTRIES: &str = "SELECT e.id, e.membership_id, e.amount
     FROM ledger_entries e
     JOIN memberships m ON m.brand_id = e.brand_id AND m.id = e.membership_id
     WHERE e.brand_id = $1 AND e.payment_item_id IS NULL AND e.payable_at <= $2
       AND ($3::bigint IS NULL OR m.offer_id = $3)
       AND ($4::bigint[] IS NULL OR e.membership_id = ANY($4))
     ORDER BY e.id";

async fn due_entries(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    scope: &Scope,
    now: DateTime<Utc>,
    lock: bool,
) -> DbResult<Vec<DueEntry>> {
    let sql = if lock {
        format!("{DUE_ENTRIES} FOR UPDATE OF e")
    } else {
        DUE_ENTRIES.to_string()
    };
    Ok(diesel::sql_query(sql)
        .bind::<BigInt, _>(brand_id)
        .bind::<Timestamptz, _>(now)
        .bind::<Nullable<BigInt>, _>(scope.offer_id())
        .bind::<Nullable<Array<BigInt>>, _>(scope.membership_ids())
        .load(conn)
        .await?)
}

/// Per membership, the net of its entries; only positive nets are paid, the rest
/// (clawbacks larger than what was earned since) wait for later earnings.
fn net_per_membership(entries: Vec<DueEntry>) -> Vec<DueAmount> {
    let mut by_membership: BTreeMap<i64, DueAmount> = BTreeMap::new();
    for entry in entries {
        let due = by_membership.entry(entry.membership_id).or_insert_with(|| DueAmount {
            membership_id: entry.membership_id,
            amount: Decimal::ZERO,
            entry_ids: Vec::new(),
        });
        due.amount += entry.amount;
        due.entry_ids.push(entry.id);
    }
    by_membership
        .into_values()
        .filter(|due| due.amount > Decimal::ZERO)
        .collect()
}

/// What Send Payment would pay now in `scope`, without paying it.
pub async fn preview(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    scope: &Scope,
    now: DateTime<Utc>,
) -> DbResult<Vec<DueAmount>> {
    Ok(net_per_membership(
        due_entries(conn, brand_id, scope, now, false).await?,
    ))
}

/// A Send Payment request.
pub struct PaymentRequest<'a> {
    pub brand_id: i64,
    pub api_key_id: i64,
    pub scope: Scope,
    pub idempotency_key: &'a str,
    pub now: DateTime<Utc>,
}

#[derive(Debug)]
pub enum SendError {
    /// Nothing in scope is due (or every net is zero or negative).
    NothingDue,
    /// The key was used before for a payment of another scope.
    KeyReused(PaymentRow),
    Db(DbError),
}

impl From<DbError> for SendError {
    fn from(error: DbError) -> Self {
        SendError::Db(error)
    }
}

impl From<diesel::result::Error> for SendError {
    fn from(error: diesel::result::Error) -> Self {
        SendError::Db(error.into())
    }
}

/// The payment, and whether it was made by an earlier request with the same key.
pub struct Sent {
    pub payment: PaymentRow,
    pub replayed: bool,
}

/// Pays everything due in scope once, through `provider`.
pub async fn send(
    conn: &mut AsyncPgConnection,
    provider: &dyn PayoutProvider,
    request: PaymentRequest<'_>,
) -> Result<Sent, SendError> {
    let claimed = claim(conn, provider.name(), &request).await?;
    let (payment, items) = match claimed {
        Claimed::Existing(payment) => {
            return Ok(Sent {
                payment,
                replayed: true,
            });
        }
        Claimed::New(payment, items) => (payment, items),
    };
    let outcomes = match provider.submit(&payment, &items).await {
        Ok(outcomes) => outcomes,
        Err(error) => {
            tracing::error!(payment_id = payment.id, %error, "payout provider failed");
            items
                .iter()
                .map(|item| ItemOutcome {
                    item_id: item.id,
                    state: PaymentState::Failed,
                    reference: None,
                })
                .collect()
        }
    };
    let payment = record_outcomes(conn, &payment, &outcomes, request.now).await?;
    Ok(Sent {
        payment,
        replayed: false,
    })
}

enum Claimed {
    Existing(PaymentRow),
    New(PaymentRow, Vec<PaymentItemRow>),
}

async fn claim(
    conn: &mut AsyncPgConnection,
    provider: &str,
    request: &PaymentRequest<'_>,
) -> Result<Claimed, SendError> {
    let brand_id = request.brand_id;
    conn.transaction::<_, SendError, _>(|conn| {
        async move {
            let inserted: Option<PaymentRow> = diesel::insert_into(payments::table)
                .values((
                    payments::brand_id.eq(brand_id),
                    payments::idempotency_key.eq(request.idempotency_key),
                    payments::scope.eq(request.scope.kind().as_str()),
                    payments::offer_id.eq(request.scope.offer_id()),
                    payments::provider.eq(provider),
                    payments::state.eq(PaymentState::Processing.as_str()),
                    payments::created_by_key_id.eq(request.api_key_id),
                    payments::created_at.eq(request.now),
                ))
                .on_conflict_do_nothing()
                .returning(PaymentRow::as_returning())
                .get_result(conn)
                .await
                .optional()?;
            let Some(payment) = inserted else {
                let existing = find_by_key(conn, brand_id, request.idempotency_key)
                    .await?
                    .ok_or(DbError::NotFound)?;
                let same_request =
                    existing.scope == request.scope.kind().as_str() && existing.offer_id == request.scope.offer_id();
                return if same_request {
                    Ok(Claimed::Existing(existing))
                } else {
                    Err(SendError::KeyReused(existing))
                };
            };
            let due = net_per_membership(due_entries(conn, brand_id, &request.scope, request.now, true).await?);
            if due.is_empty() {
                return Err(SendError::NothingDue);
            }
            let mut items = Vec::with_capacity(due.len());
            for membership_due in &due {
                let item: PaymentItemRow = diesel::insert_into(payment_items::table)
                    .values((
                        payment_items::brand_id.eq(brand_id),
                        payment_items::payment_id.eq(payment.id),
                        payment_items::membership_id.eq(membership_due.membership_id),
                        payment_items::amount.eq(membership_due.amount),
                        payment_items::state.eq(PaymentState::Processing.as_str()),
                    ))
                    .returning(PaymentItemRow::as_returning())
                    .get_result(conn)
                    .await?;
                diesel::update(
                    ledger_entries::table
                        .filter(ledger_entries::brand_id.eq(brand_id))
                        .filter(ledger_entries::id.eq_any(&membership_due.entry_ids)),
                )
                .set(ledger_entries::payment_item_id.eq(item.id))
                .execute(conn)
                .await?;
                items.push(item);
            }
            let total: Decimal = due.iter().map(|d| d.amount).sum();
            let payment = diesel::update(payments::table.find((brand_id, payment.id)))
                .set(payments::total_amount.eq(total))
                .returning(PaymentRow::as_returning())
                .get_result(conn)
                .await?;
            let details = serde_json::json!({
                "paymentId": format!("payment_{}", payment.id),
                "scope": payment.scope,
                "offerId": payment.offer_id.map(|id| format!("offer_{id}")),
                "idempotencyKey": payment.idempotency_key,
                "totalAmount": total,
                "items": items.len(),
            });
            audit::record(conn, brand_id, request.api_key_id, "sendPayment", details).await?;
            Ok(Claimed::New(payment, items))
        }
        .scope_boxed()
    })
    .await
}

/// Stores the provider's answer. A failed item releases its entries: they are due again.
async fn record_outcomes(
    conn: &mut AsyncPgConnection,
    payment: &PaymentRow,
    outcomes: &[ItemOutcome],
    now: DateTime<Utc>,
) -> DbResult<PaymentRow> {
    let brand_id = payment.brand_id;
    let payment_id = payment.id;
    conn.transaction::<_, DbError, _>(|conn| {
        async move {
            for outcome in outcomes {
                diesel::update(payment_items::table.find((brand_id, outcome.item_id)))
                    .set((
                        payment_items::state.eq(outcome.state.as_str()),
                        payment_items::provider_reference.eq(&outcome.reference),
                    ))
                    .execute(conn)
                    .await?;
                if outcome.state == PaymentState::Failed {
                    diesel::update(
                        ledger_entries::table
                            .filter(ledger_entries::brand_id.eq(brand_id))
                            .filter(ledger_entries::payment_item_id.eq(outcome.item_id)),
                    )
                    .set(ledger_entries::payment_item_id.eq(None::<i64>))
                    .execute(conn)
                    .await?;
                }
            }
            let states: Vec<PaymentState> = outcomes.iter().map(|o| o.state).collect();
            let state = overall_state(&states);
            let done = matches!(state, PaymentState::Paid | PaymentState::Failed);
            Ok(diesel::update(payments::table.find((brand_id, payment_id)))
                .set((
                    payments::state.eq(state.as_str()),
                    payments::completed_at.eq(done.then_some(now)),
                ))
                .returning(PaymentRow::as_returning())
                .get_result(conn)
                .await?)
        }
        .scope_boxed()
    })
    .await
}

/// A payment is processing while any item is; then paid if any item was paid
/// (the failed ones show on their items), else failed.
fn overall_state(items: &[PaymentState]) -> PaymentState {
    if items
        .iter()
        .any(|s| matches!(s, PaymentState::Pending | PaymentState::Processing))
    {
        PaymentState::Processing
    } else if items.contains(&PaymentState::Paid) {
        PaymentState::Paid
    } else {
        PaymentState::Failed
    }
}

pub async fn find_by_key(conn: &mut AsyncPgConnection, brand_id: i64, key: &str) -> DbResult<Option<PaymentRow>> {
    Ok(payments::table
        .filter(payments::brand_id.eq(brand_id).and(payments::idempotency_key.eq(key)))
        .select(PaymentRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

pub async fn find(conn: &mut AsyncPgConnection, brand_id: i64, id: i64) -> DbResult<Option<PaymentRow>> {
    Ok(payments::table
        .find((brand_id, id))
        .select(PaymentRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The brand's payments, newest first.
pub async fn page(conn: &mut AsyncPgConnection, brand_id: i64, request: PageRequest) -> DbResult<Page<PaymentRow>> {
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
pub async fn items(conn: &mut AsyncPgConnection, brand_id: i64, payment_ids: &[i64]) -> DbResult<Vec<PaymentItemRow>> {
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

/// One row of a bulk-payout file: who is paid how much.
#[derive(QueryableByName, Debug)]
pub struct PayoutLine {
    #[diesel(sql_type = BigInt)]
    pub item_id: i64,
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

/// The payment's items with their recipients' payout addresses (their email when none is set).
pub async fn payout_lines(conn: &mut AsyncPgConnection, brand_id: i64, payment_id: i64) -> DbResult<Vec<PayoutLine>> {
    Ok(diesel::sql_query(
        "SELECT i.id AS item_id, COALESCE(mb.payout_email, mb.email) AS recipient, mb.name AS member_name,
                i.amount, b.currency, b.name AS brand_name
         FROM payment_items i
         JOIN memberships m ON m.brand_id = i.brand_id AND m.id = i.membership_id
         JOIN members mb ON mb.brand_id = m.brand_id AND mb.id = m.member_id
         JOIN brands b ON b.id = i.brand_id
         WHERE i.brand_id = $1 AND i.payment_id = $2 AND i.state <> 'FAILED'
         ORDER BY i.id",
    )
    .bind::<BigInt, _>(brand_id)
    .bind::<BigInt, _>(payment_id)
    .load(conn)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64, membership_id: i64, amount: &str) -> DueEntry {
        DueEntry {
            id,
            membership_id,
            amount: amount.parse().unwrap(),
        }
    }

    #[test]
    fn nets_clawbacks_and_skips_memberships_that_owe() {
        let due = net_per_membership(vec![
            entry(1, 7, "10.00"),
            entry(2, 7, "-3.50"),
            entry(3, 8, "2.00"),
            entry(4, 8, "-5.00"),
            entry(5, 9, "0.00"),
        ]);
        assert_eq!(
            due,
            vec![DueAmount {
                membership_id: 7,
                amount: "6.50".parse().unwrap(),
                entry_ids: vec![1, 2],
            }]
        );
    }

    #[test]
    fn a_payment_is_done_when_no_item_is_in_flight() {
        use PaymentState::*;
        assert_eq!(overall_state(&[Paid, Paid]), Paid);
        assert_eq!(overall_state(&[Failed, Failed]), Failed);
        assert_eq!(overall_state(&[Paid, Failed]), Paid);
        assert_eq!(overall_state(&[Paid, Processing]), Processing);
    }
}
