//! Rewards' rules: what a reward may hold, and when a rule's trigger is crossed.

use rust_decimal::Decimal;

use super::enums::{RewardKind, RewardTrigger};
use super::money::{MAX_AMOUNT, MAX_FLAT_PAYOUT, format_money};
use super::validate;

/// What a reward gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RewardSpec {
    pub kind: RewardKind,
    pub cash_amount: Option<Decimal>,
    pub description: String,
    pub discount_code: Option<String>,
}

impl RewardSpec {
    /// Checks a reward's fields: `cash_amount` for a cash bonus, a description naming
    /// a free product, a discount code given by hand (`by_rule` rewards get theirs made up per grant).
    pub fn checked(
        kind: RewardKind,
        cash_amount: Option<Decimal>,
        description: &str,
        discount_code: Option<&str>,
        by_rule: bool,
    ) -> Result<RewardSpec, String> {
        let description = description.trim().to_string();
        if description.len() > 500 {
            return Err("description must be at most 500 characters".into());
        }
        match (kind, cash_amount) {
            (RewardKind::CashBonus, Some(amount)) if amount > MAX_FLAT_PAYOUT || amount.normalize().scale() > 2 => {
                return Err(format!(
                    "a CASH_BONUS's cashAmount is at most {} in cents, like a flat payout",
                    format_money(MAX_FLAT_PAYOUT)
                ));
            }
            (RewardKind::CashBonus, Some(amount)) if amount > Decimal::ZERO => {}
            (RewardKind::CashBonus, _) => return Err("a CASH_BONUS needs a cashAmount above zero".into()),
            (_, Some(_)) => return Err("cashAmount is only for CASH_BONUS".into()),
            _ => {}
        }
        if kind == RewardKind::FreeProduct && description.is_empty() {
            return Err("a FREE_PRODUCT needs a description naming the product".into());
        }
        let discount_code = discount_code.map(|c| c.trim().to_uppercase());
        match (kind, &discount_code) {
            (RewardKind::DiscountCode, Some(_)) if by_rule => {
                return Err("a rule makes up a discount code for each grant; leave discountCode out".into());
            }
            (RewardKind::DiscountCode, Some(code)) if !validate::promo_code_shape(code) => {
                return Err("a discount code is 3 to 64 letters, digits, - or _".into());
            }
            (RewardKind::DiscountCode, None) if !by_rule => {
                return Err("a DISCOUNT_CODE reward needs its discountCode".into());
            }
            (RewardKind::CashBonus | RewardKind::FreeProduct, Some(_)) => {
                return Err("discountCode is only for DISCOUNT_CODE".into());
            }
            _ => {}
        }
        Ok(RewardSpec {
            kind,
            cash_amount,
            description,
            discount_code,
        })
    }
}

/// The subject and body a member gets for a reward its grant or rule gives no
/// message for; cash bonuses are not emailed (they arrive with the next payment).
pub fn default_message(kind: RewardKind) -> Option<(&'static str, &'static str)> {
    const SUBJECT: &str = "A reward from {{brandName}}";
    match kind {
        RewardKind::CashBonus => None,
        RewardKind::DiscountCode => Some((
            SUBJECT,
            "Hi {{memberName}},\n\nthank you for your sales for {{offerName}}. Your reward is a discount code: {{discountCode}}\n\n{{brandName}}\n",
        )),
        RewardKind::FreeProduct => Some((
            SUBJECT,
            "Hi {{memberName}},\n\nthank you for your sales for {{offerName}}. Your reward: {{rewardDescription}}. We will be in touch to send it.\n\n{{brandName}}\n",
        )),
    }
}

/// When a rule grants: after the first conversion, every `every_n` conversions, or
/// when sales reach `sales_threshold`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub kind: RewardTrigger,
    pub every_n: Option<i32>,
    pub sales_threshold: Option<Decimal>,
}

impl Trigger {
    /// Checks that the trigger has exactly the parameter its kind needs.
    pub fn checked(
        kind: RewardTrigger,
        every_n: Option<i32>,
        sales_threshold: Option<Decimal>,
    ) -> Result<Trigger, String> {
        match (kind, every_n, sales_threshold) {
            (RewardTrigger::FirstConversion, None, None) => {}
            (RewardTrigger::EveryNConversions, Some(n), None) if (1..=10_000).contains(&n) => {}
            (RewardTrigger::SalesOverAmount, None, Some(amount))
                if amount > Decimal::ZERO && amount <= MAX_AMOUNT && amount.normalize().scale() <= 2 => {}
            (RewardTrigger::FirstConversion, _, _) => {
                return Err("FIRST_CONVERSION takes neither everyN nor salesThreshold".into());
            }
            (RewardTrigger::EveryNConversions, _, _) => {
                return Err("EVERY_N_CONVERSIONS takes everyN (1 to 10000) and no salesThreshold".into());
            }
            (RewardTrigger::SalesOverAmount, _, _) => {
                return Err(format!(
                    "SALES_OVER_AMOUNT takes a salesThreshold above zero and at most {}, in cents, and no everyN",
                    format_money(MAX_AMOUNT)
                ));
            }
        }
        Ok(Trigger {
            kind,
            every_n,
            sales_threshold,
        })
    }

    /// Whether a membership at `conversions` accepted conversions and `sales` still
    /// stands past `occurrence` of the trigger (a refund or rejection may take it back).
    pub fn still_crossed(&self, occurrence: i32, conversions: i64, sales: Decimal) -> bool {
        match self.kind {
            RewardTrigger::FirstConversion => conversions >= 1,
            RewardTrigger::EveryNConversions => self
                .every_n
                .is_some_and(|n| conversions >= i64::from(n) * i64::from(occurrence)),
            RewardTrigger::SalesOverAmount => self.sales_threshold.is_some_and(|threshold| sales >= threshold),
        }
    }

    /// Which occurrence of the trigger, if any, the conversion that brought a membership
    /// to `conversions` accepted conversions and `sales` (of which `sale` is its own) crosses.
    pub fn crossed_occurrence(&self, conversions: i64, sales: Decimal, sale: Decimal) -> Option<i32> {
        match self.kind {
            RewardTrigger::FirstConversion => (conversions == 1).then_some(1),
            RewardTrigger::EveryNConversions => {
                let n = i64::from(self.every_n?);
                (conversions > 0 && conversions % n == 0).then(|| i32::try_from(conversions / n).unwrap_or(i32::MAX))
            }
            RewardTrigger::SalesOverAmount => {
                let threshold = self.sales_threshold?;
                (sales - sale < threshold && sales >= threshold).then_some(1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(kind: RewardTrigger, every_n: Option<i32>, threshold: Option<&str>) -> Trigger {
        Trigger::checked(kind, every_n, threshold.map(|t| t.parse().unwrap())).unwrap()
    }

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn each_trigger_fires_on_its_crossing_only() {
        let first = trigger(RewardTrigger::FirstConversion, None, None);
        assert_eq!(first.crossed_occurrence(1, d("10"), d("10")), Some(1));
        assert_eq!(first.crossed_occurrence(2, d("20"), d("10")), None);

        let every_three = trigger(RewardTrigger::EveryNConversions, Some(3), None);
        let fired: Vec<_> = (1..=9)
            .filter_map(|n| every_three.crossed_occurrence(n, d("1"), d("1")))
            .collect();
        assert_eq!(fired, [1, 2, 3]);

        let over_500 = trigger(RewardTrigger::SalesOverAmount, None, Some("500.00"));
        assert_eq!(over_500.crossed_occurrence(3, d("499.99"), d("100")), None);
        assert_eq!(over_500.crossed_occurrence(4, d("500.00"), d("0.01")), Some(1));
        assert_eq!(
            over_500.crossed_occurrence(5, d("600.00"), d("100")),
            None,
            "already past"
        );
    }

    #[test]
    fn a_crossing_stands_while_the_progress_stays_past_it() {
        let first = trigger(RewardTrigger::FirstConversion, None, None);
        assert!(first.still_crossed(1, 1, d("10")));
        assert!(!first.still_crossed(1, 0, d("0")));
        let every_three = trigger(RewardTrigger::EveryNConversions, Some(3), None);
        assert!(every_three.still_crossed(2, 6, d("1")));
        assert!(!every_three.still_crossed(2, 5, d("1")));
        let over_500 = trigger(RewardTrigger::SalesOverAmount, None, Some("500.00"));
        assert!(over_500.still_crossed(1, 3, d("500.00")));
        assert!(!over_500.still_crossed(1, 3, d("499.99")));
    }

    #[test]
    fn a_trigger_takes_exactly_its_parameter() {
        assert!(Trigger::checked(RewardTrigger::FirstConversion, Some(2), None).is_err());
        assert!(Trigger::checked(RewardTrigger::EveryNConversions, Some(0), None).is_err());
        assert!(Trigger::checked(RewardTrigger::SalesOverAmount, None, Some(Decimal::ZERO)).is_err());
    }
}
