//! Mutations that feed tracking: members into offers, the webhook secret, and
//! the conversion lifecycle.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use diesel_async::scoped_futures::ScopedFutureExt;
use std::sync::Arc;

use super::audited::audited;
use super::context::{AdminOnly, conn, viewer};
use super::error::{ApiError, ApiResult};
use super::ids::{Kind, decode, decode_list, encode};
use super::scalars::Money;
use super::types::conversion::Conversion;
use super::types::membership::Membership;
use crate::db::conversions::{self, Change, ChangeError, ChangeRequest, OrderInput, Recorded};
use crate::db::{DbError, brands, members, memberships, offers};
use crate::domain::enums::OfferStatus;
use crate::domain::validate;
use crate::metrics::Metrics;

#[derive(Default)]
pub struct TrackingMutations;

/// The result of `addMembers`.
#[derive(SimpleObject)]
pub struct AddMembersPayload {
    /// The new memberships, each with a fresh link or promo code.
    pub memberships: Vec<Membership>,
}

/// The result of `setWebhookSecret`.
#[derive(SimpleObject)]
pub struct SetWebhookSecretPayload {
    /// Where shops post orders; replace `{source}` with e.g. `shopify` or `generic`.
    pub webhook_url_template: String,
}

/// An order entered by hand or through the API, attributed like a webhook order.
#[derive(InputObject)]
pub struct RecordConversionInput {
    /// Where the order comes from (lower-case letters, digits, - or _).
    #[graphql(default = "manual")]
    pub source: String,
    /// The order's id in that source; recording it again changes nothing.
    pub external_order_id: String,
    pub sale_amount: Money,
    /// When the order was placed (default now).
    pub occurred_at: Option<DateTime<Utc>>,
    /// The promo code the buyer used, if any.
    pub promo_code: Option<String>,
    /// The click id (`st_click`) the buyer arrived with, if any.
    pub click_id: Option<ID>,
}

/// The result of recording or changing a conversion.
#[derive(SimpleObject)]
pub struct ConversionPayload {
    pub conversion: Conversion,
    /// True when this order had been recorded before and nothing changed.
    pub duplicate: bool,
}

/// Applies a conversion change and its audit event in one transaction.
async fn change_audited(
    ctx: &Context<'_>,
    action: &'static str,
    id: i64,
    request: ChangeRequest,
) -> ApiResult<crate::db::models::ConversionRow> {
    let details = serde_json::json!({
        "conversionId": encode(Kind::Conversion, id).0,
        "change": match &request.change {
            Change::Refund(amount) => serde_json::json!({ "refund": amount }),
            Change::Reject(reason) => serde_json::json!({ "reject": reason }),
        },
        "reference": request.reference,
    });
    audited(ctx, action, details, move |conn, viewer| {
        async move { Ok(conversions::change(conn, viewer.brand_id, viewer.time_zone, id, request).await?) }
            .scope_boxed()
    })
    .await
}

impl From<ChangeError> for ApiError {
    fn from(error: ChangeError) -> Self {
        match error {
            ChangeError::NotFound => ApiError::NotFound("conversion"),
            ChangeError::NotAccepted(status) => {
                ApiError::Conflict(format!("only an ACCEPTED conversion can change; this one is {status}"))
            }
            ChangeError::Refund(e) => ApiError::BadUserInput(e.to_string()),
            ChangeError::Db(e) => e.into(),
        }
    }
}

#[Object]
impl TrackingMutations {
    /// Puts members in an offer, each with a fresh link code or promo code. All or nothing.
    #[graphql(guard = "AdminOnly")]
    async fn add_members(&self, ctx: &Context<'_>, offer_id: ID, member_ids: Vec<ID>) -> ApiResult<AddMembersPayload> {
        let viewer = viewer(ctx)?;
        let offer_id = decode(Kind::Offer, &offer_id)?;
        let member_ids = decode_list(Kind::Member, &member_ids)?;
        let mut conn = conn(ctx).await?;
        let offer = offers::find(&mut conn, viewer.brand_id, offer_id)
            .await?
            .ok_or(ApiError::NotFound("offer"))?;
        if OfferStatus::parse(&offer.status) == Some(OfferStatus::Archived) {
            return Err(ApiError::bad_input("an archived offer cannot take members"));
        }
        if members::by_ids(&mut conn, viewer.brand_id, &member_ids).await?.len() != member_ids.len() {
            return Err(ApiError::NotFound("member"));
        }
        let (brand_id, key_id) = (viewer.brand_id, viewer.api_key_id);
        let details = serde_json::json!({ "offerId": encode(Kind::Offer, offer_id).0, "memberIds": member_ids.iter().map(|&id| encode(Kind::Member, id).0).collect::<Vec<_>>() });
        let rows = conn
            .transaction::<_, DbError, _>(|conn| {
                async move {
                    let rows = memberships::add(conn, &offer, &member_ids).await?;
                    crate::db::audit::record(conn, brand_id, key_id, "addMembers", details).await?;
                    Ok(rows)
                }
                .scope_boxed()
            })
            .await
            .map_err(|e| match e {
                DbError::UniqueViolation(c) if c.contains("offer_id_member_id") => {
                    ApiError::Conflict("a member is already in this offer".into())
                }
                other => other.into(),
            })?;
        Ok(AddMembersPayload {
            memberships: rows.into_iter().map(Membership).collect(),
        })
    }

    /// Sets the secret that signs the brand's order webhooks (HMAC-SHA256, Shopify's convention).
    #[graphql(guard = "AdminOnly")]
    async fn set_webhook_secret(&self, ctx: &Context<'_>, secret: String) -> ApiResult<SetWebhookSecretPayload> {
        if secret.len() < 16 || secret.len() > 200 {
            return Err(ApiError::bad_input("the secret must be 16 to 200 characters"));
        }
        // The secret itself stays out of the audit trail.
        let details = serde_json::json!({ "secretLength": secret.len() });
        let brand = audited(ctx, "setWebhookSecret", details, move |conn, viewer| {
            async move {
                brands::set_webhook_secret(conn, viewer.brand_id, &secret).await?;
                Ok(brands::find(conn, viewer.brand_id).await?)
            }
            .scope_boxed()
        })
        .await?;
        Ok(SetWebhookSecretPayload {
            webhook_url_template: format!("/webhooks/{}/orders/{{source}}", brand.slug),
        })
    }

    /// Records an order, attributed by promo code first, then by click (SPEC.md *Attribution*).
    #[graphql(guard = "AdminOnly")]
    async fn record_conversion(&self, ctx: &Context<'_>, input: RecordConversionInput) -> ApiResult<ConversionPayload> {
        let source = validate::order_source(input.source.trim()).map_err(ApiError::BadUserInput)?;
        let external_order_id =
            validate::external_id("externalOrderId", &input.external_order_id).map_err(ApiError::BadUserInput)?;
        validate::sale_amount("saleAmount", input.sale_amount.0).map_err(ApiError::BadUserInput)?;
        let occurred_at = match input.occurred_at {
            Some(at) => validate::order_time(at, Utc::now()).map_err(ApiError::BadUserInput)?,
            None => Utc::now(),
        };
        let promo_code = match input.promo_code {
            Some(code) => {
                Some(validate::typed_code(&code).ok_or_else(|| ApiError::bad_input("promoCode is not a code"))?)
            }
            None => None,
        };
        let click_id = input
            .click_id
            .map(|id| uuid::Uuid::parse_str(&id).map_err(|_| ApiError::bad_input("clickId is not a click id")))
            .transpose()?;
        let details = serde_json::json!({
            "source": source, "externalOrderId": external_order_id, "saleAmount": input.sale_amount.0,
            "occurredAt": occurred_at, "promoCode": promo_code, "clickId": click_id,
        });
        let mut order = OrderInput {
            source,
            external_order_id,
            occurred_at,
            sale_amount: input.sale_amount.0,
            currency: String::new(),
            promo_codes: promo_code.into_iter().collect(),
            click_id,
        };
        let metrics = ctx.data_unchecked::<Arc<Metrics>>();
        let recorded = audited(ctx, "recordConversion", details, move |conn, viewer| {
            async move {
                order.currency = brands::find(conn, viewer.brand_id).await?.currency;
                Ok(conversions::record(conn, viewer.brand_id, viewer.time_zone, order).await?)
            }
            .scope_boxed()
        })
        .await?;
        match recorded {
            Recorded::New(row) => {
                if row.membership_id.is_some() {
                    metrics.orders_accepted.inc();
                } else {
                    metrics.orders_unattributed.inc();
                }
                Ok(ConversionPayload {
                    conversion: Conversion(row),
                    duplicate: false,
                })
            }
            Recorded::Duplicate(row) => {
                metrics.orders_duplicate.inc();
                Ok(ConversionPayload {
                    conversion: Conversion(row),
                    duplicate: true,
                })
            }
        }
    }

    /// Rejects an accepted conversion: it stops counting and earns nothing. After payment
    /// its commission is clawed back from the next payment.
    #[graphql(guard = "AdminOnly")]
    async fn reject_conversion(&self, ctx: &Context<'_>, id: ID, reason: String) -> ApiResult<ConversionPayload> {
        let id = decode(Kind::Conversion, &id)?;
        let reason = reason.trim().to_string();
        if reason.is_empty() || reason.len() > 500 {
            return Err(ApiError::bad_input("reason must be 1 to 500 characters"));
        }
        let request = ChangeRequest {
            change: Change::Reject(reason),
            reference: "reject".into(),
        };
        let row = change_audited(ctx, "rejectConversion", id, request).await?;
        ctx.data_unchecked::<Arc<Metrics>>().orders_rejected.inc();
        Ok(ConversionPayload {
            conversion: Conversion(row),
            duplicate: false,
        })
    }

    /// Refunds `amount` of a conversion's sale (all that is left when omitted): sale and
    /// commission drop pro rata, and a full refund makes it `REVERSED`. The same
    /// `idempotencyKey` twice refunds once.
    #[graphql(guard = "AdminOnly")]
    async fn refund_conversion(
        &self,
        ctx: &Context<'_>,
        id: ID,
        amount: Option<Money>,
        idempotency_key: Option<String>,
    ) -> ApiResult<ConversionPayload> {
        let id = decode(Kind::Conversion, &id)?;
        let reference = match idempotency_key.map(|k| k.trim().to_string()) {
            Some(key) if key.is_empty() || key.len() > 200 => {
                return Err(ApiError::bad_input("idempotencyKey must be 1 to 200 characters"));
            }
            Some(key) => key,
            None => uuid::Uuid::now_v7().to_string(),
        };
        let request = ChangeRequest {
            change: Change::Refund(amount.map(|m| m.0)),
            reference,
        };
        let row = change_audited(ctx, "refundConversion", id, request).await?;
        ctx.data_unchecked::<Arc<Metrics>>().orders_refunded.inc();
        Ok(ConversionPayload {
            conversion: Conversion(row),
            duplicate: false,
        })
    }
}
