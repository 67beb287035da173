//! Orders become conversions here: attributed, priced, booked in the ledger and
//! counted in the rollups, all in one transaction.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Numeric, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::ledger::{self, NewLedgerEntry};
use super::models::ConversionRow;
use super::pagination::{Page, PageRequest};
use super::rewards;
use super::schema::{conversion_adjustments, conversions, ledger_entries};
use super::stats::{Delta, Deltas};
use super::{DbError, DbResult};
use crate::domain::enums::PayoutType;
use crate::domain::payout::PayoutRule;
use crate::domain::refund::{Amounts, RefundError};
use crate::domain::tracking::{Attribution, Candidate, ClickCandidate, attribute};

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
}

#[derive(Debug)]
pub enum Recorded {
    New(ConversionRow),
    /// The same order was recorded before: nothing changed.
    Duplicate(ConversionRow),
}

/// Who may take an order and on what terms.
#[derive(QueryableByName)]
struct Terms {
    #[diesel(sql_type = BigInt)]
    membership_id: i64,
    #[diesel(sql_type = Bool)]
    eligible: bool,
    #[diesel(sql_type = Text)]
    payout_type: String,
    #[diesel(sql_type = Nullable<Numeric>)]
    payout_percent: Option<Decimal>,
    #[diesel(sql_type = Nullable<Numeric>)]
    payout_flat: Option<Decimal>,
    #[diesel(sql_type = Integer)]
    hold_period_days: i32,
    #[diesel(sql_type = Integer)]
    attribution_window_days: i32,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    clicked_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Bool>)]
    is_bot: Option<bool>,
    #[diesel(sql_type = Nullable<Text>)]
    code: Option<String>,
}

/// Membership terms as of the order's time; the joins are shared by both lookups.
const TERMS: &str = "SELECT m.id AS membership_id,
        (m.active AND m.removed_at IS NULL AND o.status = 'ACTIVE'
         AND o.starts_on <= ($2 AT TIME ZONE b.time_zone)::date
         AND (o.ends_on IS NULL OR o.ends_on >= ($2 AT TIME ZONE b.time_zone)::date)) AS eligible,
        COALESCE(m.payout_type, o.payout_type) AS payout_type,
        CASE WHEN m.payout_type IS NULL THEN o.payout_percent ELSE m.payout_percent END AS payout_percent,
        CASE WHEN m.payout_type IS NULL THEN o.payout_flat ELSE m.payout_flat END AS payout_flat,
        o.hold_period_days, o.attribution_window_days";
const TERMS_JOINS: &str = "JOIN memberships m ON m.brand_id = x.brand_id AND m.id = x.membership_id
        JOIN offers o ON o.brand_id = m.brand_id AND o.id = m.offer_id
        JOIN brands b ON b.id = m.brand_id";

async fn promo_terms(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    at: DateTime<Utc>,
    codes: &[String],
) -> DbResult<Vec<Terms>> {
    let lowered: Vec<String> = codes.iter().map(|c| c.trim().to_lowercase()).collect();
    Ok(diesel::sql_query(format!(
        "{TERMS}, NULL::timestamptz AS clicked_at, NULL::boolean AS is_bot, x.code
         FROM promo_codes x {TERMS_JOINS}
         WHERE x.brand_id = $1 AND x.disabled_at IS NULL AND lower(x.code) = ANY($3)
         ORDER BY array_position($3, lower(x.code))"
    ))
    .bind::<BigInt, _>(brand_id)
    .bind::<Timestamptz, _>(at)
    .bind::<Array<Text>, _>(&lowered)
    .load(conn)
    .await?)
}

async fn click_terms(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    at: DateTime<Utc>,
    click_id: Uuid,
) -> DbResult<Option<Terms>> {
    Ok(diesel::sql_query(format!(
        "{TERMS}, x.clicked_at, x.is_bot, NULL::text AS code
         FROM clicks x {TERMS_JOINS}
         WHERE x.brand_id = $1 AND x.id = $3"
    ))
    .bind::<BigInt, _>(brand_id)
    .bind::<Timestamptz, _>(at)
    .bind::<SqlUuid, _>(click_id)
    .get_result(conn)
    .await
    .optional()?)
}

fn rule_of(terms: &Terms) -> DbResult<PayoutRule> {
    let payout_type = PayoutType::parse(&terms.payout_type).ok_or(DbError::CheckViolation("payout_type".into()))?;
    PayoutRule::from_parts(payout_type, terms.payout_percent, terms.payout_flat)
        .map_err(|e| DbError::CheckViolation(format!("stored payout of membership {}: {e}", terms.membership_id)))
}

/// Records an order once: attribution (SPEC.md), commission, ledger and rollups.
pub async fn record(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    time_zone: Tz,
    order: OrderInput,
) -> DbResult<Recorded> {
    conn.transaction::<_, DbError, _>(|conn| {
        async move {
            if let Some(existing) = find_external(conn, brand_id, &order.source, &order.external_order_id).await? {
                return Ok(Recorded::Duplicate(existing));
            }
            let at = order.occurred_at;
            let promos = promo_terms(conn, brand_id, at, &order.promo_codes).await?;
            let promo = promos.iter().find(|t| t.eligible).or(<[Terms]>::first(&promos));
            let click = match order.click_id {
                Some(id) => click_terms(conn, brand_id, at, id).await?.map(|t| (id, t)),
                None => None,
            };
            let attribution = attribute(
                promo.map(|t| Candidate {
                    membership_id: t.membership_id,
                    eligible: t.eligible,
                }),
                click.as_ref().map(|(id, t)| ClickCandidate {
                    candidate: Candidate {
                        membership_id: t.membership_id,
                        eligible: t.eligible,
                    },
                    click_id: *id,
                    clicked_at: t.clicked_at.unwrap_or(at),
                    is_bot: t.is_bot.unwrap_or(false),
                    window_days: t.attribution_window_days,
                }),
                at,
            );
            let (terms, kind, click_id, code) = match attribution {
                Attribution::PromoCode { .. } => (promo, Some("PROMO_CODE"), None, promo.and_then(|t| t.code.clone())),
                Attribution::Link { click_id, .. } => {
                    (click.as_ref().map(|(_, t)| t), Some("LINK"), Some(click_id), None)
                }
                Attribution::Unattributed => (None, None, None, <[String]>::first(&order.promo_codes).cloned()),
            };
            let rule = terms.map(rule_of).transpose()?;
            let commission = match rule {
                Some(rule) => rule
                    .commission_for_sale(order.sale_amount)
                    .map_err(|_| DbError::CheckViolation("commission_within_range".into()))?,
                None => Decimal::ZERO,
            };
            let (payout_percent, payout_flat) = rule.map_or((None, None), |r| r.parts());
            let inserted: Option<ConversionRow> = diesel::insert_into(conversions::table)
                .values((
                    conversions::brand_id.eq(brand_id),
                    conversions::source.eq(&order.source),
                    conversions::external_order_id.eq(&order.external_order_id),
                    conversions::membership_id.eq(terms.map(|t| t.membership_id)),
                    conversions::occurred_at.eq(at),
                    conversions::currency.eq(&order.currency),
                    conversions::original_sale_amount.eq(order.sale_amount),
                    conversions::sale_amount.eq(order.sale_amount),
                    conversions::original_commission.eq(commission),
                    conversions::commission.eq(commission),
                    conversions::attribution.eq(kind),
                    conversions::click_id.eq(click_id),
                    conversions::promo_code.eq(code),
                    conversions::payout_type.eq(rule.map(|r| r.payout_type().as_str())),
                    conversions::payout_percent.eq(payout_percent),
                    conversions::payout_flat.eq(payout_flat),
                ))
                .on_conflict_do_nothing()
                .returning(ConversionRow::as_returning())
                .get_result(conn)
                .await
                .optional()?;
            let Some(row) = inserted else {
                // A concurrent delivery of the same order won the race.
                let existing = find_external(conn, brand_id, &order.source, &order.external_order_id).await?;
                return existing.map(Recorded::Duplicate).ok_or(DbError::NotFound);
            };
            if let (Some(terms), Some(membership_id)) = (terms, row.membership_id) {
                ledger::insert(
                    conn,
                    &[NewLedgerEntry {
                        brand_id,
                        membership_id,
                        kind: "CONVERSION",
                        amount: commission,
                        conversion_id: Some(row.id),
                        reward_id: None,
                        earned_at: at,
                        payable_at: at + Duration::days(i64::from(terms.hold_period_days)),
                    }],
                )
                .await?;
                let mut deltas = Deltas::default();
                let day = at.with_timezone(&time_zone).date_naive();
                deltas.add(
                    brand_id,
                    membership_id,
                    day,
                    Delta {
                        clicks: 0,
                        conversions: 1,
                        sales: row.sale_amount,
                        commission,
                    },
                );
                deltas.apply(conn).await?;
                rewards::grant_crossed_rules(conn, brand_id, membership_id, row.sale_amount, time_zone, Utc::now())
                    .await?;
            }
            Ok(Recorded::New(row))
        }
        .scope_boxed()
    })
    .await
}

pub async fn find_external(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    source: &str,
    external_order_id: &str,
) -> DbResult<Option<ConversionRow>> {
    Ok(conversions::table
        .filter(conversions::brand_id.eq(brand_id))
        .filter(
            conversions::source
                .eq(source)
                .and(conversions::external_order_id.eq(external_order_id)),
        )
        .select(ConversionRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

pub async fn find(conn: &mut AsyncPgConnection, brand_id: i64, id: i64) -> DbResult<Option<ConversionRow>> {
    Ok(conversions::table
        .find((brand_id, id))
        .select(ConversionRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Why a refund or rejection was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("conversion not found")]
    NotFound,
    #[error("only an ACCEPTED conversion can be changed; this one is {0}")]
    NotAccepted(String),
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
    /// Refund this much of the sale, or all of what is left.
    Refund(Option<Decimal>),
    Reject(String),
}

/// A change and the reference that makes it happen once (a refund id, an idempotency key).
#[derive(Clone, Debug)]
pub struct ChangeRequest {
    pub change: Change,
    pub reference: String,
}

/// Refunds or rejects a conversion. Before payment the ledger entry is lowered;
/// after payment a negative CLAWBACK entry is added for the next payment to net.
/// A request whose reference was seen before returns the conversion unchanged.
pub async fn change(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    time_zone: Tz,
    id: i64,
    request: ChangeRequest,
) -> Result<ConversionRow, ChangeError> {
    conn.transaction::<_, ChangeError, _>(|conn| {
        async move {
            let row: ConversionRow = conversions::table
                .find((brand_id, id))
                .select(ConversionRow::as_select())
                .for_update()
                .first(conn)
                .await
                .optional()?
                .ok_or(ChangeError::NotFound)?;
            let seen: i64 = conversion_adjustments::table
                .filter(conversion_adjustments::brand_id.eq(brand_id))
                .filter(
                    conversion_adjustments::conversion_id
                        .eq(id)
                        .and(conversion_adjustments::reference.eq(&request.reference)),
                )
                .count()
                .get_result(conn)
                .await?;
            if seen > 0 {
                return Ok(row);
            }
            if row.status != "ACCEPTED" {
                return Err(ChangeError::NotAccepted(row.status));
            }
            let before = Amounts {
                original_sale: row.original_sale_amount,
                sale: row.sale_amount,
                original_commission: row.original_commission,
                commission: row.commission,
            };
            let (after, status, reason) = match &request.change {
                Change::Refund(amount) => {
                    let after = before.refund(amount.unwrap_or(before.sale))?;
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
            let updated: ConversionRow = diesel::update(conversions::table.find((brand_id, id)))
                .set((
                    conversions::sale_amount.eq(after.sale),
                    conversions::commission.eq(after.commission),
                    conversions::status.eq(status),
                    conversions::rejection_reason.eq(reason),
                    conversions::updated_at.eq(Utc::now()),
                ))
                .returning(ConversionRow::as_returning())
                .get_result(conn)
                .await?;
            diesel::insert_into(conversion_adjustments::table)
                .values((
                    conversion_adjustments::brand_id.eq(brand_id),
                    conversion_adjustments::conversion_id.eq(id),
                    conversion_adjustments::kind.eq(if matches!(request.change, Change::Reject(_)) {
                        "REJECT"
                    } else {
                        "REFUND"
                    }),
                    conversion_adjustments::sale_amount.eq(before.sale - after.sale),
                    conversion_adjustments::commission.eq(before.commission - after.commission),
                    conversion_adjustments::reference.eq(&request.reference),
                ))
                .execute(conn)
                .await?;
            if let Some(membership_id) = row.membership_id {
                let taken_back = before.commission - after.commission;
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
            }
            Ok(updated)
        }
        .scope_boxed()
    })
    .await
}

/// Lowers the conversion's unpaid entry, or books a clawback if it was paid.
async fn adjust_ledger(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    membership_id: i64,
    conversion_id: i64,
    new_commission: Decimal,
    taken_back: Decimal,
) -> DbResult<()> {
    if taken_back.is_zero() {
        return Ok(());
    }
    let entry: Option<(i64, Option<i64>)> = ledger_entries::table
        .filter(ledger_entries::brand_id.eq(brand_id))
        .filter(
            ledger_entries::conversion_id
                .eq(conversion_id)
                .and(ledger_entries::kind.eq("CONVERSION")),
        )
        .select((ledger_entries::id, ledger_entries::payment_item_id))
        .for_update()
        .first(conn)
        .await
        .optional()?;
    match entry {
        Some((entry_id, None)) => {
            diesel::update(ledger_entries::table.find((brand_id, entry_id)))
                .set(ledger_entries::amount.eq(new_commission))
                .execute(conn)
                .await?;
        }
        _ => {
            let now = Utc::now();
            ledger::insert(
                conn,
                &[NewLedgerEntry {
                    brand_id,
                    membership_id,
                    kind: "CLAWBACK",
                    amount: -taken_back,
                    conversion_id: Some(conversion_id),
                    reward_id: None,
                    earned_at: now,
                    payable_at: now,
                }],
            )
            .await?;
        }
    }
    Ok(())
}

/// Which conversions a list shows.
#[derive(Clone, Copy, Debug)]
pub enum Owner {
    Offer(i64),
    Membership(i64),
    /// Orders that matched no membership.
    Unattributed,
}

/// Conversions newest first (by id), optionally of one status.
pub async fn page(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    owner: Owner,
    status: Option<&str>,
    request: PageRequest,
) -> DbResult<Page<ConversionRow>> {
    use super::schema::memberships;
    let mut query = conversions::table
        .filter(conversions::brand_id.eq(brand_id))
        .into_boxed();
    query = match owner {
        Owner::Membership(id) => query.filter(conversions::membership_id.eq(id)),
        Owner::Unattributed => query.filter(conversions::membership_id.is_null()),
        Owner::Offer(offer_id) => query.filter(
            conversions::membership_id.eq_any(
                memberships::table
                    .filter(
                        memberships::brand_id
                            .eq(brand_id)
                            .and(memberships::offer_id.eq(offer_id)),
                    )
                    .select(memberships::id.nullable()),
            ),
        ),
    };
    if let Some(status) = status {
        query = query.filter(conversions::status.eq(status.to_string()));
    }
    if let Some(before) = request.before_id {
        query = query.filter(conversions::id.lt(before));
    }
    let rows = query
        .order(conversions::id.desc())
        .limit(request.limit + 1)
        .select(ConversionRow::as_select())
        .load(conn)
        .await?;
    Ok(Page::from_overfetched(rows, request.limit))
}
