//! Every change a caller makes is written with its audit event, in one transaction.

use diesel_async::scoped_futures::{ScopedBoxFuture, ScopedFutureExt};
use diesel_async::{AsyncConnection, AsyncPgConnection};

use super::{AppError, AppResult, Caller};
use crate::db::audit;

/// Runs `change` and records `action` with `details` in the audit log, in one transaction.
pub async fn audited<T, F>(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    action: &'static str,
    details: serde_json::Value,
    change: F,
) -> AppResult<T>
where
    T: Send,
    F: for<'c> FnOnce(&'c mut AsyncPgConnection, Caller) -> ScopedBoxFuture<'static, 'c, AppResult<T>> + Send,
{
    conn.transaction::<T, AppError, _>(|conn| {
        async move {
            let result = change(conn, caller).await?;
            audit::record(conn, caller.brand_id, Some(caller.api_key_id), action, details).await?;
            Ok(result)
        }
        .scope_boxed()
    })
    .await
}
