//! Where Send Payment hands its items. `MANUAL` is the default: the brand pays
//! outside the system (e.g. by uploading the bulk-payout CSV to PayPal) and the
//! payment only records it. A provider that moves money plugs in here; it sees
//! only these types, never the database.

use async_trait::async_trait;
use rust_decimal::Decimal;

use crate::domain::enums::PaymentState;
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
    /// Where the money goes: the member's payout email, else their email.
    pub recipient: String,
    pub amount: Decimal,
}

/// The provider's answer for one item.
#[derive(Clone, Debug)]
pub struct ItemOutcome {
    pub item_id: PaymentItemId,
    /// `PAID`, `FAILED`, or `PROCESSING` when the provider answers later.
    pub state: PaymentState,
    pub reference: Option<String>,
}

#[async_trait]
pub trait PayoutProvider: Send + Sync {
    /// Stored on the payment, e.g. `MANUAL`.
    fn name(&self) -> &'static str;

    /// Pays the items. Called after they are claimed and committed, outside any transaction.
    async fn submit(&self, batch: &PayoutBatch) -> anyhow::Result<Vec<ItemOutcome>>;
}

/// Marks every item paid at once; the money moves outside (see the bulk-payout CSV).
pub struct ManualProvider;

#[async_trait]
impl PayoutProvider for ManualProvider {
    fn name(&self) -> &'static str {
        "MANUAL"
    }

    async fn submit(&self, batch: &PayoutBatch) -> anyhow::Result<Vec<ItemOutcome>> {
        Ok(batch
            .items
            .iter()
            .map(|item| ItemOutcome {
                item_id: item.item_id,
                state: PaymentState::Paid,
                reference: Some(format!("manual-{}-{}", batch.payment_id, item.item_id)),
            })
            .collect())
    }
}
