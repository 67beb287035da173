//! The maturity job: moves ledger entries whose hold period has ended from on hold
//! to due in the balances, so that reports read Payments Due from the balances
//! instead of summing entries (`db::ledger::mature_due_entries`). Reports stay exact
//! between runs: they add the few entries that came due since the last one.

use super::jobs::{Handler, Job, Lease, Outcome, backoff};
use crate::db::{DbPool, DbResult, ledger};
use crate::domain::enums::JobKind;

/// Entries matured per transaction, so that one run never holds many row locks.
const MATURE_BATCH: i64 = 5_000;

/// Matures every entry that has come due, batch by batch; returns how many.
pub async fn mature_due(pool: &DbPool) -> DbResult<usize> {
    let mut conn = pool.get().await?;
    let mut total = 0;
    loop {
        let matured = ledger::mature_due_entries(&mut conn, MATURE_BATCH).await?;
        total += matured;
        if matured < MATURE_BATCH as usize {
            return Ok(total);
        }
    }
}

/// The recurring job that runs `mature_due` every `every`.
pub struct MaturityJob {
    pub pool: DbPool,
    pub every: std::time::Duration,
}

#[async_trait::async_trait]
impl Handler for MaturityJob {
    fn kind(&self) -> JobKind {
        JobKind::LedgerMaturity
    }

    fn every(&self) -> Option<std::time::Duration> {
        Some(self.every)
    }

    async fn run(&self, job: &Job, _: &Lease) -> Outcome {
        match mature_due(&self.pool).await {
            Ok(0) => Outcome::Done,
            Ok(count) => {
                tracing::debug!(count, "ledger entries came due");
                Outcome::Done
            }
            Err(error) => Outcome::Retry {
                after: backoff(job.attempts),
                error: error.to_string(),
            },
        }
    }
}
