use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::conversion::{Amount, AppliedExchangeRate};
use super::membership::Membership;
use super::offer::Offer;
use crate::app::payments::Payout;
use crate::app::records::{PaymentItemRow, PaymentRow};
use crate::domain::ids::PaymentId;
use crate::domain::payment::{LeftOut, payout_file_count};
use crate::graphql::context::{brand_currency, viewer};
use crate::graphql::enums::{PaymentProvider, PaymentScope, PaymentState};
use crate::graphql::error::AppResult;
use crate::graphql::ids::encode;
use crate::graphql::loaders::{Offers, PaymentItems, load_one};
use crate::graphql::scalars::{Date, Money};

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

    /// What it pays, in the brand's currency: what it returns to due if it fails.
    async fn amount(&self) -> Money {
        Money(self.0.amount)
    }

    /// What is sent, in the member's payout currency.
    async fn payout_amount(&self) -> Amount {
        Amount::of(self.0.payout_amount, &self.0.payout_currency)
    }

    /// The rate `amount` was converted at into `payoutAmount`, the payment day's;
    /// null when the member is paid in the brand's currency.
    async fn exchange_rate(&self, ctx: &Context<'_>) -> AppResult<Option<AppliedExchangeRate>> {
        let row = &self.0;
        let (Some(published_on), Some(source)) = (row.rate_published_on, &row.rate_source) else {
            return Ok(None);
        };
        Ok(Some(AppliedExchangeRate {
            from: brand_currency(ctx).await?.to_string(),
            to: row.payout_currency.clone(),
            rate: row.exchange_rate.normalize().to_string(),
            published_on: Date(published_on),
            source: source.clone(),
        }))
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
    /// In the brand's currency.
    pub total_amount: Money,
    /// How many memberships would be paid.
    pub item_count: i32,
    pub items: Vec<DueItem>,
    /// Memberships owed money that would not be paid now (their members are paid
    /// in a currency without a published rate yet), each with why.
    pub left_out: Vec<PaymentLeftOut>,
}

/// One membership's due amount, net of clawbacks, and what it would be sent.
pub struct DueItem(pub Payout);

#[Object]
impl DueItem {
    async fn membership(&self, ctx: &Context<'_>) -> AppResult<Membership> {
        Membership::load(ctx, self.0.due.membership_id).await
    }

    /// In the brand's currency.
    async fn amount(&self) -> Money {
        Money(self.0.due.amount)
    }

    /// What would be sent, in the member's payout currency, at today's rate.
    async fn payout_amount(&self) -> Amount {
        Amount::of(self.0.amount, &self.0.currency)
    }

    /// The rate `amount` would be converted at; null when the member is paid in
    /// the brand's currency.
    async fn exchange_rate(&self) -> Option<AppliedExchangeRate> {
        self.0.rate.as_ref().map(Into::into)
    }
}

/// A membership left out of a payment, and why.
#[derive(SimpleObject)]
pub struct PaymentLeftOut {
    pub membership_id: ID,
    /// What it is owed, still due.
    pub amount: Money,
    pub reason: String,
}

impl From<LeftOut> for PaymentLeftOut {
    fn from(left: LeftOut) -> Self {
        PaymentLeftOut {
            membership_id: encode(left.due.membership_id),
            amount: Money(left.due.amount),
            reason: left.reason.describe(),
        }
    }
}
