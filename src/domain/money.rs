//! Money is `rust_decimal::Decimal`, rounded half-even to cents each time an
//! amount is computed (SPEC.md, *Money*).

use rust_decimal::{Decimal, RoundingStrategy};

/// Cents: the scale every stored amount has.
pub const MONEY_SCALE: u32 = 2;

/// The largest amount a `NUMERIC(14,2)` column holds.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(0x107A_3FFF, 0x5AF3, 0, false, 2); // 999,999,999,999.99
/// The largest single order accepted: far above any real basket, far below what
/// sums of orders in the rollups can hold.
pub const MAX_ORDER_AMOUNT: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 2); // 10,000,000.00
/// The largest flat payout (per conversion or per click): a whole click batch
/// (4,000 clicks) at this rate still fits one ledger row.
pub const MAX_FLAT_PAYOUT: Decimal = Decimal::from_parts(1_410_065_408, 2, 0, false, 2); // 100,000,000.00

/// Why a text is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("'{0}' is not an amount such as \"12.50\"")]
    NotAnAmount(String),
    #[error("'{0}' has too many decimals (at most {1})")]
    TooPrecise(String, u32),
    #[error("'{0}' is more than {max}", max = format_money(MAX_AMOUNT))]
    TooLarge(String),
}

/// Reads an amount strictly: an optional `-`, 1 to 12 digits, and optionally a
/// point with 1 or 2 digits. No spaces, signs, exponents or digit separators
/// (`Decimal::from_str` would read "1_000" as 1000).
pub fn parse_amount(text: &str) -> Result<Decimal, AmountError> {
    parse_amount_with(text, MONEY_SCALE)
}

/// `parse_amount` with at most `decimals` significant decimals (0 for yen, 3 for
/// dinars); zeros past them are fine (`"1000.00"` yen).
pub fn parse_amount_with(text: &str, decimals: u32) -> Result<Decimal, AmountError> {
    let not_an_amount = || AmountError::NotAnAmount(text.chars().take(40).collect());
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || (unsigned.contains('.') && fraction.is_empty()) {
        return Err(not_an_amount());
    }
    if fraction.trim_end_matches('0').len() > decimals as usize {
        return Err(AmountError::TooPrecise(text.chars().take(40).collect(), decimals));
    }
    if whole.trim_start_matches('0').len() > 12 || fraction.len() > 20 {
        return Err(AmountError::TooLarge(text.chars().take(40).collect()));
    }
    text.parse::<Decimal>().map_err(|_| not_an_amount())
}

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
    fn limits_are_what_they_say() {
        assert_eq!(MAX_AMOUNT, d("999999999999.99"));
        assert_eq!(MAX_ORDER_AMOUNT, d("10000000.00"));
        assert_eq!(MAX_FLAT_PAYOUT, d("100000000.00"));
    }

    #[test]
    fn amounts_are_read_strictly() {
        assert_eq!(parse_amount("12.5"), Ok(d("12.5")));
        assert_eq!(parse_amount("0"), Ok(d("0")));
        assert_eq!(parse_amount("-3.10"), Ok(d("-3.10")));
        assert_eq!(parse_amount("999999999999.99"), Ok(MAX_AMOUNT));
        assert_eq!(parse_amount("5.500"), Ok(d("5.5")));
        for bad in [
            "", "-", ".5", "5.", "1_000.00", "1e20", " 1", "1 ", "+1", "1,000", "0x10", "NaN", "1.2.3", "١٢",
        ] {
            assert!(matches!(parse_amount(bad), Err(AmountError::NotAnAmount(_))), "{bad:?}");
        }
        assert!(matches!(parse_amount("1.005"), Err(AmountError::TooPrecise(..))));
        assert_eq!(parse_amount_with("1.005", 3), Ok(d("1.005")));
        assert_eq!(parse_amount_with("1000.00", 0), Ok(d("1000")));
        assert!(matches!(
            parse_amount_with("1000.5", 0),
            Err(AmountError::TooPrecise(..))
        ));
        assert!(matches!(parse_amount("1000000000000"), Err(AmountError::TooLarge(_))));
        assert!(matches!(
            parse_amount("79228162514264337593543950335"),
            Err(AmountError::TooLarge(_))
        ));
    }

    proptest::proptest! {
        /// Whatever the text, parsing answers without panicking, and what it accepts fits the column.
        #[test]
        fn any_text_parses_or_is_refused(text in "\\PC{0,40}") {
            if let Ok(amount) = parse_amount(&text) {
                proptest::prop_assert!(amount.abs() <= MAX_AMOUNT);
                proptest::prop_assert!(amount.normalize().scale() <= 2);
            }
        }

        #[test]
        fn every_amount_in_range_round_trips(cents in -99_999_999_999_999i64..=99_999_999_999_999) {
            let amount = Decimal::new(cents, 2);
            proptest::prop_assert_eq!(parse_amount(&amount.to_string()), Ok(amount));
        }
    }

    #[test]
    fn formats_two_decimals() {
        assert_eq!(format_money(d("5")), "5.00");
        assert_eq!(format_money(d("1234.5")), "1234.50");
        assert_eq!(format_money(d("99999999999.995")), "100000000000.00");
    }
}
