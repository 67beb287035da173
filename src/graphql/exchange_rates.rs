//! Reference exchange rates, as amounts in other currencies are valued.

use async_graphql::{Context, Object, SimpleObject};

use super::context::{conn, viewer};
use super::error::{AppError, AppResult};
use super::scalars::Date;
use crate::app::exchange_rates;
use crate::domain::currency::is_code;

/// How one unit of a currency is valued in another.
#[derive(SimpleObject)]
pub struct ExchangeRate {
    pub from: String,
    pub to: String,
    /// Units of `to` per unit of `from`, as a decimal string at full precision
    /// (computed through the euro from the published rates).
    pub rate: String,
    /// The day asked about.
    pub on: Date,
    /// The business day whose published rates were used: the last on or before
    /// `on` (a weekend or a holiday uses the day before).
    pub published_on: Date,
    /// Who published them (`ECB`).
    pub source: String,
}

#[derive(Default)]
pub struct ExchangeRateQueries;

#[Object]
impl ExchangeRateQueries {
    /// Orders received in a currency whose rate for their day is not published yet.
    /// Each is recorded, and counted in the KPIs, as soon as the rate is.
    async fn orders_awaiting_rate(&self, ctx: &Context<'_>) -> AppResult<i64> {
        let caller = viewer(ctx)?;
        exchange_rates::orders_awaiting(&mut *conn(ctx).await?, caller).await
    }

    /// The reference rate from one currency (ISO 4217 code, e.g. `EUR`) to another
    /// for a day (default: today in the brand's time zone); null when no rate was
    /// published for that day or before it.
    async fn exchange_rate(
        &self,
        ctx: &Context<'_>,
        from: String,
        to: String,
        on: Option<Date>,
    ) -> AppResult<Option<ExchangeRate>> {
        let caller = viewer(ctx)?;
        for code in [&from, &to] {
            if !is_code(code) {
                return Err(AppError::bad_input(format!(
                    "{code:?} is not a currency code (three capital letters, e.g. EUR)"
                )));
            }
        }
        let on = on.map_or_else(|| caller.today(), |d| d.0);
        let found = exchange_rates::rate(&mut *conn(ctx).await?, &from, &to, on).await?;
        Ok(found.map(|rate| ExchangeRate {
            from: rate.from,
            to: rate.to,
            rate: rate.rate.normalize().to_string(),
            on: Date(rate.on),
            published_on: Date(rate.published_on),
            source: rate.source,
        }))
    }
}
