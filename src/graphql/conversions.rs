//! Conversions (orders): one by id, the unattributed ones, and recording,
//! rejecting and refunding them.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::{AdminOnly, app, conn, viewer};
use super::error::{AppError, AppResult};
use super::ids::decode;
use super::pagination::IdCursor;
use super::scalars::Money;
use super::types::conversion::Conversion;
use crate::app::orders::{self, Change, ChangeRequest, OrderInput, Recorded};
use crate::app::reads;
use crate::app::records::Owner;
use crate::domain::currency::is_code;
use crate::domain::ids::ConversionId;
use crate::domain::validate;

/// An order entered by hand or through the API, attributed like a webhook order.
/// Which unattributed order to credit to which membership.
#[derive(InputObject)]
pub struct AssignConversionInput {
    pub conversion_id: ID,
    pub membership_id: ID,
    /// 1 to 200 characters: a retried request credits once.
    pub idempotency_key: String,
}

/// A conversion to reject, and why.
#[derive(InputObject)]
pub struct RejectConversionInput {
    /// The conversion to reject.
    pub id: ID,
    /// 1 to 500 characters, kept in the audit log.
    pub reason: String,
}

/// A refund of part or all of a conversion's sale.
#[derive(InputObject)]
pub struct RefundConversionInput {
    /// The conversion to refund.
    pub id: ID,
    /// What the buyer got back; all that is left when omitted.
    pub amount: Option<Money>,
    /// 1 to 200 characters, unique to this refund.
    pub idempotency_key: String,
}

#[derive(InputObject)]
pub struct RecordConversionInput {
    /// Where the order comes from (lower-case letters, digits, - or _).
    #[graphql(default = "manual")]
    pub source: String,
    /// The order's id in that source; recording it again changes nothing.
    pub external_order_id: String,
    /// In `currency`: at most as many decimals as it has (none for JPY).
    pub sale_amount: Money,
    /// The ISO 4217 code the order was sold in (default the brand's). Another
    /// currency is valued in the brand's at the order day's rate; while that rate
    /// is not published the order is kept (`awaitingRate`) and recorded once it is.
    pub currency: Option<String>,
    /// When the order was placed (default now).
    pub occurred_at: Option<DateTime<Utc>>,
    /// The promo code the buyer used, if any.
    pub promo_code: Option<String>,
    /// The click id (`st_click`) the buyer arrived with, if any.
    pub click_id: Option<ID>,
}

/// The result of `recordConversion`.
#[derive(SimpleObject)]
pub struct RecordConversionPayload {
    /// Null while the order awaits its currency's rate.
    pub conversion: Option<Conversion>,
    /// True when this order had been recorded before and nothing changed.
    pub duplicate: bool,
    /// True when the order is kept until its currency's rate for its day is
    /// published (see `ordersAwaitingRate`); it is recorded then.
    pub awaiting_rate: bool,
}

/// The result of recording or changing a conversion.
#[derive(SimpleObject)]
pub struct ConversionPayload {
    pub conversion: Conversion,
    /// True when this order had been recorded before and nothing changed.
    pub duplicate: bool,
}

#[derive(Default)]
pub struct ConversionQueries;

#[Object]
impl ConversionQueries {
    /// One conversion (order) by id.
    async fn conversion(&self, ctx: &Context<'_>, id: ID) -> AppResult<Option<Conversion>> {
        let viewer = viewer(ctx)?;
        let conversion_id = decode::<ConversionId>(&id)?;
        let row = reads::conversion(&mut *conn(ctx).await?, viewer, conversion_id).await?;
        Ok(Some(Conversion(row.ok_or(AppError::NotFound("conversion"))?)))
    }

    /// Orders that matched no membership: kept for the brand to see, earning nothing.
    async fn unattributed_orders(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<Connection<IdCursor, Conversion>> {
        let viewer = viewer(ctx)?;
        Conversion::connection(ctx, viewer, Owner::Unattributed, first, after, None).await
    }
}

#[derive(Default)]
pub struct ConversionMutations;

#[Object]
impl ConversionMutations {
    /// Records an order, attributed by promo code first, then by click (SPEC.md *Attribution*).
    #[graphql(guard = "AdminOnly")]
    async fn record_conversion(
        &self,
        ctx: &Context<'_>,
        input: RecordConversionInput,
    ) -> AppResult<RecordConversionPayload> {
        let source = validate::order_source(input.source.trim()).map_err(AppError::BadUserInput)?;
        let external_order_id =
            validate::external_id("externalOrderId", &input.external_order_id).map_err(AppError::BadUserInput)?;
        let currency = match input.currency.as_deref().map(|code| code.trim().to_ascii_uppercase()) {
            Some(code) if !is_code(&code) => {
                return Err(AppError::bad_input(format!(
                    "currency {code:?} is not an ISO 4217 code such as \"EUR\""
                )));
            }
            Some(code) => code,
            None => String::new(),
        };
        if input.sale_amount.0.is_sign_negative() {
            return Err(AppError::bad_input("saleAmount must not be negative"));
        }
        let occurred_at = match input.occurred_at {
            Some(at) => validate::order_time(at, Utc::now()).map_err(AppError::BadUserInput)?,
            None => Utc::now(),
        };
        let promo_code = match input.promo_code {
            Some(code) => {
                Some(validate::typed_code(&code).ok_or_else(|| AppError::bad_input("promoCode is not a code"))?)
            }
            None => None,
        };
        let click_id = input
            .click_id
            .map(|id| uuid::Uuid::parse_str(&id).map_err(|_| AppError::bad_input("clickId is not a click id")))
            .transpose()?;
        let details = serde_json::json!({
            "source": source, "externalOrderId": external_order_id, "saleAmount": input.sale_amount.0, "currency": currency,
            "occurredAt": occurred_at, "promoCode": promo_code, "clickId": click_id,
        });
        let order = OrderInput {
            source,
            external_order_id,
            occurred_at,
            sale_amount: input.sale_amount.0,
            currency,
            promo_codes: promo_code.into_iter().collect(),
            click_id,
            history: false,
            valuation: None,
        };
        let metrics = app(ctx).metrics();
        let recorded = orders::record_by_hand(&mut *conn(ctx).await?, *viewer(ctx)?, order, details).await?;
        let (row, duplicate) = match recorded {
            None => {
                return Ok(RecordConversionPayload {
                    conversion: None,
                    duplicate: false,
                    awaiting_rate: true,
                });
            }
            Some(Recorded::New(row)) => {
                if row.membership_id.is_some() {
                    metrics.orders_accepted.inc();
                } else {
                    metrics.orders_unattributed.inc();
                }
                (row, false)
            }
            Some(Recorded::Duplicate(row)) => {
                metrics.orders_duplicate.inc();
                (row, true)
            }
        };
        Ok(RecordConversionPayload {
            conversion: Some(Conversion(row)),
            duplicate,
            awaiting_rate: false,
        })
    }

    /// Credits an unattributed order to a membership: the commission its payout rule
    /// gives at the order's time, in its ledger and KPIs (attribution `MANUAL`).
    /// `CONFLICT` if the order is already attributed (unless this is a retry with the
    /// same key) or is not `ACCEPTED`.
    #[graphql(guard = "AdminOnly")]
    async fn assign_conversion(&self, ctx: &Context<'_>, input: AssignConversionInput) -> AppResult<ConversionPayload> {
        let id = decode::<ConversionId>(&input.conversion_id)?;
        let membership_id = decode(&input.membership_id)?;
        let row = orders::assign(
            &mut *conn(ctx).await?,
            *viewer(ctx)?,
            id,
            membership_id,
            input.idempotency_key,
        )
        .await?;
        Ok(ConversionPayload {
            conversion: Conversion(row),
            duplicate: false,
        })
    }

    /// Rejects an accepted conversion: it stops counting and earns nothing. After payment
    /// its commission is clawed back from the next payment.
    #[graphql(guard = "AdminOnly")]
    async fn reject_conversion(&self, ctx: &Context<'_>, input: RejectConversionInput) -> AppResult<ConversionPayload> {
        let id = decode::<ConversionId>(&input.id)?;
        let reason = input.reason.trim().to_string();
        if reason.is_empty() || reason.len() > 500 {
            return Err(AppError::bad_input("reason must be 1 to 500 characters"));
        }
        let request = ChangeRequest {
            change: Change::Reject(reason),
            reference: "reject".into(),
        };
        let row =
            orders::change_by_hand(&mut *conn(ctx).await?, *viewer(ctx)?, "rejectConversion", id, request).await?;
        app(ctx).metrics().orders_rejected.inc();
        Ok(ConversionPayload {
            conversion: Conversion(row),
            duplicate: false,
        })
    }

    /// Refunds `amount` of a conversion's sale (all that is left when omitted): sale and
    /// commission drop pro rata, and a full refund makes it `REVERSED`. The
    /// `idempotencyKey` (1 to 200 characters, unique to this refund) makes a retried
    /// request refund once; another key is another refund.
    #[graphql(guard = "AdminOnly")]
    async fn refund_conversion(&self, ctx: &Context<'_>, input: RefundConversionInput) -> AppResult<ConversionPayload> {
        let id = decode::<ConversionId>(&input.id)?;
        let amount = input.amount;
        let reference = input.idempotency_key.trim().to_string();
        if reference.is_empty() || reference.len() > 200 {
            return Err(AppError::bad_input("idempotencyKey must be 1 to 200 characters"));
        }
        let request = ChangeRequest {
            change: Change::Refund(amount.map(|m| m.cents("amount")).transpose()?),
            reference,
        };
        let row =
            orders::change_by_hand(&mut *conn(ctx).await?, *viewer(ctx)?, "refundConversion", id, request).await?;
        app(ctx).metrics().orders_refunded.inc();
        Ok(ConversionPayload {
            conversion: Conversion(row),
            duplicate: false,
        })
    }
}
