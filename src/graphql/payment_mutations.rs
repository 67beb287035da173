//! Send Payment, its preview and the payment history.

use std::sync::Arc;

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::Utc;
use rust_decimal::Decimal;

use super::context::{AdminOnly, Viewer, conn, viewer};
use super::error::{ApiError, ApiResult};
use super::ids::{Kind, decode, decode_list};
use super::pagination::{IdCursor, page_request, to_connection};
use super::scalars::Money;
use super::types::payment::{DueItem, Payment, PaymentPreview};
use crate::db::payments::{self, PaymentRequest, Scope, SendError};
use crate::db::{memberships, offers};
use crate::domain::enums::PaymentScope;
use crate::payout_provider::PayoutProvider;

/// Which memberships to pay: `offerId` with `OFFER`, `membershipIds` with `MEMBERSHIPS`.
#[derive(InputObject)]
pub struct SendPaymentInput {
    pub scope: PaymentScope,
    pub offer_id: Option<ID>,
    pub membership_ids: Option<Vec<ID>>,
    /// Any string unique to this intent (1 to 200 characters). Sending the same key
    /// again returns the first payment and pays nothing more.
    pub idempotency_key: String,
}

/// The result of `sendPayment`.
#[derive(SimpleObject)]
pub struct SendPaymentPayload {
    pub payment: Payment,
    /// True when an earlier request with the same key made this payment.
    pub replayed: bool,
}

/// Checks the scope's arguments and that what they name exists in the brand.
async fn resolve_scope(
    ctx: &Context<'_>,
    viewer: &Viewer,
    scope: PaymentScope,
    offer_id: Option<&ID>,
    membership_ids: Option<&[ID]>,
) -> ApiResult<Scope> {
    let bad = ApiError::bad_input;
    match (scope, offer_id, membership_ids) {
        (PaymentScope::AllOffers, None, None) => Ok(Scope::AllOffers),
        (PaymentScope::Offer, Some(id), None) => {
            let id = decode(Kind::Offer, id)?;
            offers::find(&mut *conn(ctx).await?, viewer.brand_id, id)
                .await?
                .ok_or(ApiError::NotFound("offer"))?;
            Ok(Scope::Offer(id))
        }
        (PaymentScope::Memberships, None, Some(ids)) => {
            let ids = decode_list(Kind::Membership, ids)?;
            let found = memberships::by_ids(&mut *conn(ctx).await?, viewer.brand_id, &ids).await?;
            if found.len() != ids.len() {
                return Err(ApiError::NotFound("membership"));
            }
            Ok(Scope::Memberships(ids))
        }
        (PaymentScope::AllOffers, _, _) => Err(bad("ALL_OFFERS takes neither offerId nor membershipIds")),
        (PaymentScope::Offer, _, _) => Err(bad("OFFER takes an offerId and no membershipIds")),
        (PaymentScope::Memberships, _, _) => Err(bad("MEMBERSHIPS takes membershipIds and no offerId")),
    }
}

#[derive(Default)]
pub struct PaymentMutations;

#[Object]
impl PaymentMutations {
    /// Pays every membership in scope what is due (past the hold period, net of
    /// clawbacks, positive only): one payment, one item per membership, through the
    /// `MANUAL` provider. Exactly once per `idempotencyKey`, and no ledger entry is
    /// ever paid twice, whatever runs at the same moment. `CONFLICT` when nothing is due.
    #[graphql(guard = "AdminOnly")]
    async fn send_payment(&self, ctx: &Context<'_>, input: SendPaymentInput) -> ApiResult<SendPaymentPayload> {
        let viewer = *viewer(ctx)?;
        let key = input.idempotency_key.trim();
        if key.is_empty() || key.len() > 200 {
            return Err(ApiError::bad_input("idempotencyKey must be 1 to 200 characters"));
        }
        let scope = resolve_scope(
            ctx,
            &viewer,
            input.scope,
            input.offer_id.as_ref(),
            input.membership_ids.as_deref(),
        )
        .await?;
        let provider = ctx.data_unchecked::<Arc<dyn PayoutProvider>>();
        let request = PaymentRequest {
            brand_id: viewer.brand_id,
            api_key_id: viewer.api_key_id,
            scope,
            idempotency_key: key,
            now: Utc::now(),
        };
        match payments::send(&mut *conn(ctx).await?, provider.as_ref(), request).await {
            Ok(sent) => Ok(SendPaymentPayload {
                payment: Payment(sent.payment),
                replayed: sent.replayed,
            }),
            Err(SendError::NothingDue) => Err(ApiError::Conflict("nothing is due in this scope".into())),
            Err(SendError::KeyReused(existing)) => Err(ApiError::Conflict(format!(
                "idempotencyKey was already used for payment_{} with another scope",
                existing.id
            ))),
            Err(SendError::Db(error)) => Err(error.into()),
        }
    }
}

#[derive(Default)]
pub struct PaymentQueries;

#[Object]
impl PaymentQueries {
    /// What `sendPayment` would pay now for this scope, to show before confirming.
    async fn payment_preview(
        &self,
        ctx: &Context<'_>,
        scope: PaymentScope,
        offer_id: Option<ID>,
        membership_ids: Option<Vec<ID>>,
    ) -> ApiResult<PaymentPreview> {
        let viewer = *viewer(ctx)?;
        let scope = resolve_scope(ctx, &viewer, scope, offer_id.as_ref(), membership_ids.as_deref()).await?;
        let due = payments::preview(&mut *conn(ctx).await?, viewer.brand_id, &scope, Utc::now()).await?;
        Ok(PaymentPreview {
            total_amount: Money(due.iter().map(|d| d.amount).sum::<Decimal>()),
            item_count: due.len() as i32,
            items: due
                .into_iter()
                .map(|d| DueItem {
                    membership_id: d.membership_id,
                    amount: Money(d.amount),
                })
                .collect(),
        })
    }

    /// Payments, newest first.
    async fn payments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<IdCursor, Payment>> {
        let viewer = viewer(ctx)?;
        let had_cursor = after.is_some();
        let request = page_request(first, after)?;
        let page = payments::page(&mut *conn(ctx).await?, viewer.brand_id, request).await?;
        Ok(to_connection(page, had_cursor, EmptyFields, |row| row.id, Payment))
    }

    async fn payment(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Payment>> {
        let viewer = viewer(ctx)?;
        let id = decode(Kind::Payment, &id)?;
        Ok(payments::find(&mut *conn(ctx).await?, viewer.brand_id, id)
            .await?
            .map(Payment))
    }
}
