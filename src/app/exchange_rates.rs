//! Reference exchange rates: a recurring job keeps the source's publication
//! (the ECB's) in `exchange_rates`, and amounts are valued at the rates of the
//! last business day on or before their day.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use diesel_async::AsyncPgConnection;
use rust_decimal::Decimal;

use super::AppResult;
use super::jobs::{Handler, Job, Lease, Outcome, backoff};
use super::ports::RatesSource;
use crate::db::{DbError, DbPool, exchange_rates};
use crate::domain::currency::{Valuation, at_rate};
use crate::domain::enums::JobKind;

/// How one unit of `from` was valued in `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExchangeRate {
    pub from: String,
    pub to: String,
    /// Units of `to` per unit of `from`, through the euro at full precision.
    pub rate: Decimal,
    /// The day asked about.
    pub on: NaiveDate,
    /// The business day whose published rates were used (on or before `on`).
    pub published_on: NaiveDate,
    pub source: String,
}

/// Fetches the source's rates and keeps them; returns how many were written.
pub async fn refresh(pool: &DbPool, source: &dyn RatesSource) -> AppResult<usize> {
    let days = source
        .fetch()
        .await
        .map_err(|e| super::AppError::ServiceUnavailable(e.to_string()))?;
    let mut conn = pool.get().await.map_err(DbError::from)?;
    Ok(exchange_rates::keep(&mut conn, &days, source.name()).await?)
}

/// The rate from `from` to `to` for `on`; none before the first published day
/// on or before it, or when either currency is not quoted.
pub async fn rate(
    conn: &mut AsyncPgConnection,
    from: &str,
    to: &str,
    on: NaiveDate,
) -> AppResult<Option<ExchangeRate>> {
    let Some((rates, source)) = exchange_rates::on_or_before(conn, on).await? else {
        return Ok(None);
    };
    Ok(rates.cross(from, to).map(|rate| ExchangeRate {
        from: from.to_string(),
        to: to.to_string(),
        rate,
        on,
        published_on: rates.day,
        source,
    }))
}

/// `amount` of `order_currency` valued in `brand_currency` at the rate for `day`:
/// the brand-currency amount (rounded once, to its minor unit) and how it was
/// valued; none while no rate is published for that day or before it.
pub async fn value(
    conn: &mut AsyncPgConnection,
    amount: Decimal,
    order_currency: &str,
    brand_currency: &str,
    day: NaiveDate,
) -> AppResult<Option<(Decimal, Valuation)>> {
    let Some(rate) = rate(conn, order_currency, brand_currency, day).await? else {
        return Ok(None);
    };
    let valuation = Valuation {
        order_amount: amount,
        order_currency: order_currency.to_string(),
        rate: rate.rate,
        published_on: rate.published_on,
        source: rate.source,
    };
    Ok(Some((at_rate(amount, valuation.rate, brand_currency), valuation)))
}

/// Checks a currency amounts can be sent in: the brand's own, or one the rates
/// kept have quoted (else nothing could be converted into it).
pub async fn payable_currency(conn: &mut AsyncPgConnection, brand_currency: &str, code: &str) -> AppResult<String> {
    let code = code.trim();
    if !crate::domain::currency::is_code(code) {
        return Err(super::AppError::bad_input(format!(
            "payoutCurrency {code:?} is not a currency code (three capital letters, e.g. EUR)"
        )));
    }
    if code != brand_currency && !exchange_rates::ever_quoted(conn, code).await? {
        return Err(super::AppError::bad_input(format!(
            "payoutCurrency {code}: no exchange rate from {brand_currency} to {code} is known, so payouts could not be converted"
        )));
    }
    Ok(code.to_string())
}

/// How many of the caller's brand's orders wait for the rate of their day.
pub async fn orders_awaiting(conn: &mut AsyncPgConnection, caller: &super::Caller) -> AppResult<i64> {
    Ok(crate::db::orders_awaiting_rate::count(conn, caller.brand_id).await?)
}

/// The recurring job: at start, then every `every`.
pub struct RatesJob {
    pub pool: DbPool,
    /// Told which brands' held orders were recorded.
    pub live: super::live::KpiChanges,
    pub source: Arc<dyn RatesSource>,
    pub every: Duration,
}

#[async_trait::async_trait]
impl Handler for RatesJob {
    fn kind(&self) -> JobKind {
        JobKind::ExchangeRates
    }

    fn every(&self) -> Option<Duration> {
        Some(self.every)
    }

    async fn run(&self, job: &Job, _: &Lease) -> Outcome {
        match refresh(&self.pool, &*self.source).await {
            Ok(count) => {
                tracing::debug!(count, "exchange rates kept");
                match super::orders::record_valued(&self.pool).await {
                    Ok(brands) => brands.into_iter().for_each(|brand| self.live.touch(brand)),
                    Err(error) => tracing::error!(?error, "recording orders that awaited a rate failed"),
                }
                Outcome::Done
            }
            Err(error) => {
                tracing::warn!(?error, "cannot refresh the exchange rates");
                Outcome::Retry {
                    after: backoff(job.attempts),
                    error: format!("{error:?}"),
                }
            }
        }
    }
}
