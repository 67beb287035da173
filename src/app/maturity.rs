//! The maturity job: moves ledger entries whose hold period has ended from on hold
//! to due in the balances, so that reports read Payments Due from the balances
//! instead of summing entries (`db::ledger::mature_due_entries`). Reports stay exact
//! between runs: they add the few entries that came due since the last one.

use crate::db::{DbPool, DbResult, ledger};

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

/// Runs `mature_due` at start and every `every`, until the process ends.
pub fn spawn(pool: DbPool, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match mature_due(&pool).await {
                Ok(0) => {}
                Ok(count) => tracing::debug!(count, "ledger entries came due"),
                Err(error) => tracing::error!(?error, "maturing ledger entries failed"),
            }
            tokio::time::sleep(every).await;
        }
    })
}
