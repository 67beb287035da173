//! `MANUAL` payouts: the brand pays outside the system (e.g. by uploading the
//! bulk-payout CSV to PayPal) and the payment only records it.

use async_trait::async_trait;

use crate::app::ports::{BatchReport, ItemOutcome, PayoutBatch, PayoutProvider};
use crate::domain::enums::{PaymentProvider, PaymentState};

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
