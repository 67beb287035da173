//! Where Send Payment hands its items. `MANUAL` is the default: the brand pays
//! outside the system (e.g. by uploading the bulk-payout CSV to PayPal) and the
//! payment only records it. `PAYPAL` moves the money through PayPal Payouts
//! (`providers::paypal`). A provider sees only these types, never the database.

use std::sync::Arc;

use async_trait::async_trait;
use rust_decimal::Decimal;

use super::paypal::PayPal;
use crate::domain::enums::{PaymentProvider, PaymentState};
use crate::domain::ids::{PaymentId, PaymentItemId};

/// One payment, as a provider is asked to pay it.
#[derive(Clone, Debug)]
pub struct PayoutBatch {
    pub payment_id: PaymentId,
    /// The payer, shown to recipients (e.g. in a note).
    pub brand_name: String,
    pub currency: String,
    pub items: Vec<PayoutItem>,
}

/// One recipient's share of a batch.
#[derive(Clone, Debug)]
pub struct PayoutItem {
    pub item_id: PaymentItemId,
    /// Where the money goes: the member's payout address (email or phone), else their email.
    pub recipient: String,
    pub amount: Decimal,
}

/// What a provider knows of a batch.
#[derive(Clone, Debug, Default)]
pub struct BatchReport {
    /// The provider's own id of the batch (PayPal's `payout_batch_id`), once known.
    pub provider_batch_id: Option<String>,
    /// The items it reports on; one it does not mention stays as it is.
    pub items: Vec<ItemOutcome>,
}

/// The provider's answer for one item.
#[derive(Clone, Debug)]
pub struct ItemOutcome {
    pub item_id: PaymentItemId,
    /// `PAID`, `FAILED`, or `PROCESSING` while the provider is not done.
    pub state: PaymentState,
    /// The provider's id of the item (PayPal's `payout_item_id`).
    pub reference: Option<String>,
    /// The provider's own status word (PayPal's `transaction_status`, e.g. `UNCLAIMED`).
    pub provider_status: Option<String>,
}

#[async_trait]
pub trait PayoutProvider: Send + Sync {
    fn name(&self) -> PaymentProvider;

    /// Hands a claimed batch over, outside any transaction. Calling it again for the
    /// same payment (after a timeout, a 5xx or a crash) must never pay twice; it
    /// then reports on the batch handed over before. An error means "unknown yet":
    /// the payment stays `PROCESSING` and is reconciled later.
    async fn submit(&self, batch: &PayoutBatch) -> anyhow::Result<BatchReport>;

    /// What the provider now knows of a batch handed over before
    /// (`provider_batch_id` when it is known, else the provider finds it).
    async fn check(&self, batch: &PayoutBatch, provider_batch_id: Option<&str>) -> anyhow::Result<BatchReport>;
}

/// Marks every item paid at once; the money moves outside (see the bulk-payout CSV).
pub struct ManualProvider;

#[async_trait]
impl PayoutProvider for ManualProvider {
    fn name(&self) -> PaymentProvider {
        PaymentProvider::Manual
    }

    async fn submit(&self, batch: &PayoutBatch) -> anyhow::Result<BatchReport> {
        Ok(BatchReport {
            provider_batch_id: None,
            items: batch
                .items
                .iter()
                .map(|item| ItemOutcome {
                    item_id: item.item_id,
                    state: PaymentState::Paid,
                    reference: Some(format!("manual-{}-{}", batch.payment_id, item.item_id)),
                    provider_status: None,
                })
                .collect(),
        })
    }

    async fn check(&self, batch: &PayoutBatch, _provider_batch_id: Option<&str>) -> anyhow::Result<BatchReport> {
        self.submit(batch).await
    }
}

/// The providers this server can pay through (by default `MANUAL` only).
#[derive(Clone)]
pub struct PayoutProviders {
    manual: Arc<ManualProvider>,
    paypal: Option<Arc<PayPal>>,
}

impl PayoutProviders {
    pub fn new(paypal: Option<PayPal>) -> Self {
        PayoutProviders {
            manual: Arc::new(ManualProvider),
            paypal: paypal.map(Arc::new),
        }
    }

    /// The provider of that name, if this server is configured for it.
    pub fn get(&self, name: PaymentProvider) -> Option<&dyn PayoutProvider> {
        match name {
            PaymentProvider::Manual => Some(self.manual.as_ref()),
            PaymentProvider::Paypal => self.paypal.as_deref().map(|p| p as &dyn PayoutProvider),
        }
    }

    pub fn paypal(&self) -> Option<&PayPal> {
        self.paypal.as_deref()
    }
}

impl Default for PayoutProviders {
    fn default() -> Self {
        PayoutProviders::new(None)
    }
}
