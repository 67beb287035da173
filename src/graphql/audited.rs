//! Every mutation's change and its audit event, in one transaction.

use async_graphql::Context;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection};

use super::context::{Viewer, conn, viewer};
use super::error::{ApiError, ApiResult};
use crate::db::audit;

/// Runs `change` and its audit event in one transaction.
pub async fn audited<T, F>(
    ctx: &Context<'_>,
    action: &'static str,
    details: serde_json::Value,
    change: F,
) -> ApiResult<T>
where
    T: Send,
    F: for<'c> FnOnce(
            &'c mut AsyncPgConnection,
            Viewer,
        ) -> diesel_async::scoped_futures::ScopedBoxFuture<'static, 'c, Result<T, ApiError>>
        + Send,
{
    let viewer = *viewer(ctx)?;
    let mut conn = conn(ctx).await?;
    conn.transaction::<T, ApiError, _>(|conn| {
        async move {
            let result = change(conn, viewer).await?;
            audit::record(conn, viewer.brand_id, viewer.api_key_id, action, details).await?;
            Ok(result)
        }
        .scope_boxed()
    })
    .await
}
