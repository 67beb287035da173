//! What a request knows about its caller, and the checks resolvers make on it.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;

use async_graphql::{Context, Guard};

use super::error::{AppError, AppResult};
pub use crate::app::Caller;
use crate::app::exchange_rates::ExchangeRate;
use crate::app::reports::ReportReads;
use crate::app::{App, Conn};
use crate::domain::enums::Role;

/// The authenticated caller, or `UNAUTHENTICATED`.
pub fn viewer<'a>(ctx: &'a Context<'_>) -> AppResult<&'a Caller> {
    ctx.data_opt::<Caller>().ok_or(AppError::Unauthenticated)
}

/// The application, which every request carries (see `graphql::with_app`).
pub fn app<'a>(ctx: &'a Context<'_>) -> &'a App {
    ctx.data_unchecked::<App>()
}

/// The caller's brand's currency, read once per request.
#[derive(Default)]
pub struct BrandCurrency(tokio::sync::OnceCell<String>);

/// The currency the caller's brand reports in (ISO 4217).
pub async fn brand_currency<'a>(ctx: &'a Context<'_>) -> AppResult<&'a str> {
    let caller = *viewer(ctx)?;
    let cell = ctx.data_opt::<BrandCurrency>().ok_or(AppError::Unauthenticated)?;
    let currency = cell
        .0
        .get_or_try_init(|| async move {
            let brand = crate::app::brands::find(&mut *conn(ctx).await?, caller).await?;
            Ok::<_, AppError>(brand.currency)
        })
        .await?;
    Ok(currency)
}

/// The exchange rates this request read, by (from, to, day): a table of offers
/// asked `kpis(in:)` reads each rate once.
#[derive(Default)]
pub struct ExchangeRatesRead(tokio::sync::Mutex<HashMap<(String, String, NaiveDate), Option<ExchangeRate>>>);

/// The rate from `from` to `to` for `on` (see `app::exchange_rates::rate`), read
/// once per request.
pub async fn exchange_rate(ctx: &Context<'_>, from: &str, to: &str, on: NaiveDate) -> AppResult<Option<ExchangeRate>> {
    let read = ctx.data_opt::<ExchangeRatesRead>().ok_or(AppError::Unauthenticated)?;
    let mut known = read.0.lock().await;
    let key = (from.to_string(), to.to_string(), on);
    if let Some(rate) = known.get(&key) {
        return Ok(rate.clone());
    }
    let rate = crate::app::exchange_rates::rate(&mut *conn(ctx).await?, from, to, on).await?;
    known.insert(key, rate.clone());
    Ok(rate)
}

/// A pooled connection for this resolver.
pub async fn conn(ctx: &Context<'_>) -> AppResult<Conn> {
    app(ctx).conn().await
}

/// A connection for a KPI read, from the report pool: the replica's when one is
/// configured and fresh enough for this request.
pub async fn report_conn(ctx: &Context<'_>) -> AppResult<Conn> {
    // Authorized requests carry their report reads (see `graphql::authorize`).
    let reads = ctx.data_opt::<Arc<ReportReads>>().ok_or(AppError::Unauthenticated)?;
    let (conn, _) = reads.conn().await?;
    Ok(conn)
}

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
