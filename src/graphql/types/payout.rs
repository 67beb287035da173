use async_graphql::{InputObject, Object};
use rust_decimal::Decimal;

use crate::domain::payout::PayoutRule as DomainRule;
use crate::graphql::enums::PayoutType;
use crate::graphql::error::{AppError, AppResult};
use crate::graphql::scalars::{Money, Percent};

/// How a commission is computed.
pub struct PayoutRule(pub DomainRule);

#[Object]
impl PayoutRule {
    #[graphql(name = "type")]
    async fn payout_type(&self) -> PayoutType {
        self.0.payout_type().into()
    }

    /// The percentage of the sale, for `PERCENT_OF_SALE` and `PERCENT_PLUS_FLAT`.
    async fn percent(&self) -> Option<Percent> {
        self.0.parts().0.map(Percent)
    }

    /// The fixed amount per conversion (or per click, for `FLAT_PER_CLICK`).
    async fn flat_amount(&self) -> Option<Money> {
        self.0.parts().1.map(Money)
    }
}

impl PayoutRule {
    /// The rule stored in a row's `payout_type` / `payout_percent` / `payout_flat` columns;
    /// none when `payout_type` is NULL. Bad stored values are internal errors.
    pub fn from_columns(
        payout_type: Option<crate::domain::enums::PayoutType>,
        percent: Option<Decimal>,
        flat: Option<Decimal>,
        owner: &str,
    ) -> AppResult<Option<Self>> {
        let Some(payout_type) = payout_type else {
            return Ok(None);
        };
        let invalid = |why: String| AppError::internal(anyhow::anyhow!("stored payout of {owner} is invalid: {why}"));
        let rule = DomainRule::from_parts(payout_type, percent, flat).map_err(|e| invalid(e.to_string()))?;
        Ok(Some(PayoutRule(rule)))
    }
}

/// A payout rule: `percent` for the percentage types, `flatAmount` for the flat ones, both for `PERCENT_PLUS_FLAT`.
#[derive(InputObject)]
pub struct PayoutRuleInput {
    #[graphql(name = "type")]
    pub payout_type: PayoutType,
    pub percent: Option<Percent>,
    pub flat_amount: Option<Money>,
}

impl PayoutRuleInput {
    pub fn to_rule(&self) -> AppResult<DomainRule> {
        DomainRule::from_parts(
            self.payout_type.into(),
            self.percent.map(|p| p.0),
            self.flat_amount.map(|m| m.cents("payout.flatAmount")).transpose()?,
        )
        .map_err(|e| AppError::bad_input(format!("payout: {e}")))
    }
}
