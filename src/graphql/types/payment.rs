use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::membership::Membership;
use super::offer::Offer;
use crate::app::records::{PaymentItemRow, PaymentRow};
use crate::domain::ids::{MembershipId, PaymentId};
use crate::domain::payment::payout_file_count;
use crate::graphql::context::viewer;
use crate::graphql::enums::{PaymentProvider, PaymentScope, PaymentState};
use crate::graphql::error::AppResult;
use crate::graphql::ids::encode;
use crate::graphql::loaders::{Offers, PaymentItems, load_one};
use crate::graphql::scalars::Money;

/// One Send Payment: one item per membership paid.
pub struct Payment(pub PaymentRow);

#[Object]
impl Payment {
    pub async fn id(&self) -> ID {
        encode(self.0.id)
    }

    async fn scope(&self) -> PaymentScope {
        self.0.scope.into()
    }

    /// The offer paid, for `OFFER` payments.
    async fn offer(&self, ctx: &Context<'_>) -> AppResult<Option<Offer>> {
        let Some(offer_id) = self.0.offer_id else {
            return Ok(None);
        };
        let today = viewer(ctx)?.today();
        Ok(load_one::<Offers>(ctx, offer_id)
            .await?
            .map(|row| Offer::new(row, today)))
    }

    async fn state(&self) -> PaymentState {
        self.0.state.into()
    }

    /// Who pays the items out: `MANUAL` (the brand pays outside and records it
    /// here) or `PAYPAL`.
    async fn provider(&self) -> PaymentProvider {
        self.0.provider.into()
    }

    /// The provider's own id of the batch (PayPal's `payout_batch_id`), once known.
    async fn provider_batch_id(&self) -> Option<&str> {
        self.0.provider_batch_id.as_deref()
    }

    /// The sum of the items.
    async fn total_amount(&self) -> Money {
        Money(self.0.total_amount)
    }

    /// The key the payment was requested with; sending it again returns this payment.
    async fn idempotency_key(&self) -> &str {
        &self.0.idempotency_key
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the provider finished with every item.
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at
    }

    /// The first bulk-payout file (see `payoutFileUrls`).
    #[graphql(deprecation = "a payment of more than 5,000 items has several files: use payoutFileUrls")]
    async fn payout_file_url(&self) -> String {
        file_url(self.0.id, 1)
    }

    /// PayPal bulk-payout files for paying the items outside (PayPal's format: no
    /// header row, at most 5,000 payments per file), in order.
    async fn payout_file_urls(&self, ctx: &Context<'_>) -> AppResult<Vec<String>> {
        let items = load_one::<PaymentItems>(ctx, self.0.id).await?.unwrap_or_default();
        let payable = items
            .iter()
            .filter(|item| item.state != crate::domain::enums::PaymentState::Failed)
            .count();
        Ok((1..=payout_file_count(payable))
            .map(|part| file_url(self.0.id, part))
            .collect())
    }

    async fn items(&self, ctx: &Context<'_>) -> AppResult<Vec<PaymentItem>> {
        let rows = load_one::<PaymentItems>(ctx, self.0.id).await?.unwrap_or_default();
        Ok(rows.into_iter().map(PaymentItem).collect())
    }
}

/// Where bulk-payout file `part` (1-based) of a payment is downloaded.
fn file_url(payment: PaymentId, part: usize) -> String {
    match part {
        1 => format!("/export/payments/{payment}.csv"),
        part => format!("/export/payments/{payment}.csv?part={part}"),
    }
}

/// What one membership is paid in a payment.
pub struct PaymentItem(pub PaymentItemRow);

#[Object]
impl PaymentItem {
    pub async fn id(&self) -> ID {
        encode(self.0.id)
    }

    async fn membership(&self, ctx: &Context<'_>) -> AppResult<Membership> {
        Membership::load(ctx, self.0.membership_id).await
    }

    async fn amount(&self) -> Money {
        Money(self.0.amount)
    }

    async fn state(&self) -> PaymentState {
        self.0.state.into()
    }

    /// The provider's id of the transfer (PayPal's `payout_item_id`).
    async fn provider_reference(&self) -> Option<&str> {
        self.0.provider_reference.as_deref()
    }

    /// The provider's own status of the transfer, e.g. PayPal's `SUCCESS`,
    /// `UNCLAIMED`, `FAILED`, `RETURNED` or `BLOCKED`.
    async fn provider_status(&self) -> Option<&str> {
        self.0.provider_status.as_deref()
    }
}

/// What Send Payment would pay now, before it is confirmed.
#[derive(SimpleObject)]
pub struct PaymentPreview {
    pub total_amount: Money,
    /// How many memberships would be paid.
    pub item_count: i32,
    pub items: Vec<DueItem>,
}

/// One membership's due amount, net of clawbacks.
pub struct DueItem {
    pub membership_id: MembershipId,
    pub amount: Money,
}

#[Object]
impl DueItem {
    async fn membership(&self, ctx: &Context<'_>) -> AppResult<Membership> {
        Membership::load(ctx, self.membership_id).await
    }

    async fn amount(&self) -> Money {
        self.amount
    }
}
