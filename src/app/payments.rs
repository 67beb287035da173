//! Send Payment: what is due in a scope becomes one payment with one item per
//! membership, exactly once.
//!
//! Claiming runs in one transaction: the payment row is inserted first (its
//! idempotency key is unique, so a concurrent request with the same key waits
//! and then finds it), then the due ledger entries are locked `FOR UPDATE` and
//! linked to the new items. A concurrent payment with another key waits on those
//! locks and, re-reading them, sees them paid. The provider is called after the
//! claim commits, and its answer is stored in a second transaction.
//!
//! What is due is in the brand's currency; a member paid in another currency is
//! sent it converted at the payment day's rate, kept on the item, while the
//! item's brand-currency amount is what a failed item returns to due.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use rust_decimal::Decimal;

use super::events;
use super::exchange_rates::{self, ExchangeRate};
use super::jobs::{Handler, Job, Lease, Outcome, backoff};
use super::live::KpiChanges;
use super::members::memberships_of;
use super::ports::{BatchReport, Notification, PayoutBatch, PayoutItem, PayoutProviders, Vouched};
use super::reports::{self, OfferSelection};
use super::{AppError, AppResult, Caller};
use crate::db::payments::{self, DueFilter, ItemReport, NewItem, NewPayment, PaymentRow, PayoutLine};
use crate::db::{DbError, DbPool, audit, brands, members, offers};
use crate::domain::currency::at_rate;
use crate::domain::date_range::DateRange;
use crate::domain::enums::{JobKind, PaymentProvider, PaymentScope, PaymentState};
use crate::domain::ids::{BrandId, MembershipId, OfferId, PaymentId};
use crate::domain::payment::{
    DueAmount, LeftOut, LeftOutReason, PAYOUT_FILE_ROWS, fit_in_one_payment, is_settled, net_per_membership,
    overall_state, recheck_after,
};
use crate::domain::webhooks::EventType;

/// Which memberships a payment covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payees {
    AllOffers,
    /// The offers the home page's Payments Due covers (its filter's, active by default).
    ActiveOffers(Vec<OfferId>),
    Offer(OfferId),
    Memberships(Vec<MembershipId>),
}

impl Payees {
    /// The payees a request names, after checking that they exist in the brand.
    pub async fn resolve(
        conn: &mut AsyncPgConnection,
        brand_id: BrandId,
        scope: PaymentScope,
        offer_id: Option<OfferId>,
        membership_ids: Option<Vec<MembershipId>>,
    ) -> AppResult<Payees> {
        let bad = AppError::bad_input;
        match (scope, offer_id, membership_ids) {
            (PaymentScope::AllOffers, None, None) => Ok(Payees::AllOffers),
            (PaymentScope::Offer, Some(id), None) => {
                offers::find(conn, brand_id, id)
                    .await?
                    .ok_or(AppError::NotFound("offer"))?;
                Ok(Payees::Offer(id))
            }
            (PaymentScope::Memberships, None, Some(ids)) => {
                memberships_of(conn, brand_id, &ids).await?;
                Ok(Payees::Memberships(ids))
            }
            (PaymentScope::AllOffers, _, _) => Err(bad("ALL_OFFERS takes neither offerId nor membershipIds")),
            (PaymentScope::ActiveOffers, _, _) => {
                Err(bad("ACTIVE_OFFERS takes a filter, not offerId or membershipIds"))
            }
            (PaymentScope::Offer, _, _) => Err(bad("OFFER takes an offerId and no membershipIds")),
            (PaymentScope::Memberships, _, _) => Err(bad("MEMBERSHIPS takes membershipIds and no offerId")),
            (PaymentScope::ShopImport, _, _) => Err(bad(
                "SHOP_IMPORT marks history imported from Shopify as paid outside; it cannot be sent",
            )),
        }
    }

    /// ACTIVE_OFFERS: the offers `selection` picks, as the home page's KPIs for
    /// `range` do (its KPI bounds read that range), so Send Payment pays exactly the
    /// Payments Due the page shows.
    pub async fn active_offers(
        conn: &mut AsyncPgConnection,
        report_conn: &mut AsyncPgConnection,
        caller: &Caller,
        selection: &OfferSelection,
        range: DateRange,
    ) -> AppResult<Payees> {
        let offers = if selection.bounds.is_empty() {
            reports::offers_in(conn, caller, selection).await?
        } else {
            let report = reports::offer_report(conn, report_conn, caller, selection, range).await?;
            report.offers.into_iter().map(|(offer, _)| offer).collect()
        };
        Ok(Payees::ActiveOffers(offers.iter().map(|offer| offer.id).collect()))
    }

    pub fn kind(&self) -> PaymentScope {
        match self {
            Payees::AllOffers => PaymentScope::AllOffers,
            Payees::ActiveOffers(_) => PaymentScope::ActiveOffers,
            Payees::Offer(_) => PaymentScope::Offer,
            Payees::Memberships(_) => PaymentScope::Memberships,
        }
    }

    fn offer_id(&self) -> Option<OfferId> {
        match self {
            Payees::Offer(id) => Some(*id),
            _ => None,
        }
    }

    fn filter(&self) -> DueFilter<'_> {
        DueFilter {
            offer_ids: match self {
                Payees::ActiveOffers(ids) => Some(ids),
                Payees::Offer(id) => Some(std::slice::from_ref(id)),
                _ => None,
            },
            membership_ids: match self {
                Payees::Memberships(ids) => Some(ids),
                _ => None,
            },
        }
    }
}

/// What one membership is sent: its due amount (in the brand's currency) in its
/// member's payout currency.
#[derive(Clone, Debug)]
pub struct Payout {
    pub due: DueAmount,
    pub currency: String,
    pub amount: Decimal,
    /// How it was converted; none when the member is paid in the brand's currency.
    pub rate: Option<ExchangeRate>,
}

/// Converts each membership's due amount into its member's payout currency at
/// the rate for `day` (rounded once, to that currency's minor unit). One whose
/// currency has no rate published on or before `day` is left out: it stays due.
async fn in_payout_currencies(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    owed: Vec<DueAmount>,
    day: NaiveDate,
) -> AppResult<(Vec<Payout>, Vec<LeftOut>)> {
    let brand_currency = brands::find(conn, brand_id).await?.currency;
    let ids: Vec<MembershipId> = owed.iter().map(|due| due.membership_id).collect();
    let currencies = members::payout_currencies(conn, brand_id, &ids).await?;
    let mut rates: HashMap<String, Option<ExchangeRate>> = HashMap::new();
    let (mut payouts, mut left_out) = (Vec::with_capacity(owed.len()), Vec::new());
    for due in owed {
        let currency = currencies.get(&due.membership_id).unwrap_or(&brand_currency).clone();
        if currency == brand_currency {
            payouts.push(Payout {
                amount: due.amount,
                currency,
                rate: None,
                due,
            });
            continue;
        }
        if !rates.contains_key(&currency) {
            let rate = exchange_rates::rate(conn, &brand_currency, &currency, day).await?;
            rates.insert(currency.clone(), rate);
        }
        match &rates[&currency] {
            Some(rate) => payouts.push(Payout {
                amount: at_rate(due.amount, rate.rate, &currency),
                currency,
                rate: Some(rate.clone()),
                due,
            }),
            None => left_out.push(LeftOut {
                due,
                reason: LeftOutReason::NoRate {
                    from: brand_currency.clone(),
                    to: currency,
                },
            }),
        }
    }
    Ok((payouts, left_out))
}

/// What Send Payment would pay now to `payees`, without paying it: each payout,
/// and who is owed money in a currency without a rate yet.
pub async fn preview(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    payees: &Payees,
    now: DateTime<Utc>,
) -> AppResult<(Vec<Payout>, Vec<LeftOut>)> {
    let entries = payments::due_entries(conn, caller.brand_id, payees.filter(), now, false).await?;
    let day = now.with_timezone(&caller.time_zone).date_naive();
    in_payout_currencies(conn, caller.brand_id, net_per_membership(entries), day).await
}

/// The payment, whether it was made by an earlier request with the same key, and
/// (for a new one) who is owed money it could not carry.
pub struct Sent {
    pub payment: PaymentRow,
    pub replayed: bool,
    pub left_out: Vec<LeftOut>,
}

/// Pays everything due to `payees` once, through `provider`. The same
/// `idempotency_key` again returns the first payment (asking its provider first
/// when it is not settled); with other payees it is a conflict. A provider that
/// fails or does not answer leaves the payment `PROCESSING`, never an error:
/// reconciliation finishes it. No database connection is held while the provider
/// is called, so a hanging provider cannot starve the pool.
pub async fn send(
    app: &super::App,
    provider: PaymentProvider,
    caller: Caller,
    payees: Payees,
    idempotency_key: &str,
    now: DateTime<Utc>,
) -> AppResult<Sent> {
    let key = idempotency_key.trim();
    if key.is_empty() || key.len() > 200 {
        return Err(AppError::bad_input("idempotencyKey must be 1 to 200 characters"));
    }
    let (pool, providers) = (app.pool(), app.payouts());
    let paying = providers
        .get(provider)
        .ok_or_else(|| AppError::bad_input(format!("{} is not configured on this server", provider.as_str())))?;
    let claimed = claim(&mut *connection(pool).await?, provider, caller, &payees, key, now).await?;
    match claimed {
        Claimed::Existing(payment) => Ok(Sent {
            payment: reconcile(pool, providers, payment, now).await?,
            replayed: true,
            left_out: Vec::new(),
        }),
        Claimed::New(payment, left_out) => {
            for left in &left_out {
                tracing::warn!(payment_id = %payment.id, membership_id = %left.due.membership_id, amount = %left.due.amount, reason = ?left.reason, "left out of a payment");
            }
            let batch = batch_of(&mut *connection(pool).await?, &payment).await?;
            let report = paying.submit(&batch).await;
            Ok(Sent {
                payment: record_report(&mut *connection(pool).await?, &payment, report, now).await?,
                replayed: false,
                left_out,
            })
        }
    }
}

async fn connection(pool: &DbPool) -> AppResult<crate::db::DbConn> {
    Ok(pool.get().await.map_err(DbError::from)?)
}

/// Asks the provider of an unsettled payment what happened and records it (a
/// settled payment is returned as it is). Without the provider's batch id, the
/// batch is handed over again, which the provider answers without paying twice.
pub async fn reconcile(
    pool: &DbPool,
    providers: &PayoutProviders,
    payment: PaymentRow,
    now: DateTime<Utc>,
) -> AppResult<PaymentRow> {
    if is_settled(payment.state) {
        return Ok(payment);
    }
    let Some(provider) = providers.get(payment.provider) else {
        tracing::warn!(payment_id = %payment.id, provider = payment.provider.as_str(), "payment's provider is not configured here");
        return Ok(payment);
    };
    let batch = batch_of(&mut *connection(pool).await?, &payment).await?;
    let report = provider.check(&batch, payment.provider_batch_id.as_deref()).await;
    record_report(&mut *connection(pool).await?, &payment, report, now).await
}

/// Drives the unsettled payments of every brand toward a final state; returns how
/// many it looked at. Run at start and periodically; `live` hears of each payment
/// that settled (its brand's Payouts and Payments Due may have changed).
pub async fn reconcile_unsettled(
    pool: &DbPool,
    providers: &PayoutProviders,
    live: &KpiChanges,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    // Payments of a provider this server has no account for are left to a server that has.
    let reachable: Vec<PaymentProvider> = PaymentProvider::ALL
        .iter()
        .copied()
        .filter(|p| providers.get(*p).is_some())
        .collect();
    let unsettled = payments::unsettled(&mut *connection(pool).await?, &reachable, now, RECONCILE_BATCH).await?;
    let count = unsettled.len();
    for payment in unsettled {
        let (brand_id, id, created_at) = (payment.brand_id, payment.id, payment.created_at);
        let reconciled = reconcile(pool, providers, payment, now).await;
        if let Err(error) = &reconciled {
            tracing::error!(payment_id = %id, ?error, "reconciling a payment failed");
        }
        if reconciled.as_ref().is_ok_and(|payment| is_settled(payment.state)) {
            live.touch(brand_id);
        } else {
            let next = now + recheck_after(now - created_at);
            payments::set_next_check(&mut *connection(pool).await?, brand_id, id, next).await?;
        }
    }
    Ok(count)
}

/// Payments reconciled per round.
const RECONCILE_BATCH: i64 = 100;

/// The recurring job that reconciles unsettled payments every `every`.
pub struct ReconcileJob {
    pub pool: DbPool,
    pub live: KpiChanges,
    pub providers: PayoutProviders,
    pub every: std::time::Duration,
}

#[async_trait::async_trait]
impl Handler for ReconcileJob {
    fn kind(&self) -> JobKind {
        JobKind::PaymentReconciliation
    }

    fn every(&self) -> Option<std::time::Duration> {
        Some(self.every)
    }

    async fn run(&self, job: &Job, _: &Lease) -> Outcome {
        match reconcile_unsettled(&self.pool, &self.providers, &self.live, Utc::now()).await {
            Ok(0) => Outcome::Done,
            Ok(count) => {
                tracing::info!(count, "reconciled unsettled payments");
                Outcome::Done
            }
            Err(error) => Outcome::Retry {
                after: backoff(job.attempts),
                error: format!("{error:?}"),
            },
        }
    }
}

/// A provider's webhook says batch `batch_id` changed: reconcile its payment, if it is ours.
pub async fn batch_changed(
    pool: &DbPool,
    providers: &PayoutProviders,
    provider: PaymentProvider,
    batch_id: &str,
    now: DateTime<Utc>,
) -> AppResult<Option<PaymentRow>> {
    let found = payments::find_by_provider_batch(&mut *connection(pool).await?, provider, batch_id).await?;
    match found {
        Some(payment) => Ok(Some(reconcile(pool, providers, payment, now).await?)),
        None => Ok(None),
    }
}

enum Claimed {
    Existing(PaymentRow),
    New(PaymentRow, Vec<LeftOut>),
}

async fn claim(
    conn: &mut AsyncPgConnection,
    provider: PaymentProvider,
    caller: Caller,
    payees: &Payees,
    key: &str,
    now: DateTime<Utc>,
) -> AppResult<Claimed> {
    let brand_id = caller.brand_id;
    conn.transaction::<_, AppError, _>(|conn| {
        async move {
            let new = NewPayment {
                brand_id,
                idempotency_key: key,
                scope: payees.kind().as_str(),
                offer_id: payees.offer_id(),
                provider,
                created_by_key_id: caller.api_key_id,
                created_at: now,
            };
            let Some(payment) = payments::insert(conn, new).await? else {
                let existing = payments::find_by_key(conn, brand_id, key)
                    .await?
                    .ok_or(DbError::NotFound)?;
                if existing.scope == payees.kind() && existing.offer_id == payees.offer_id() {
                    return Ok(Claimed::Existing(existing));
                }
                return Err(AppError::Conflict(format!(
                    "idempotencyKey was already used for {} with another scope",
                    existing.id
                )));
            };
            let owed = net_per_membership(payments::due_entries(conn, brand_id, payees.filter(), now, true).await?);
            if owed.is_empty() {
                return Err(AppError::Conflict("nothing is due in this scope".into()));
            }
            let (due, mut left_out) = fit_in_one_payment(owed);
            let day = now.with_timezone(&caller.time_zone).date_naive();
            let (payouts, without_rate) = in_payout_currencies(conn, brand_id, due, day).await?;
            left_out.extend(without_rate);
            if payouts.is_empty() {
                let reason = left_out.first().map(|left| left.reason.describe()).unwrap_or_default();
                return Err(AppError::Conflict(format!("nothing due can be paid: {reason}")));
            }
            let mut items = Vec::with_capacity(payouts.len());
            for payout in &payouts {
                let item = NewItem {
                    membership_id: payout.due.membership_id,
                    amount: payout.due.amount,
                    entry_ids: &payout.due.entry_ids,
                    payout_currency: &payout.currency,
                    payout_amount: payout.amount,
                    exchange_rate: payout.rate.as_ref().map_or(Decimal::ONE, |rate| rate.rate),
                    rate_published_on: payout.rate.as_ref().map(|rate| rate.published_on),
                    rate_source: payout.rate.as_ref().map(|rate| rate.source.as_str()),
                };
                items.push(payments::insert_item(conn, &payment, item).await?);
            }
            let total: Decimal = payouts.iter().map(|payout| payout.due.amount).sum();
            let payment = payments::set_total(conn, brand_id, payment.id, total).await?;
            events::publish(conn, vec![events::payment(&payment, EventType::PaymentCreated)]).await?;
            let details = serde_json::json!({
                "paymentId": payment.id.to_string(),
                "scope": payment.scope.as_str(),
                "offerId": payment.offer_id.map(|id| id.to_string()),
                "idempotencyKey": payment.idempotency_key,
                "totalAmount": total,
                "items": items.len(),
                "leftOut": left_out.iter().map(|left| left.due.membership_id.to_string()).collect::<Vec<_>>(),
            });
            audit::record(conn, brand_id, Some(caller.api_key_id), "sendPayment", details).await?;
            Ok(Claimed::New(payment, left_out))
        }
        .scope_boxed()
    })
    .await
}

/// The claimed payment in the provider's terms.
async fn batch_of(conn: &mut AsyncPgConnection, payment: &PaymentRow) -> AppResult<PayoutBatch> {
    let lines = payments::payout_lines(conn, payment.brand_id, payment.id, None).await?;
    let brand_name = lines.first().map(|line| line.brand_name.clone()).unwrap_or_default();
    Ok(PayoutBatch {
        payment_id: payment.id,
        brand_name,
        items: lines
            .into_iter()
            .map(|line| PayoutItem {
                item_id: line.item_id,
                recipient: line.recipient,
                amount: line.amount,
                currency: line.currency,
            })
            .collect(),
    })
}

/// Stores the provider's answer, item by item, and the payment's resulting state,
/// holding the payment so concurrent reconciliations record one after the other.
/// An error from the provider changes nothing: the payment stays unsettled.
async fn record_report(
    conn: &mut AsyncPgConnection,
    payment: &PaymentRow,
    report: anyhow::Result<BatchReport>,
    now: DateTime<Utc>,
) -> AppResult<PaymentRow> {
    let report = match report {
        Ok(report) => report,
        Err(error) => {
            tracing::warn!(payment_id = %payment.id, %error, "payout provider did not settle the payment; it stays PROCESSING");
            return Ok(payments::find(conn, payment.brand_id, payment.id)
                .await?
                .ok_or(DbError::NotFound)?);
        }
    };
    let (brand_id, payment_id) = (payment.brand_id, payment.id);
    conn.transaction::<_, AppError, _>(|conn| {
        async move {
            let current = payments::lock(conn, brand_id, payment_id).await?;
            if is_settled(current.state) {
                return Ok(current);
            }
            if let Some(batch_id) = &report.provider_batch_id {
                payments::set_provider_batch_id(conn, brand_id, payment_id, batch_id).await?;
            }
            let failed_before: Vec<_> = payments::items(conn, brand_id, &[payment_id])
                .await?
                .into_iter()
                .filter(|item| item.state == PaymentState::Failed)
                .map(|item| item.id)
                .collect();
            for outcome in &report.items {
                let item = ItemReport {
                    state: outcome.state,
                    reference: outcome.reference.as_deref(),
                    provider_status: outcome.provider_status.as_deref(),
                };
                payments::set_item_outcome(conn, brand_id, payment_id, outcome.item_id, item).await?;
            }
            let items = payments::items(conn, brand_id, &[payment_id]).await?;
            let states: Vec<PaymentState> = items.iter().map(|item| item.state).collect();
            let state = overall_state(&states);
            let completed_at = is_settled(state).then_some(now);
            let updated = payments::set_state(conn, brand_id, payment_id, state, completed_at).await?;
            let mut changes: Vec<_> = items
                .iter()
                .filter(|item| item.state == PaymentState::Failed && !failed_before.contains(&item.id))
                .map(events::payment_item_failed)
                .collect();
            if updated.state != current.state {
                changes.extend(events::payment_state_event(&updated));
            }
            events::publish(conn, changes).await?;
            Ok(updated)
        }
        .scope_boxed()
    })
    .await
}

/// Bulk-payout file `part` (1-based; `PAYOUT_FILE_ROWS` items each) of a payment's
/// items with their recipients; none when the payment is not the brand's or has no
/// such part.
pub async fn payout_file(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    payment_id: PaymentId,
    part: usize,
) -> AppResult<Option<Vec<PayoutLine>>> {
    if part == 0 || payments::find(conn, brand_id, payment_id).await?.is_none() {
        return Ok(None);
    }
    let offset = (part - 1).saturating_mul(PAYOUT_FILE_ROWS);
    let lines = payments::payout_lines(conn, brand_id, payment_id, Some((offset, PAYOUT_FILE_ROWS))).await?;
    Ok((part == 1 || !lines.is_empty()).then_some(lines))
}

/// What a payout provider's notification led to.
#[derive(Debug)]
pub enum NotificationOutcome {
    /// It lacks what the provider signs (the header named).
    Malformed(String),
    /// The provider does not vouch for it: nothing is read.
    NotVouched,
    /// It is not about a payment this server made.
    Ignored,
    /// Its payment, as the provider now reports it.
    Reconciled(PaymentRow),
}

/// A notification from a payout provider (PayPal's webhooks) only tells the
/// server to look at a batch again: the provider is asked to vouch for it, and
/// what is recorded is read from the provider, never taken from the event.
/// `NotFound` when this server does not pay through `provider`.
pub async fn receive_notification(
    app: &super::App,
    provider: PaymentProvider,
    notification: &Notification,
) -> AppResult<NotificationOutcome> {
    let providers = app.payouts();
    let paying = providers.get(provider).ok_or(AppError::NotFound("payout provider"))?;
    match paying.verify_notification(notification).await {
        Ok(Vouched::Yes) => {}
        Ok(Vouched::No) => return Ok(NotificationOutcome::NotVouched),
        Ok(Vouched::Malformed(header)) => return Ok(NotificationOutcome::Malformed(header)),
        Err(error) => {
            tracing::error!(?error, "checking a payout notification failed");
            return Err(AppError::Unavailable);
        }
    }
    let Some(batch_id) = paying.notified_batch_id(&notification.event) else {
        return Ok(NotificationOutcome::Ignored);
    };
    let payment = batch_changed(app.tracking_pool(), providers, provider, batch_id, Utc::now()).await?;
    if let Some(payment) = &payment {
        app.kpis_changed(payment.brand_id);
    }
    Ok(payment.map_or(NotificationOutcome::Ignored, NotificationOutcome::Reconciled))
}
