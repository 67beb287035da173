//! Orders become conversions here: attributed (SPEC.md *Attribution*), priced,
//! booked in the ledger, counted in the rollups and checked against reward
//! rules, all in one transaction; and refunds and rejections, once each.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::audit::audited;
use super::events::{self, Event};
use super::{AppError, AppResult, Caller};
use crate::db::DbPool;
use crate::db::conversions::{self, Adjusted, Adjustment, NewConversion, Terms};
use crate::db::ledger::{self, NewLedgerEntry};
use crate::db::models::ConversionRow;
use crate::db::orders_awaiting_rate::{self, AwaitingOrder, HeldRefund};
use crate::db::stats::{Delta, Deltas};
use crate::db::webhook_deliveries;
use crate::db::{DbError, DbResult, brands};
use crate::domain::currency::{Valuation, at_rate, minor_units, round_in};
use crate::domain::enums::{AttributionType, ConversionStatus, LedgerKind};
use crate::domain::ids::{BrandId, ConversionId, MembershipId};
use crate::domain::payout::PayoutRule;
use crate::domain::refund::{Amounts, RefundError};
use crate::domain::tracking::{Attribution, Candidate, ClickCandidate, attribute};
use crate::domain::validate;
use crate::domain::webhooks::EventType;

pub use writer::{OrderWriter, WebhookOrder};

mod writer;

/// An order as a shop or a person reported it.
#[derive(Clone, Debug)]
pub struct OrderInput {
    pub source: String,
    pub external_order_id: String,
    pub occurred_at: DateTime<Utc>,
    pub sale_amount: Decimal,
    pub currency: String,
    pub promo_codes: Vec<String>,
    pub click_id: Option<Uuid>,
    /// Read from the shop's history (an import): its promo codes attribute if
    /// they were valid at the order's time (issued before it, not yet replaced),
    /// rather than if they are current.
    pub history: bool,
    /// Sold in another currency than the brand's: how `sale_amount` (in the
    /// brand's, as `currency` then says) was valued (see `value_in_brand_currency`).
    pub valuation: Option<Valuation>,
}

/// Values an order sold in another currency in its brand's, at the rate of the
/// order's day in the brand's zone (a weekend or holiday: the business day
/// before); false while no rate is published for it. An order in the brand's
/// currency is left as it is.
pub async fn value_in_brand_currency(
    conn: &mut AsyncPgConnection,
    brand_currency: &str,
    time_zone: Tz,
    order: &mut OrderInput,
) -> AppResult<bool> {
    if !order.needs_rate(brand_currency) {
        return Ok(true);
    }
    let day = order.occurred_at.with_timezone(&time_zone).date_naive();
    let valued = super::exchange_rates::value(conn, order.sale_amount, &order.currency, brand_currency, day).await?;
    let Some((amount, valuation)) = valued else {
        return Ok(false);
    };
    validate::sale_amount("the order's amount in the brand's currency", amount).map_err(AppError::BadUserInput)?;
    order.sale_amount = amount;
    order.currency = brand_currency.to_string();
    order.valuation = Some(valuation);
    Ok(true)
}

impl OrderInput {
    /// Whether the order still needs a day's rate to be valued in `brand_currency`.
    pub fn needs_rate(&self, brand_currency: &str) -> bool {
        self.currency != brand_currency && self.valuation.is_none()
    }
}

/// What a shop's webhook reports.
#[derive(Clone, Debug)]
pub enum OrderEvent {
    Created(OrderInput),
    Refunded {
        external_order_id: String,
        /// None: all that is left.
        amount: Option<Decimal>,
        /// The shop's refund id: one refund is applied once.
        reference: String,
    },
}

/// What applying a webhook delivery did.
#[derive(Debug)]
pub enum Applied {
    Recorded(Recorded),
    Refunded(ConversionRow),
    /// The refunded order awaits its rate: the refund is kept with it, and applied
    /// when it is recorded.
    RefundAwaitingRate,
    /// This delivery was applied before: nothing changed.
    Redelivered,
}

#[derive(Debug)]
pub enum Recorded {
    New(ConversionRow),
    /// The same order was recorded before: nothing changed.
    Duplicate(ConversionRow),
}

fn rule_of(terms: &Terms) -> DbResult<PayoutRule> {
    PayoutRule::from_parts(terms.payout_type, terms.payout_percent, terms.payout_flat)
        .map_err(|e| DbError::CheckViolation(format!("stored payout of membership {}: {e}", terms.membership_id)))
}

/// Who takes an order (SPEC.md *Attribution*), on what terms, for what commission.
struct Priced<'t> {
    terms: Option<&'t Terms>,
    attribution: Option<AttributionType>,
    click_id: Option<Uuid>,
    promo_code: Option<String>,
    rule: Option<PayoutRule>,
    commission: Decimal,
}

/// Attributes and prices an order, given the terms of its promo codes (in the
/// order the shop listed them) and of its click.
fn price<'t>(order: &OrderInput, promos: &[&'t Terms], click: Option<(Uuid, &'t Terms)>) -> DbResult<Priced<'t>> {
    let at = order.occurred_at;
    let promo = promos.iter().find(|t| t.eligible).or(promos.first()).copied();
    let attribution = attribute(
        promo.map(|t| Candidate {
            membership_id: t.membership_id,
            eligible: t.eligible,
        }),
        click.map(|(id, t)| ClickCandidate {
            candidate: Candidate {
                membership_id: t.membership_id,
                eligible: t.eligible,
            },
            click_id: id,
            clicked_at: t.clicked_at.unwrap_or(at),
            is_bot: t.is_bot.unwrap_or(false),
            window_days: t.attribution_window_days,
        }),
        at,
    );
    let (terms, attribution, click_id, promo_code) = match attribution {
        Attribution::PromoCode { .. } => (
            promo,
            Some(AttributionType::PromoCode),
            None,
            promo.and_then(|t| t.code.clone()),
        ),
        Attribution::Link { click_id, .. } => {
            (click.map(|(_, t)| t), Some(AttributionType::Link), Some(click_id), None)
        }
        Attribution::Unattributed => (None, None, None, order.promo_codes.first().cloned()),
    };
    let rule = terms.map(rule_of).transpose()?;
    let commission = match rule {
        Some(rule) => rule
            .commission_for_sale(order.sale_amount)
            .map_err(|_| DbError::CheckViolation("commission_within_range".into()))?,
        None => Decimal::ZERO,
    };
    Ok(Priced {
        terms,
        attribution,
        click_id,
        promo_code,
        rule,
        commission,
    })
}

fn new_conversion<'a>(brand_id: BrandId, order: &'a OrderInput, priced: &Priced) -> NewConversion<'a> {
    NewConversion {
        brand_id,
        source: &order.source,
        external_order_id: &order.external_order_id,
        membership_id: priced.terms.map(|t| t.membership_id),
        occurred_at: order.occurred_at,
        currency: &order.currency,
        sale_amount: order.sale_amount,
        commission: priced.commission,
        attribution: priced.attribution,
        click_id: priced.click_id,
        promo_code: priced.promo_code.clone(),
        rule: priced.rule,
        valuation: order.valuation.as_ref(),
    }
}

/// What a new attributed conversion books: its ledger entry, payable after the
/// offer's hold period, and its rollup change on the order's day in the brand's zone.
fn book(
    row: &ConversionRow,
    membership_id: MembershipId,
    terms: &Terms,
    time_zone: Tz,
    deltas: &mut Deltas,
) -> NewLedgerEntry {
    let at = row.occurred_at;
    deltas.add(
        row.brand_id,
        membership_id,
        at.with_timezone(&time_zone).date_naive(),
        Delta {
            clicks: 0,
            conversions: 1,
            sales: row.sale_amount,
            commission: row.commission,
        },
    );
    NewLedgerEntry {
        brand_id: row.brand_id,
        membership_id,
        kind: LedgerKind::Conversion,
        amount: row.commission,
        conversion_id: Some(row.id),
        reward_id: None,
        earned_at: at,
        payable_at: at + Duration::days(i64::from(terms.hold_period_days)),
    }
}

/// Writes new conversions' entries, rollups and events. The first two lock the
/// memberships' and offers' hot rows (balances, daily rollups): the statements go
/// in one round trip, last before the commit, so a flash sale holds those locks briefly.
async fn write_bookings(
    conn: &mut AsyncPgConnection,
    entries: &[NewLedgerEntry],
    deltas: Deltas,
    events: Vec<Event>,
) -> DbResult<()> {
    let booked = ledger::insert(conn, entries);
    let published = events::publish(conn, events);
    futures_util::try_join!(booked, published, deltas.apply(conn))?;
    Ok(())
}

/// Writes bookings as [`write_bookings`] does, with their balances and daily
/// rollups added to the order tallies instead (`writer`: a group beside another).
async fn tally_bookings(
    conn: &mut AsyncPgConnection,
    entries: &[NewLedgerEntry],
    deltas: Deltas,
    events: Vec<Event>,
) -> DbResult<()> {
    let booked = ledger::insert_tallied(conn, entries);
    let published = events::publish(conn, events);
    let tallied = deltas.tally(conn);
    futures_util::try_join!(booked, published, tallied)?;
    Ok(())
}

/// Books a conversion newly credited to a membership (its entry, rollups, and
/// `events` with its commission's) and grants the reward rules it crosses.
async fn book_with_rewards(
    conn: &mut AsyncPgConnection,
    row: &ConversionRow,
    membership_id: MembershipId,
    terms: &Terms,
    time_zone: Tz,
    mut events: Vec<Event>,
) -> DbResult<()> {
    let mut deltas = Deltas::default();
    let entry = book(row, membership_id, terms, time_zone, &mut deltas);
    events.extend(events::commission_created(row, &entry));
    write_bookings(conn, &[entry], deltas, events).await?;
    if terms.has_reward_rules {
        super::rewards::grant_crossed_rules(
            conn,
            row.brand_id,
            membership_id,
            row.sale_amount,
            time_zone,
            Utc::now(),
        )
        .await?;
    }
    Ok(())
}

/// Keeps an order whose currency has no rate for its day yet: the rates job
/// records it once one is published (`record_valued`).
pub async fn hold_for_rate(conn: &mut AsyncPgConnection, brand_id: BrandId, order: &OrderInput) -> AppResult<()> {
    let held = AwaitingOrder {
        brand_id,
        source: order.source.clone(),
        external_order_id: order.external_order_id.clone(),
        occurred_at: order.occurred_at,
        amount: order.sale_amount,
        currency: order.currency.clone(),
        promo_codes: order.promo_codes.clone(),
        click_id: order.click_id,
    };
    Ok(orders_awaiting_rate::hold(conn, &held).await?)
}

/// Orders recorded per round of `record_valued`.
const VALUED_PER_ROUND: i64 = 500;

/// Records the held orders whose rate has been published since they arrived, as
/// they would have been on arrival (promo codes as valid at the order's time),
/// with the refunds that came for them meanwhile; returns the brands whose
/// figures changed.
pub async fn record_valued(pool: &DbPool) -> AppResult<Vec<BrandId>> {
    let mut conn = pool.get().await.map_err(DbError::from)?;
    let held = orders_awaiting_rate::oldest(&mut conn, VALUED_PER_ROUND).await?;
    let mut brands_of: HashMap<BrandId, (String, Tz)> = HashMap::new();
    let mut changed = Vec::new();
    for order in held {
        let (currency, zone) = match brands_of.get(&order.brand_id) {
            Some(known) => known.clone(),
            None => {
                let brand = brands::find(&mut conn, order.brand_id).await?;
                let known = (brand.currency, brands::time_zone(brand.id, &brand.time_zone)?);
                brands_of.insert(order.brand_id, known.clone());
                known
            }
        };
        let mut input = OrderInput {
            source: order.source.clone(),
            external_order_id: order.external_order_id.clone(),
            occurred_at: order.occurred_at,
            sale_amount: order.amount,
            currency: order.currency.clone(),
            promo_codes: order.promo_codes.clone(),
            click_id: order.click_id,
            history: true,
            valuation: None,
        };
        match value_in_brand_currency(&mut conn, &currency, zone, &mut input).await {
            Ok(true) => {}
            Ok(false) => continue,
            // Kept (and counted as waiting) rather than lost; it blocks no other order.
            Err(AppError::BadUserInput(reason)) => {
                tracing::warn!(brand_id = %order.brand_id, order = %order.external_order_id, %reason, "a held order cannot be recorded");
                continue;
            }
            Err(error) => return Err(error),
        }
        let brand_id = order.brand_id;
        let recorded = conn
            .transaction::<_, DbError, _>(|conn| {
                async move {
                    // Another server may have taken it first.
                    let Some(refunds) = orders_awaiting_rate::release(conn, &order).await? else {
                        return Ok(false);
                    };
                    record(conn, order.brand_id, zone, input).await?;
                    // The refunds that came while it waited, as they would have applied.
                    for refund in refunds {
                        let request = ChangeRequest {
                            change: Change::ShopRefund(refund.amount),
                            reference: refund.reference,
                        };
                        let (source, id) = (&order.source, &order.external_order_id);
                        match change_external(conn, order.brand_id, zone, source, id, request).await {
                            Ok(_) => {}
                            Err(ChangeError::Db(error)) => return Err(error),
                            Err(refused) => {
                                tracing::warn!(brand_id = %order.brand_id, order = %id, ?refused, "a held refund was refused")
                            }
                        }
                    }
                    Ok(true)
                }
                .scope_boxed()
            })
            .await?;
        if recorded && !changed.contains(&brand_id) {
            changed.push(brand_id);
        }
    }
    Ok(changed)
}

/// Records an order once: attribution (SPEC.md), commission, ledger and rollups.
pub async fn record(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    time_zone: Tz,
    order: OrderInput,
) -> DbResult<Recorded> {
    conn.transaction::<_, DbError, _>(|conn| {
        async move {
            let at = order.occurred_at;
            let codes_valid = if order.history {
                conversions::CodesValid::AtOrderTime
            } else {
                conversions::CodesValid::Current
            };
            let promos = conversions::promo_terms(conn, brand_id, at, &order.promo_codes, codes_valid).await?;
            let click = match order.click_id {
                Some(id) => conversions::click_terms(conn, brand_id, at, id).await?.map(|t| (id, t)),
                None => None,
            };
            let promos: Vec<&Terms> = promos.iter().collect();
            let priced = price(&order, &promos, click.as_ref().map(|(id, t)| (*id, t)))?;
            let inserted = conversions::insert(conn, new_conversion(brand_id, &order, &priced)).await?;
            let Some(row) = inserted else {
                // The order was recorded before, or a concurrent delivery of it won the race.
                let existing =
                    conversions::find_external(conn, brand_id, &order.source, &order.external_order_id).await?;
                return existing.map(Recorded::Duplicate).ok_or(DbError::NotFound);
            };
            let created = vec![events::conversion(&row, EventType::ConversionCreated)];
            match (priced.terms, row.membership_id) {
                (Some(terms), Some(membership_id)) => {
                    book_with_rewards(conn, &row, membership_id, terms, time_zone, created).await?
                }
                _ => events::publish(conn, created).await?,
            }
            Ok(Recorded::New(row))
        }
        .scope_boxed()
    })
    .await
}

/// Why a refund or rejection was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("conversion not found")]
    NotFound,
    #[error("only an ACCEPTED conversion can be changed; this one is {}", .0.as_str())]
    NotAccepted(ConversionStatus),
    #[error(transparent)]
    Refund(#[from] RefundError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for ChangeError {
    fn from(error: diesel::result::Error) -> Self {
        ChangeError::Db(error.into())
    }
}

/// What to do to an accepted conversion.
#[derive(Clone, Debug)]
pub enum Change {
    /// Refund this much of the sale (in the brand's currency), or all of what is left.
    Refund(Option<Decimal>),
    /// A refund as the shop reports it: this much in the order's own currency, or
    /// all that is left (see `shop_refund`).
    ShopRefund(Option<Decimal>),
    Reject(String),
}

/// A shop's refund of `amount` of the order's own currency (none: all that is
/// left), in the brand's currency, and what is then refunded of the order in its
/// own. The brand-currency sale left is what the order's unrefunded share is worth
/// at the order's rate: refunds that add up to the order take back exactly its
/// sale, whatever the rates did since. An order in the brand's currency refunds as given.
fn shop_refund(row: &ConversionRow, amount: Option<Decimal>) -> Result<(Decimal, Option<Decimal>), RefundError> {
    let order_currency = row.order_currency.as_deref().unwrap_or(&row.currency);
    if let Some(asked) = amount.filter(|asked| round_in(*asked, order_currency) != *asked) {
        return Err(RefundError::TooPrecise {
            requested: asked,
            currency: order_currency.to_string(),
        });
    }
    let (Some(order_amount), Some(rate)) = (row.order_amount, row.exchange_rate) else {
        return Ok((amount.unwrap_or(row.sale_amount), None));
    };
    let remaining = order_amount - row.order_refunded;
    let asked = amount.unwrap_or(remaining);
    if asked <= Decimal::ZERO {
        return Err(RefundError::NotPositive);
    }
    if asked > remaining {
        return Err(RefundError::MoreThanRemaining {
            requested: asked,
            remaining,
        });
    }
    let refunded = row.order_refunded + asked;
    let left = at_rate(order_amount - refunded, rate, &row.currency);
    Ok(((row.sale_amount - left).max(Decimal::ZERO), Some(refunded)))
}

/// A change and the reference that makes it happen once (a refund id, an idempotency key).
#[derive(Clone, Debug)]
pub struct ChangeRequest {
    pub change: Change,
    pub reference: String,
}

impl From<ChangeError> for AppError {
    fn from(error: ChangeError) -> Self {
        match error {
            ChangeError::NotFound => AppError::NotFound("conversion"),
            ChangeError::NotAccepted(status) => AppError::Conflict(format!(
                "only an ACCEPTED conversion can change; this one is {}",
                status.as_str()
            )),
            ChangeError::Refund(e) => AppError::BadUserInput(e.to_string()),
            ChangeError::Db(e) => e.into(),
        }
    }
}

/// Refunds or rejects a conversion. Before payment the ledger entry is lowered;
/// after payment a negative CLAWBACK entry is added for the next payment to net.
/// A request whose reference was seen before returns the conversion unchanged.
pub async fn change(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    time_zone: Tz,
    id: ConversionId,
    request: ChangeRequest,
) -> Result<ConversionRow, ChangeError> {
    conn.transaction::<_, ChangeError, _>(|conn| {
        async move {
            let row = conversions::lock(conn, brand_id, id)
                .await?
                .ok_or(ChangeError::NotFound)?;
            if conversions::change_seen(conn, brand_id, id, &request.reference).await? {
                return Ok(row);
            }
            if row.status != ConversionStatus::Accepted {
                return Err(ChangeError::NotAccepted(row.status));
            }
            let before = Amounts {
                original_sale: row.original_sale_amount,
                sale: row.sale_amount,
                original_commission: row.original_commission,
                commission: row.commission,
            };
            let mut order_refunded = row.order_refunded;
            let (after, status, reason) = match &request.change {
                Change::Refund(amount) => {
                    let after = before.refund(amount.unwrap_or(before.sale))?;
                    (
                        after,
                        if after.fully_refunded() { "REVERSED" } else { "ACCEPTED" },
                        None,
                    )
                }
                Change::ShopRefund(amount) => {
                    let (refund, refunded) = shop_refund(&row, *amount)?;
                    order_refunded = refunded.unwrap_or(order_refunded);
                    // A sliver of a cheap currency may round to nothing in the brand's.
                    let after = if refund.is_zero() {
                        before
                    } else {
                        before.refund(refund)?
                    };
                    (
                        after,
                        if after.fully_refunded() { "REVERSED" } else { "ACCEPTED" },
                        None,
                    )
                }
                Change::Reject(reason) => (
                    Amounts {
                        sale: before.sale,
                        commission: Decimal::ZERO,
                        ..before
                    },
                    "REJECTED",
                    Some(reason.clone()),
                ),
            };
            let adjusted = Adjusted {
                sale_amount: after.sale,
                commission: after.commission,
                status,
                rejection_reason: reason,
                order_refunded,
            };
            let adjustment = Adjustment {
                kind: if matches!(request.change, Change::Reject(_)) {
                    "REJECT"
                } else {
                    "REFUND"
                },
                sale_amount: before.sale - after.sale,
                commission: before.commission - after.commission,
                reference: &request.reference,
            };
            let reason = adjustment.kind;
            let updated = conversions::adjust(conn, brand_id, id, adjusted, adjustment).await?;
            let mut changed = vec![events::conversion(&updated, EventType::ConversionUpdated)];
            if let Some(membership_id) = row.membership_id {
                let taken_back = before.commission - after.commission;
                if !taken_back.is_zero() {
                    changed.push(events::commission_clawed_back(
                        &updated,
                        id,
                        membership_id,
                        taken_back,
                        reason,
                    ));
                }
                adjust_ledger(conn, brand_id, membership_id, id, after.commission, taken_back).await?;
                let leaves_totals = status != "ACCEPTED";
                let mut deltas = Deltas::default();
                deltas.add(
                    brand_id,
                    membership_id,
                    row.occurred_at.with_timezone(&time_zone).date_naive(),
                    Delta {
                        clicks: 0,
                        conversions: if leaves_totals { -1 } else { 0 },
                        sales: -(if leaves_totals {
                            before.sale
                        } else {
                            before.sale - after.sale
                        }),
                        commission: -taken_back,
                    },
                );
                deltas.apply(conn).await?;
                super::rewards::take_back_uncrossed(conn, brand_id, membership_id, time_zone, Utc::now()).await?;
            }
            events::publish(conn, changed).await?;
            Ok(updated)
        }
        .scope_boxed()
    })
    .await
}

/// Lowers the conversion's unpaid entry, or books a clawback if it was paid.
async fn adjust_ledger(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    membership_id: MembershipId,
    conversion_id: ConversionId,
    new_commission: Decimal,
    taken_back: Decimal,
) -> DbResult<()> {
    if taken_back.is_zero() {
        return Ok(());
    }
    let now = Utc::now();
    let earning = ledger::Earning::Conversion(conversion_id);
    ledger::take_back(
        conn,
        brand_id,
        membership_id,
        earning,
        (new_commission, taken_back),
        now,
        now,
    )
    .await
}

/// Refunds or rejects the order a shop knows as `external_order_id` from `source`.
pub async fn change_external(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    time_zone: Tz,
    source: &str,
    external_order_id: &str,
    request: ChangeRequest,
) -> Result<ConversionRow, ChangeError> {
    let order = conversions::find_external(conn, brand_id, source, external_order_id)
        .await?
        .ok_or(ChangeError::NotFound)?;
    change(conn, brand_id, time_zone, order.id, request).await
}

/// Applies a shop's event from `source`. With the shop's `delivery_id` (Shopify's
/// `X-Shopify-Webhook-Id`) it is applied once per delivery, whatever the topic: the
/// delivery is recorded in the same transaction, so a failed one can be retried.
pub async fn apply_event(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    time_zone: Tz,
    source: &str,
    delivery_id: Option<&str>,
    event: OrderEvent,
) -> Result<Applied, ChangeError> {
    let Some(delivery_id) = delivery_id else {
        return apply(conn, brand_id, time_zone, source, event).await;
    };
    conn.transaction::<_, ChangeError, _>(|conn| {
        async move {
            if !webhook_deliveries::claim(conn, brand_id, source, delivery_id).await? {
                return Ok(Applied::Redelivered);
            }
            apply(conn, brand_id, time_zone, source, event).await
        }
        .scope_boxed()
    })
    .await
}

async fn apply(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    time_zone: Tz,
    source: &str,
    event: OrderEvent,
) -> Result<Applied, ChangeError> {
    match event {
        OrderEvent::Created(order) => Ok(Applied::Recorded(record(conn, brand_id, time_zone, order).await?)),
        OrderEvent::Refunded {
            external_order_id,
            amount,
            reference,
        } => {
            let request = ChangeRequest {
                change: Change::ShopRefund(amount),
                reference: reference.clone(),
            };
            match change_external(conn, brand_id, time_zone, source, &external_order_id, request).await {
                Err(ChangeError::NotFound) => {
                    // Its order may still await its rate: the refund then waits with it.
                    let refund = HeldRefund { reference, amount };
                    match orders_awaiting_rate::hold_refund(conn, brand_id, source, &external_order_id, &refund).await?
                    {
                        true => Ok(Applied::RefundAwaitingRate),
                        false => Err(ChangeError::NotFound),
                    }
                }
                changed => Ok(Applied::Refunded(changed?)),
            }
        }
    }
}

/// Records an order entered through the API, with its audit event. One in
/// another currency than the brand's (`currency`, empty for the brand's) is valued
/// at its day's rate, or kept until that rate is published: then none is returned.
pub async fn record_by_hand(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    mut order: OrderInput,
    details: serde_json::Value,
) -> AppResult<Option<Recorded>> {
    audited(conn, caller, "recordConversion", details, move |conn, caller| {
        async move {
            let brand_currency = brands::find(conn, caller.brand_id).await?.currency;
            if order.currency.is_empty() {
                order.currency = brand_currency.clone();
            }
            if round_in(order.sale_amount, &order.currency) != order.sale_amount {
                return Err(AppError::bad_input(format!(
                    "saleAmount has more decimals than {} has ({})",
                    order.currency,
                    minor_units(&order.currency)
                )));
            }
            if order.currency == brand_currency {
                validate::sale_amount("saleAmount", order.sale_amount).map_err(AppError::BadUserInput)?;
            }
            if !value_in_brand_currency(conn, &brand_currency, caller.time_zone, &mut order).await? {
                hold_for_rate(conn, caller.brand_id, &order).await?;
                return Ok(None);
            }
            Ok(Some(record(conn, caller.brand_id, caller.time_zone, order).await?))
        }
        .scope_boxed()
    })
    .await
}

/// Refunds or rejects a conversion for a caller (`action` names it in the audit log).
pub async fn change_by_hand(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    action: &'static str,
    id: ConversionId,
    request: ChangeRequest,
) -> AppResult<ConversionRow> {
    let details = serde_json::json!({
        "conversionId": id.to_string(),
        "change": match &request.change {
            Change::Refund(amount) | Change::ShopRefund(amount) => serde_json::json!({ "refund": amount }),
            Change::Reject(reason) => serde_json::json!({ "reject": reason }),
        },
        "reference": request.reference,
    });
    audited(conn, caller, action, details, move |conn, caller| {
        async move { Ok(change(conn, caller.brand_id, caller.time_zone, id, request).await?) }.scope_boxed()
    })
    .await
}

/// Credits an unattributed order to a membership by hand (`assignConversion`): the
/// commission its payout rule gives at the order's time, booked in the ledger and
/// counted in the rollups as if the order had been attributed, and any reward rule
/// it crosses. A retry with the same idempotency key returns the conversion as it is.
pub async fn assign(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    id: ConversionId,
    membership_id: MembershipId,
    idempotency_key: String,
) -> AppResult<ConversionRow> {
    let key = validate::external_id("idempotencyKey", &idempotency_key).map_err(AppError::BadUserInput)?;
    let details = serde_json::json!({
        "conversionId": id.to_string(),
        "membershipId": membership_id.to_string(),
        "idempotencyKey": key,
    });
    audited(conn, caller, "assignConversion", details, move |conn, caller| {
        async move {
            let brand_id = caller.brand_id;
            let row = conversions::lock(conn, brand_id, id)
                .await?
                .ok_or(AppError::NotFound("conversion"))?;
            if conversions::assignment_key(conn, brand_id, id).await?.as_deref() == Some(key.as_str()) {
                return Ok(row);
            }
            if row.membership_id.is_some() {
                return Err(AppError::Conflict(
                    "the order is already attributed to a membership".into(),
                ));
            }
            if row.status != ConversionStatus::Accepted {
                return Err(AppError::Conflict(format!(
                    "only an ACCEPTED order can be credited; this one is {}",
                    row.status.as_str()
                )));
            }
            let terms = conversions::membership_terms(conn, brand_id, row.occurred_at, membership_id)
                .await?
                .ok_or(AppError::NotFound("membership"))?;
            let rule = rule_of(&terms)?;
            let commission_of = |sale: Decimal| {
                rule.commission_for_sale(sale)
                    .map_err(|_| AppError::bad_input("the commission is beyond the range money can hold"))
            };
            let commissions = (
                commission_of(row.original_sale_amount)?,
                commission_of(row.sale_amount)?,
            );
            let row = conversions::assign(conn, brand_id, id, membership_id, rule, commissions, &key).await?;
            let updated = vec![events::conversion(&row, EventType::ConversionUpdated)];
            book_with_rewards(conn, &row, membership_id, &terms, caller.time_zone, updated).await?;
            Ok(row)
        }
        .scope_boxed()
    })
    .await
}
