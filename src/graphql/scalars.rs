//! Money and percentages travel as strings so no client parses them through a float.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::str::FromStr;

use crate::domain::money::format_money;

/// An amount of money in the brand's currency, as a decimal string with two
/// decimals, e.g. `"1234.50"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Money(pub Decimal);

/// An amount of money in the brand's currency, as a decimal string with two
/// decimals, e.g. `"1234.50"`.
#[Scalar(name = "Money")]
impl ScalarType for Money {
    fn parse(value: Value) -> InputValueResult<Self> {
        let Value::String(text) = &value else {
            return Err(InputValueError::custom("Money is a decimal string such as \"12.50\""));
        };
        let amount = Decimal::from_str(text.trim())
            .map_err(|_| InputValueError::custom(format!("'{text}' is not an amount such as \"12.50\"")))?;
        if amount.normalize().scale() > 2 {
            return Err(InputValueError::custom(format!("'{text}' has more than 2 decimals")));
        }
        Ok(Money(amount))
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
        Decimal::from_str(text.trim())
            .map(Percent)
            .map_err(|_| InputValueError::custom(format!("'{text}' is not a percentage such as \"12.5\"")))
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
            Value::String(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom(format!("'{text}' is not a date such as 2026-01-31"))),
            _ => Err(InputValueError::custom("Date is a string such as 2026-01-31")),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}
