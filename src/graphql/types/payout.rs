use async_graphql::{InputObject, Object};

use crate::domain::enums::PayoutType;
use crate::domain::payout::PayoutRule as DomainRule;
use crate::graphql::error::{ApiError, ApiResult};
use crate::graphql::scalars::{Money, Percent};

/// How a commission is computed.
pub struct PayoutRule(pub DomainRule);

#[Object]
impl PayoutRule {
    #[graphql(name = "type")]
    async fn payout_type(&self) -> PayoutType {
        self.0.payout_type()
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

/// A payout rule: `percent` for the percentage types, `flatAmount` for the flat ones, both for `PERCENT_PLUS_FLAT`.
#[derive(InputObject)]
pub struct PayoutRuleInput {
    #[graphql(name = "type")]
    pub payout_type: PayoutType,
    pub percent: Option<Percent>,
    pub flat_amount: Option<Money>,
}

impl PayoutRuleInput {
    pub fn to_rule(&self) -> ApiResult<DomainRule> {
        DomainRule::from_parts(
            self.payout_type,
            self.percent.map(|p| p.0),
            self.flat_amount.map(|m| m.0),
        )
        .map_err(|e| ApiError::bad_input(format!("payout: {e}")))
    }
}
