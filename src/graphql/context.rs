//! What a request knows about its caller, and the checks resolvers make on it.

use async_graphql::{Context, Guard};

use super::error::{AppError, AppResult};
pub use crate::app::Caller;
use crate::db::{DbConn, DbPool};
use crate::domain::enums::Role;

/// The authenticated caller, or `UNAUTHENTICATED`.
pub fn viewer<'a>(ctx: &'a Context<'_>) -> AppResult<&'a Caller> {
    ctx.data_opt::<Caller>().ok_or(AppError::Unauthenticated)
}

/// A pooled connection for this resolver.
pub async fn conn(ctx: &Context<'_>) -> AppResult<DbConn> {
    let pool = ctx.data_unchecked::<DbPool>();
    Ok(pool.get().await.map_err(crate::db::DbError::from)?)
}

/// Connections for KPI reads, apart from the API's: its size is how many reports
/// run at once, so a storm of them waits for these few connections while every
/// other request (and the key lookup of every request) finds the API pool free.
#[derive(Clone)]
pub struct ReportPool(pub DbPool);

/// A connection for a KPI read, from the report pool.
pub async fn report_conn(ctx: &Context<'_>) -> AppResult<DbConn> {
    let pool = &ctx.data_unchecked::<ReportPool>().0;
    Ok(pool.get().await.map_err(crate::db::DbError::from)?)
}

/// The address shoppers reach the server at, for tracking links.
pub struct PublicUrl(pub String);

/// Lets only admin keys through; guards every mutation.
pub struct AdminOnly;

impl Guard for AdminOnly {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        match viewer(ctx)?.role {
            Role::Admin => Ok(()),
            Role::Analyst => Err(AppError::Forbidden.into()),
        }
    }
}
