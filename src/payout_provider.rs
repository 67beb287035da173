//! Where Send Payment hands its items. `MANUAL` is the default: the brand pays
//! outside the system (e.g. by uploading the bulk-payout CSV to PayPal) and the
//! payment only records it. A provider that moves money plugs in here.

use async_trait::async_trait;

use crate::db::payments::{PaymentItemRow, PaymentRow};
use crate::domain::enums::PaymentState;

/// The provider's answer for one item.
#[derive(Clone, Debug)]
pub struct ItemOutcome {
    pub item_id: i64,
    /// `PAID`, `FAILED`, or `PROCESSING` when the provider answers later.
    pub state: PaymentState,
    pub reference: Option<String>,
}

#[async_trait]
pub trait PayoutProvider: Send + Sync {
    /// Stored on the payment, e.g. `MANUAL`.
    fn name(&self) -> &'static str;

    /// Pays the items. Called after they are claimed and committed, outside any transaction.
    async fn submit(&self, payment: &PaymentRow, items: &[PaymentItemRow]) -> anyhow::Result<Vec<ItemOutcome>>;
}

/// Marks every item paid at once; the money moves outside (see the bulk-payout CSV).
pub struct ManualProvider;

#[async_trait]
impl PayoutProvider for ManualProvider {
    fn name(&self) -> &'static str {
        "MANUAL"
    }

    async fn submit(&self, payment: &PaymentRow, items: &[PaymentItemRow]) -> anyhow::Result<Vec<ItemOutcome>> {
        Ok(items
            .iter()
            .map(|item| ItemOutcome {
                item_id: item.id,
                state: PaymentState::Paid,
                reference: Some(format!("manual-{}-{}", payment.id, item.id)),
            })
            .collect())
    }
}
