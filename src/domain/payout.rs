//! Payout rules and the commissions they produce.

use rust_decimal::Decimal;

use super::enums::PayoutType;
use super::money::{MAX_FLAT_PAYOUT, round_to_cents};

/// How a commission is computed: set on an offer, overridden per membership,
/// and copied onto every conversion it priced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayoutRule {
    PercentOfSale { percent: Decimal },
    FlatPerConversion { amount: Decimal },
    FlatPerClick { amount: Decimal },
    PercentPlusFlat { percent: Decimal, amount: Decimal },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayoutRuleError {
    #[error("{0} needs a percent")]
    MissingPercent(&'static str),
    #[error("{0} needs a flat amount")]
    MissingAmount(&'static str),
    #[error("{0} takes no percent")]
    UnexpectedPercent(&'static str),
    #[error("{0} takes no flat amount")]
    UnexpectedAmount(&'static str),
    #[error("percent must be between 0 and 100 with at most 4 decimals")]
    PercentOutOfRange,
    #[error("amount must be from 0.00 to 100000000.00 with at most 2 decimals")]
    InvalidAmount,
}

/// A computed amount that does not fit in a `Decimal`: a clear error, never a panic.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
#[error("the commission is too large to compute")]
pub struct MoneyOverflow;

/// The largest percent scale and money scale the database columns hold.
const PERCENT_SCALE: u32 = 4;
const AMOUNT_SCALE: u32 = 2;

impl PayoutRule {
    /// Builds a rule from its stored or submitted parts, checking that they fit the type.
    pub fn from_parts(
        payout_type: PayoutType,
        percent: Option<Decimal>,
        amount: Option<Decimal>,
    ) -> Result<Self, PayoutRuleError> {
        let name = payout_type.as_str();
        let need_percent = || percent.ok_or(PayoutRuleError::MissingPercent(name));
        let need_amount = || amount.ok_or(PayoutRuleError::MissingAmount(name));
        let rule = match payout_type {
            PayoutType::PercentOfSale => {
                if amount.is_some() {
                    return Err(PayoutRuleError::UnexpectedAmount(name));
                }
                PayoutRule::PercentOfSale {
                    percent: need_percent()?,
                }
            }
            PayoutType::FlatPerConversion | PayoutType::FlatPerClick => {
                if percent.is_some() {
                    return Err(PayoutRuleError::UnexpectedPercent(name));
                }
                let amount = need_amount()?;
                if payout_type == PayoutType::FlatPerClick {
                    PayoutRule::FlatPerClick { amount }
                } else {
                    PayoutRule::FlatPerConversion { amount }
                }
            }
            PayoutType::PercentPlusFlat => PayoutRule::PercentPlusFlat {
                percent: need_percent()?,
                amount: need_amount()?,
            },
        };
        rule.validate()?;
        Ok(rule)
    }

    fn validate(&self) -> Result<(), PayoutRuleError> {
        let (percent, amount) = self.parts();
        let bad_percent =
            |p: &Decimal| p.is_sign_negative() || *p > Decimal::ONE_HUNDRED || p.normalize().scale() > PERCENT_SCALE;
        let bad_amount =
            |a: &Decimal| a.is_sign_negative() || *a > MAX_FLAT_PAYOUT || a.normalize().scale() > AMOUNT_SCALE;
        if percent.as_ref().is_some_and(bad_percent) {
            return Err(PayoutRuleError::PercentOutOfRange);
        }
        if amount.as_ref().is_some_and(bad_amount) {
            return Err(PayoutRuleError::InvalidAmount);
        }
        Ok(())
    }

    pub fn payout_type(&self) -> PayoutType {
        match self {
            PayoutRule::PercentOfSale { .. } => PayoutType::PercentOfSale,
            PayoutRule::FlatPerConversion { .. } => PayoutType::FlatPerConversion,
            PayoutRule::FlatPerClick { .. } => PayoutType::FlatPerClick,
            PayoutRule::PercentPlusFlat { .. } => PayoutType::PercentPlusFlat,
        }
    }

    /// The percent and flat amount, as stored in the `payout_percent` / `payout_flat` columns.
    pub fn parts(&self) -> (Option<Decimal>, Option<Decimal>) {
        match *self {
            PayoutRule::PercentOfSale { percent } => (Some(percent), None),
            PayoutRule::FlatPerConversion { amount } | PayoutRule::FlatPerClick { amount } => (None, Some(amount)),
            PayoutRule::PercentPlusFlat { percent, amount } => (Some(percent), Some(amount)),
        }
    }

    /// The commission one conversion with this sale amount earns, rounded to cents.
    /// A per-click rule pays for clicks, not conversions.
    pub fn commission_for_sale(&self, sale_amount: Decimal) -> Result<Decimal, MoneyOverflow> {
        let percent_of = |percent: Decimal| {
            sale_amount
                .checked_mul(percent)
                .and_then(|product| product.checked_div(Decimal::ONE_HUNDRED))
                .ok_or(MoneyOverflow)
        };
        let commission = match *self {
            PayoutRule::PercentOfSale { percent } => percent_of(percent)?,
            PayoutRule::FlatPerConversion { amount } => amount,
            PayoutRule::FlatPerClick { .. } => Decimal::ZERO,
            PayoutRule::PercentPlusFlat { percent, amount } => {
                percent_of(percent)?.checked_add(amount).ok_or(MoneyOverflow)?
            }
        };
        Ok(round_to_cents(commission))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn builds_each_type_and_rejects_mismatched_parts() {
        let rule = PayoutRule::from_parts(PayoutType::PercentPlusFlat, Some(d("10")), Some(d("2.50"))).unwrap();
        assert_eq!(rule.parts(), (Some(d("10")), Some(d("2.50"))));
        assert_eq!(
            PayoutRule::from_parts(PayoutType::PercentOfSale, None, None),
            Err(PayoutRuleError::MissingPercent("PERCENT_OF_SALE"))
        );
        assert_eq!(
            PayoutRule::from_parts(PayoutType::FlatPerClick, Some(d("1")), Some(d("1"))),
            Err(PayoutRuleError::UnexpectedPercent("FLAT_PER_CLICK"))
        );
        assert_eq!(
            PayoutRule::from_parts(PayoutType::PercentOfSale, Some(d("100.01")), None),
            Err(PayoutRuleError::PercentOutOfRange)
        );
        assert_eq!(
            PayoutRule::from_parts(PayoutType::FlatPerConversion, None, Some(d("-1"))),
            Err(PayoutRuleError::InvalidAmount)
        );
        assert_eq!(
            PayoutRule::from_parts(PayoutType::FlatPerConversion, None, Some(d("1.005"))),
            Err(PayoutRuleError::InvalidAmount)
        );
        assert!(PayoutRule::from_parts(PayoutType::FlatPerConversion, None, Some(d("5.500"))).is_ok());
    }

    #[test]
    fn commissions_round_half_even_to_cents() {
        let ten_percent = PayoutRule::PercentOfSale { percent: d("10") };
        assert_eq!(ten_percent.commission_for_sale(d("99.95")), Ok(d("10.00"))); // 9.995 -> 10.00
        assert_eq!(ten_percent.commission_for_sale(d("0.25")), Ok(d("0.02"))); // 0.025 -> 0.02
        let plus = PayoutRule::PercentPlusFlat {
            percent: d("12.5"),
            amount: d("1.00"),
        };
        assert_eq!(plus.commission_for_sale(d("40.00")), Ok(d("6.00")));
        assert_eq!(
            PayoutRule::FlatPerClick { amount: d("0.10") }.commission_for_sale(d("50")),
            Ok(Decimal::ZERO)
        );
        // The largest Decimal times a percent overflows: an error, not a panic.
        assert_eq!(ten_percent.commission_for_sale(Decimal::MAX), Err(MoneyOverflow));
        assert_eq!(
            PayoutRule::from_parts(PayoutType::FlatPerClick, None, Some(d("999999999999.99"))),
            Err(PayoutRuleError::InvalidAmount)
        );
    }

    use proptest::prelude::*;

    fn money() -> impl Strategy<Value = Decimal> {
        (0i64..=1_000_000).prop_map(|c| Decimal::new(c, 2))
    }

    fn percent() -> impl Strategy<Value = Decimal> {
        (0i64..=1_000_000).prop_map(|p| Decimal::new(p, 4))
    }

    proptest! {
        /// Percent rules up to 100% never pay more than the sale, and no rule pays a negative amount.
        #[test]
        fn commissions_are_bounded(sale in money(), percent in percent(), flat in money()) {
            let pct = PayoutRule::from_parts(PayoutType::PercentOfSale, Some(percent), None).unwrap();
            let commission = pct.commission_for_sale(sale).unwrap();
            prop_assert!(commission >= Decimal::ZERO);
            prop_assert!(commission <= sale);
            prop_assert_eq!(commission.scale(), 2);
            let plus = PayoutRule::from_parts(PayoutType::PercentPlusFlat, Some(percent), Some(flat)).unwrap();
            prop_assert!(plus.commission_for_sale(sale).unwrap() >= flat);
            prop_assert!(plus.commission_for_sale(sale).unwrap() <= sale + flat);
            let per_conversion = PayoutRule::from_parts(PayoutType::FlatPerConversion, None, Some(flat)).unwrap();
            prop_assert_eq!(per_conversion.commission_for_sale(sale), Ok(flat));
        }

        /// What a rule is stored as builds the same rule again.
        #[test]
        fn rules_round_trip_through_their_parts(percent in percent(), flat in money()) {
            for rule in [
                PayoutRule::PercentOfSale { percent },
                PayoutRule::FlatPerConversion { amount: flat },
                PayoutRule::FlatPerClick { amount: flat },
                PayoutRule::PercentPlusFlat { percent, amount: flat },
            ] {
                let (p, a) = rule.parts();
                prop_assert_eq!(PayoutRule::from_parts(rule.payout_type(), p, a).unwrap(), rule);
            }
        }
    }
}
