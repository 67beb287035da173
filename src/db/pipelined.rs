//! A transaction whose `BEGIN` travels with its first statements. On a hot
//! path every round trip is a wait for two processes to be scheduled in turn:
//! `AsyncConnection::transaction` sends `BEGIN` and waits for its answer before
//! the first statement goes; here the first statements are queued right behind
//! it, and all come back in one round trip.
//!
//! The transaction manager counts the transaction open from before `BEGIN` is
//! sent, as `transaction` does while it waits: a transaction dropped midway (a
//! panic, a cancelled task) leaves the connection reading as broken, and the pool
//! closes it rather than hand out a transaction someone else began.

use std::future::Future;

use diesel::connection::{TransactionDepthChange, TransactionManagerStatus};
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, RunQueryDsl, TransactionManager};

use super::DbResult;

/// Counts a transaction open on `conn` and returns its `BEGIN`, for the caller to
/// await together with the transaction's first statements, built after this call
/// (so they queue behind it) and only reading: under READ COMMITTED each statement
/// reads its own snapshot, whether `BEGIN` has run by then or not. Whatever the
/// outcome, the caller ends the transaction with [`finish`].
pub fn begin(conn: &mut AsyncPgConnection) -> DbResult<impl Future<Output = DbResult<()>> + Send + use<>> {
    let status: &mut TransactionManagerStatus = AnsiTransactionManager::transaction_manager_status_mut(conn);
    let state = status.transaction_state()?;
    if state.transaction_depth().is_some() {
        return Err(diesel::result::Error::AlreadyInTransaction.into());
    }
    state.change_transaction_depth(TransactionDepthChange::IncreaseDepth)?;
    let begin = diesel::sql_query("BEGIN").execute(conn);
    Ok(async move {
        begin.await?;
        Ok(())
    })
}

/// Commits the transaction [`begin`] opened when `outcome` is a success, or rolls
/// it back (also when its `BEGIN` failed); a failed commit is the outcome then.
pub async fn finish<T>(conn: &mut AsyncPgConnection, outcome: DbResult<T>) -> DbResult<T> {
    match outcome {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(conn).await?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) = AnsiTransactionManager::rollback_transaction(conn).await {
                tracing::error!(error = %rollback, "cannot roll back a pipelined transaction");
            }
            Err(error)
        }
    }
}
