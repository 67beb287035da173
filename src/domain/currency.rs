//! Currencies (ISO 4217) and converting between them at reference rates quoted
//! against the euro, as the ECB publishes them.

use std::collections::HashMap;

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};

/// Minor units of the currencies whose amounts are not in hundredths (ISO 4217).
const NOT_HUNDREDTHS: [(&str, u32); 17] = [
    ("BHD", 3),
    ("BIF", 0),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("IQD", 3),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("PYG", 0),
    ("TND", 3),
    ("VND", 0),
];

/// The most decimals any currency's amounts have (KWD, BHD…).
pub const MOST_MINOR_UNITS: u32 = 3;

/// A currency code: three capital letters (ISO 4217's form).
pub fn is_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// How many decimals an amount in `currency` has: 0 for JPY, 3 for KWD, else 2.
pub fn minor_units(currency: &str) -> u32 {
    NOT_HUNDREDTHS
        .iter()
        .find(|(code, _)| *code == currency)
        .map_or(2, |(_, units)| *units)
}

/// Rounds an amount to its currency's minor unit, half to even.
pub fn round_in(amount: Decimal, currency: &str) -> Decimal {
    amount.round_dp_with_strategy(minor_units(currency), RoundingStrategy::MidpointNearestEven)
}

/// An amount written with its currency's minor unit: `"1496"` yen, `"12.50"`
/// euros, `"1.250"` dinars (as PayPal and people read them).
pub fn format_in(amount: Decimal, currency: &str) -> String {
    let places = minor_units(currency) as usize;
    format!("{:.places$}", round_in(amount, currency))
}

/// How an order sold in another currency than its brand's was valued in the
/// brand's: `order_amount` of `order_currency` at `rate` (units of the brand's
/// currency per unit of the order's), published for `published_on` by `source`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Valuation {
    pub order_amount: Decimal,
    pub order_currency: String,
    pub rate: Decimal,
    pub published_on: NaiveDate,
    pub source: String,
}

/// An amount of a currency, as a shop reports a price.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Price {
    pub amount: Decimal,
    pub currency: String,
}

/// What a shop's order is booked at, from what the shop got (`shop`, its shop
/// money) and what the buyer paid (`presentment`, which refunds are in too): the
/// buyer's price is the order's own. When the shop got the brand's currency for
/// a price in another, Shopify's own conversion values it (source `SHOPIFY`, on
/// `day`), so figures match the shop's books; otherwise the buyer's price is
/// valued at the reference rate later (`value_in_brand_currency`).
pub fn shop_sale(
    shop: Option<Price>,
    presentment: Option<Price>,
    brand_currency: &str,
    day: NaiveDate,
) -> Option<(Price, Option<Valuation>)> {
    match (shop, presentment) {
        (Some(shop), Some(paid))
            if shop.currency == brand_currency && paid.currency != shop.currency && !paid.amount.is_zero() =>
        {
            let valuation = Valuation {
                rate: shop.amount / paid.amount,
                order_amount: paid.amount,
                order_currency: paid.currency,
                published_on: day,
                source: "SHOPIFY".to_string(),
            };
            Some((shop, Some(valuation)))
        }
        (shop, paid) => paid.or(shop).map(|price| (price, None)),
    }
}

/// `amount` at `rate` (units of `currency` per unit of the amount's), rounded once
/// to `currency`'s minor unit. Orders are valued and refunded with it at their
/// own rate, so a rate move never makes or loses money.
pub fn at_rate(amount: Decimal, rate: Decimal, currency: &str) -> Decimal {
    round_in(amount * rate, currency)
}

/// One day's reference rates: units of each currency one euro buys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayRates {
    pub day: NaiveDate,
    pub per_euro: HashMap<String, Decimal>,
}

impl DayRates {
    /// Units of `currency` per euro (1 for the euro itself).
    fn of(&self, currency: &str) -> Option<Decimal> {
        match currency {
            "EUR" => Some(Decimal::ONE),
            _ => self.per_euro.get(currency).copied(),
        }
    }

    /// Units of `to` one unit of `from` buys, through the euro at the published
    /// rates' full precision; none when either is not quoted that day.
    pub fn cross(&self, from: &str, to: &str) -> Option<Decimal> {
        if from == to {
            return Some(Decimal::ONE);
        }
        self.of(to)?.checked_div(self.of(from)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn rates() -> DayRates {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        DayRates {
            day: NaiveDate::from_ymd_opt(2026, 12, 4).unwrap(),
            per_euro: HashMap::from([
                ("USD".to_string(), d("1.0512")),
                ("GBP".to_string(), d("0.83125")),
                ("JPY".to_string(), d("157.23")),
            ]),
        }
    }

    #[test]
    fn amounts_convert_through_the_euro_and_round_once_to_the_minor_unit() {
        let rates = rates();
        let d = |s: &str| Decimal::from_str(s).unwrap();
        let convert = |amount: Decimal, from: &str, to: &str| Some(at_rate(amount, rates.cross(from, to)?, to));
        // 100 EUR is 105.12 USD; 100 GBP is 100 / 0.83125 * 1.0512 = 126.4601... USD.
        assert_eq!(convert(d("100"), "EUR", "USD"), Some(d("105.12")));
        assert_eq!(convert(d("100"), "GBP", "USD"), Some(d("126.46")));
        // Yen have no minor unit: 1,000 JPY in USD, and 10 USD in JPY (1495.72... → 1496).
        assert_eq!(convert(d("1000"), "JPY", "USD"), Some(d("6.69")));
        assert_eq!(convert(d("10"), "USD", "JPY"), Some(d("1496")));
        assert_eq!(convert(d("12.345"), "USD", "USD"), Some(d("12.34")));
        assert_eq!(convert(d("1"), "USD", "CHF"), None, "not quoted that day");
        assert_eq!(rates.cross("EUR", "GBP"), Some(d("0.83125")));
    }

    #[test]
    fn a_shop_order_is_the_buyers_price_valued_as_the_shop_converted_it() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        let price = |amount: &str, currency: &str| Price {
            amount: d(amount),
            currency: currency.to_string(),
        };
        let day = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        // Paid 90.00 EUR, the USD shop got 95.40: 95.40 USD, valued by Shopify.
        let (sale, valuation) =
            shop_sale(Some(price("95.40", "USD")), Some(price("90.00", "EUR")), "USD", day).unwrap();
        assert_eq!(sale, price("95.40", "USD"));
        let valuation = valuation.unwrap();
        assert_eq!(
            (valuation.order_amount, valuation.source.as_str()),
            (d("90.00"), "SHOPIFY")
        );
        assert_eq!(at_rate(valuation.order_amount, valuation.rate, "USD"), d("95.40"));
        // A EUR shop of a USD brand: the buyer's price, valued at the reference rate later.
        let (sale, valuation) =
            shop_sale(Some(price("90.00", "EUR")), Some(price("13000", "JPY")), "USD", day).unwrap();
        assert_eq!((sale, valuation), (price("13000", "JPY"), None));
        assert_eq!(
            shop_sale(Some(price("1.00", "USD")), None, "USD", day),
            Some((price("1.00", "USD"), None))
        );
        assert_eq!(shop_sale(None, None, "USD", day), None);
    }

    #[test]
    fn minor_units_follow_iso_4217() {
        assert_eq!(minor_units("JPY"), 0);
        assert_eq!(minor_units("KWD"), 3);
        assert_eq!(minor_units("EUR"), 2);
        assert_eq!(
            round_in(Decimal::from_str("1.2345").unwrap(), "KWD"),
            Decimal::from_str("1.234").unwrap()
        );
        assert!(is_code("USD") && !is_code("usd") && !is_code("US"));
    }
}
