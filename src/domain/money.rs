//! Money is `rust_decimal::Decimal`, rounded half-even to cents each time an
//! amount is computed (SPEC.md, *Money*).

use rust_decimal::{Decimal, RoundingStrategy};

/// Cents: the scale every stored amount has.
pub const MONEY_SCALE: u32 = 2;

/// Rounds a computed amount to cents, half to even (banker's rounding).
pub fn round_to_cents(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(MONEY_SCALE, RoundingStrategy::MidpointNearestEven)
}

/// Formats an amount the way GraphQL and CSV show money: always two decimals.
pub fn format_money(amount: Decimal) -> String {
    format!("{:.2}", round_to_cents(amount))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn rounds_half_to_even() {
        assert_eq!(round_to_cents(d("0.125")), d("0.12"));
        assert_eq!(round_to_cents(d("0.135")), d("0.14"));
        assert_eq!(round_to_cents(d("-0.125")), d("-0.12"));
        assert_eq!(round_to_cents(d("2.5551")), d("2.56"));
    }

    #[test]
    fn formats_two_decimals() {
        assert_eq!(format_money(d("5")), "5.00");
        assert_eq!(format_money(d("1234.5")), "1234.50");
        assert_eq!(format_money(d("99999999999.995")), "100000000000.00");
    }
}
