use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::membership::Membership;
use super::payout::PayoutRule;
use crate::app::Caller;
use crate::app::exchange_rates::ExchangeRate;
use crate::app::reads;
use crate::app::records::{ConversionRow, Owner};
use crate::graphql::context::conn;
use crate::graphql::enums::{AttributionType, ConversionStatus};
use crate::graphql::error::AppResult;
use crate::graphql::ids::encode;
use crate::graphql::loaders::{Memberships, load_one};
use crate::graphql::pagination::{IdCursor, page_request, to_connection};
use crate::graphql::scalars::{Date, Money};

/// An order, attributed to a membership or kept unattributed.
pub struct Conversion(pub ConversionRow);

/// An amount in a named currency, written with that currency's minor unit
/// (`"1496"` yen, `"12.50"` euros, `"1.250"` dinars).
#[derive(SimpleObject)]
pub struct Amount {
    pub amount: String,
    /// ISO 4217 code.
    pub currency: String,
}

impl Amount {
    pub fn of(amount: rust_decimal::Decimal, currency: &str) -> Self {
        Amount {
            amount: crate::domain::currency::format_in(amount, currency),
            currency: currency.to_string(),
        }
    }
}

/// The rate an amount was converted at: units of `to` per unit of `from`,
/// published for `publishedOn` (the order's or payment's day, or the business
/// day before it).
#[derive(SimpleObject, Clone)]
pub struct AppliedExchangeRate {
    pub from: String,
    pub to: String,
    /// A decimal string at full precision.
    pub rate: String,
    pub published_on: Date,
    pub source: String,
}

impl From<&ExchangeRate> for AppliedExchangeRate {
    fn from(rate: &ExchangeRate) -> Self {
        AppliedExchangeRate {
            from: rate.from.clone(),
            to: rate.to.clone(),
            rate: rate.rate.normalize().to_string(),
            published_on: Date(rate.published_on),
            source: rate.source.clone(),
        }
    }
}

impl Conversion {
    /// A page of conversions as a connection.
    pub async fn connection(
        ctx: &Context<'_>,
        caller: &Caller,
        owner: Owner,
        first: Option<i32>,
        after: Option<String>,
        status: Option<ConversionStatus>,
    ) -> AppResult<Connection<IdCursor, Conversion>> {
        let had_cursor = after.is_some();
        let request = page_request(first, after)?;
        let status = status.map(crate::domain::enums::ConversionStatus::from);
        let page = reads::conversions(&mut *conn(ctx).await?, caller, owner, status, request).await?;
        Ok(to_connection(page, had_cursor, EmptyFields, |row| row.id, Conversion))
    }
}

#[Object]
impl Conversion {
    pub async fn id(&self) -> ID {
        encode(self.0.id)
    }

    /// Where the order came from, e.g. `shopify`, `generic` or `manual`.
    async fn source(&self) -> &str {
        &self.0.source
    }

    /// The shop's order id, unique per brand and source.
    async fn external_order_id(&self) -> &str {
        &self.0.external_order_id
    }

    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }

    /// The sale amount now, after refunds.
    async fn sale_amount(&self) -> Money {
        Money(self.0.sale_amount)
    }

    /// The sale amount as first recorded.
    async fn original_sale_amount(&self) -> Money {
        Money(self.0.original_sale_amount)
    }

    /// The commission now, after refunds; zero when rejected, reversed or unattributed.
    async fn commission(&self) -> Money {
        Money(self.0.commission)
    }

    /// The brand's currency, which `saleAmount` and `commission` are in.
    async fn currency(&self) -> &str {
        &self.0.currency
    }

    /// What the order was sold for, in the currency it was sold in (for an order in
    /// the brand's currency, `originalSaleAmount` in `currency`).
    async fn original_amount(&self) -> Amount {
        match (&self.0.order_currency, self.0.order_amount) {
            (Some(currency), Some(amount)) => Amount::of(amount, currency),
            _ => Amount::of(self.0.original_sale_amount, &self.0.currency),
        }
    }

    /// How an order sold in another currency was valued in the brand's; null for an
    /// order in the brand's currency.
    async fn exchange_rate(&self) -> Option<AppliedExchangeRate> {
        let row = &self.0;
        match (
            &row.order_currency,
            row.exchange_rate,
            row.rate_published_on,
            &row.rate_source,
        ) {
            (Some(from), Some(rate), Some(published_on), Some(source)) => Some(AppliedExchangeRate {
                from: from.clone(),
                to: row.currency.clone(),
                rate: rate.normalize().to_string(),
                published_on: Date(published_on),
                source: source.clone(),
            }),
            _ => None,
        }
    }

    async fn status(&self) -> ConversionStatus {
        self.0.status.into()
    }

    /// Why the brand rejected it.
    async fn rejection_reason(&self) -> Option<&str> {
        self.0.rejection_reason.as_deref()
    }

    /// How the order found its membership; none when unattributed.
    async fn attribution(&self) -> Option<AttributionType> {
        self.0.attribution.map(Into::into)
    }

    /// The promo code the order carried, if any.
    async fn promo_code(&self) -> Option<&str> {
        self.0.promo_code.as_deref()
    }

    /// The click the order was attributed through, for `LINK` attribution.
    async fn click_id(&self) -> Option<ID> {
        self.0.click_id.map(|id| ID(id.to_string()))
    }

    /// The payout rule the commission was computed with (later edits do not change it).
    async fn payout_rule(&self) -> AppResult<Option<PayoutRule>> {
        let owner = format!("conversion {}", self.0.id);
        PayoutRule::from_columns(self.0.payout_type, self.0.payout_percent, self.0.payout_flat, &owner)
    }

    /// The membership credited; none for an unattributed order.
    async fn membership(&self, ctx: &Context<'_>) -> AppResult<Option<Membership>> {
        match self.0.membership_id {
            Some(id) => Ok(load_one::<Memberships>(ctx, id).await?.map(|row| Membership(row, None))),
            None => Ok(None),
        }
    }
}
