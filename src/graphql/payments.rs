//! Send Payment, its preview and the payment history.

use std::sync::Arc;

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::Utc;
use rust_decimal::Decimal;

use super::context::{AdminOnly, conn, viewer};
use super::error::AppResult;
use super::ids::{decode, decode_list};
use super::pagination::{IdCursor, page_request, to_connection};
use super::scalars::Money;
use super::types::payment::{DueItem, Payment, PaymentPreview};
use crate::app::payments::{self, Payees};
use crate::db::payments as payment_rows;
use crate::domain::ids::{MembershipId, OfferId, PaymentId};
use crate::graphql::enums::PaymentScope;
use crate::providers::payout::PayoutProvider;

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

/// The payees a scope's arguments name.
async fn payees_of(
    ctx: &Context<'_>,
    scope: PaymentScope,
    offer_id: Option<&ID>,
    membership_ids: Option<&[ID]>,
) -> AppResult<Payees> {
    let offer_id = offer_id.map(decode::<OfferId>).transpose()?;
    let membership_ids = membership_ids.map(decode_list::<MembershipId>).transpose()?;
    let brand_id = viewer(ctx)?.brand_id;
    Payees::resolve(&mut *conn(ctx).await?, brand_id, scope.into(), offer_id, membership_ids).await
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
    async fn send_payment(&self, ctx: &Context<'_>, input: SendPaymentInput) -> AppResult<SendPaymentPayload> {
        let payees = payees_of(
            ctx,
            input.scope,
            input.offer_id.as_ref(),
            input.membership_ids.as_deref(),
        )
        .await?;
        let provider = ctx.data_unchecked::<Arc<dyn PayoutProvider>>();
        let sent = payments::send(
            &mut *conn(ctx).await?,
            provider.as_ref(),
            *viewer(ctx)?,
            payees,
            &input.idempotency_key,
            Utc::now(),
        )
        .await?;
        Ok(SendPaymentPayload {
            payment: Payment(sent.payment),
            replayed: sent.replayed,
        })
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
    ) -> AppResult<PaymentPreview> {
        let payees = payees_of(ctx, scope, offer_id.as_ref(), membership_ids.as_deref()).await?;
        let brand_id = viewer(ctx)?.brand_id;
        let due = payments::preview(&mut *conn(ctx).await?, brand_id, &payees, Utc::now()).await?;
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
    ) -> AppResult<Connection<IdCursor, Payment>> {
        let viewer = viewer(ctx)?;
        let had_cursor = after.is_some();
        let request = page_request(first, after)?;
        let page = payment_rows::page(&mut *conn(ctx).await?, viewer.brand_id, request).await?;
        Ok(to_connection(page, had_cursor, EmptyFields, |row| row.id, Payment))
    }

    async fn payment(&self, ctx: &Context<'_>, id: ID) -> AppResult<Option<Payment>> {
        let viewer = viewer(ctx)?;
        let id = decode::<PaymentId>(&id)?;
        Ok(payment_rows::find(&mut *conn(ctx).await?, viewer.brand_id, id)
            .await?
            .map(Payment))
    }
}
