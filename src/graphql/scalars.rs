//! Money and percentages travel as strings so no client parses them through a float.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::str::FromStr;

use crate::domain::currency::MOST_MINOR_UNITS;
use crate::domain::money::{MONEY_SCALE, format_money, parse_amount_with, round_to_cents};

pub use crate::domain::date_range::{FIRST_DATE, LAST_DATE};

/// An amount of money as a decimal string, e.g. `"1234.50"`: in the brand's
/// currency, two decimals; an order's `saleAmount` takes its own currency's
/// (none for JPY, three for KWD).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Money(pub Decimal);

impl Money {
    /// The amount in the brand's currency: `BAD_USER_INPUT` past two decimals
    /// (Postgres would round a third silently).
    pub fn cents(self, field: &str) -> Result<Decimal, crate::graphql::error::AppError> {
        if round_to_cents(self.0) != self.0 {
            return Err(crate::graphql::error::AppError::bad_input(format!(
                "{field}: '{}' has too many decimals (at most {MONEY_SCALE})",
                self.0
            )));
        }
        Ok(self.0)
    }
}

/// An amount of money as a decimal string, e.g. `"1234.50"`: in the brand's
/// currency, two decimals; an order's `saleAmount` takes its own currency's
/// (none for JPY, three for KWD).
#[Scalar(name = "Money")]
impl ScalarType for Money {
    fn parse(value: Value) -> InputValueResult<Self> {
        let Value::String(text) = &value else {
            return Err(InputValueError::custom("Money is a decimal string such as \"12.50\""));
        };
        parse_amount_with(text, MOST_MINOR_UNITS)
            .map(Money)
            .map_err(|e| InputValueError::custom(e.to_string()))
    }

    fn to_value(&self) -> Value {
        Value::String(format_money(self.0))
    }
}

/// A percentage from 0 to 100 as a decimal string, e.g. `"12.5"` for 12.5%.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Percent(pub Decimal);

/// A percentage from 0 to 100 as a decimal string, e.g. `"12.5"` for 12.5%.
#[Scalar(name = "Percent")]
impl ScalarType for Percent {
    fn parse(value: Value) -> InputValueResult<Self> {
        let Value::String(text) = &value else {
            return Err(InputValueError::custom("Percent is a decimal string such as \"12.5\""));
        };
        let bad = || InputValueError::custom(format!("'{text}' is not a percentage from 0 to 100 such as \"12.5\""));
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        let well_formed = (1..=3).contains(&whole.len())
            && digits(whole)
            && digits(fraction)
            && fraction.len() <= 4
            && !(text.contains('.') && fraction.is_empty());
        let percent = well_formed
            .then(|| Decimal::from_str(text).ok())
            .flatten()
            .ok_or_else(bad)?;
        if percent > Decimal::ONE_HUNDRED {
            return Err(bad());
        }
        Ok(Percent(percent))
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.normalize().to_string())
    }
}

/// A calendar date, `YYYY-MM-DD`, in the brand's time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

/// A calendar date, `YYYY-MM-DD`, in the brand's time zone.
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => {
                let bad = || InputValueError::custom(format!("'{text}' is not a date such as 2026-01-31"));
                let shaped = text.len() == 10
                    && text.bytes().enumerate().all(|(i, b)| match i {
                        4 | 7 => b == b'-',
                        _ => b.is_ascii_digit(),
                    });
                let date = shaped
                    .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
                    .flatten()
                    .ok_or_else(bad)?;
                if !(FIRST_DATE..=LAST_DATE).contains(&date) {
                    return Err(InputValueError::custom(format!(
                        "{text} is outside the dates this API keeps ({FIRST_DATE} to {LAST_DATE})"
                    )));
                }
                Ok(Date(date))
            }
            _ => Err(InputValueError::custom("Date is a string such as 2026-01-31")),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse<T: ScalarType>(text: &str) -> Option<T> {
        T::parse(Value::String(text.to_string())).ok()
    }

    #[test]
    fn dates_stay_in_a_sane_window() {
        assert_eq!(
            parse::<Date>("2026-01-31"),
            Some(Date(NaiveDate::from_ymd_opt(2026, 1, 31).unwrap()))
        );
        for bad in [
            "+262142-12-30",
            "9999-12-31",
            "1900-01-01",
            "2026-1-31",
            " 2026-01-31",
            "2026-02-30",
        ] {
            assert!(parse::<Date>(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn money_and_percent_are_strict() {
        assert_eq!(parse::<Money>("12.50").map(|m| m.0), Some(Decimal::new(1250, 2)));
        // Three decimals parse (dinars); `Money::cents` refuses them in the brand's currency.
        let dinars = parse::<Money>("12.345").unwrap();
        assert_eq!(dinars.0, Decimal::new(12345, 3));
        assert!(dinars.cents("amount").is_err());
        for bad in ["1_000.00", "1e20", "79228162514264337593543950335", "12.3456", " 1"] {
            assert!(parse::<Money>(bad).is_none(), "{bad}");
        }
        assert_eq!(parse::<Percent>("12.5").map(|p| p.0), Some(Decimal::new(125, 1)));
        for bad in ["100.01", "1_0", "-1", "1e2", "", "7.", "12.34567"] {
            assert!(parse::<Percent>(bad).is_none(), "{bad}");
        }
    }

    proptest! {
        /// No string makes a scalar panic; whatever they accept is in range.
        #[test]
        fn scalars_take_any_string(text in "\\PC{0,32}|[0-9.+-_eE]{0,32}") {
            if let Some(date) = parse::<Date>(&text) {
                prop_assert!((FIRST_DATE..=LAST_DATE).contains(&date.0));
            }
            if let Some(money) = parse::<Money>(&text) {
                prop_assert!(money.0.abs() <= crate::domain::money::MAX_AMOUNT);
            }
            if let Some(percent) = parse::<Percent>(&text) {
                prop_assert!(percent.0 >= Decimal::ZERO && percent.0 <= Decimal::ONE_HUNDRED);
            }
        }
    }
}
