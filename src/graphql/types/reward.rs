use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::app::records::{RewardRow, RewardRuleRow};
use crate::graphql::enums::{RewardKind, RewardTrigger};
use crate::graphql::error::AppResult;
use crate::graphql::ids::encode;
use crate::graphql::scalars::Money;
use crate::graphql::types::membership::Membership;

/// A bonus granted to a membership, by hand or by one of its offer's rules.
pub struct Reward(pub RewardRow);

#[Object]
impl Reward {
    pub async fn id(&self) -> ID {
        encode(self.0.id)
    }

    async fn kind(&self) -> RewardKind {
        self.0.kind.into()
    }

    /// For `CASH_BONUS`: added to the ledger and paid with the next payment.
    async fn cash_amount(&self) -> Option<Money> {
        self.0.cash_amount.map(Money)
    }

    /// What the reward is, e.g. the product.
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// For `DISCOUNT_CODE`: the code the member received.
    async fn discount_code(&self) -> Option<&str> {
        self.0.discount_code.as_deref()
    }

    /// The rule that granted it; none when granted by hand.
    async fn rule_id(&self) -> Option<ID> {
        self.0.reward_rule_id.map(encode)
    }

    async fn granted_at(&self) -> DateTime<Utc> {
        self.0.granted_at
    }

    /// When it was taken back: revoked by hand, or a refund or rejection un-crossed
    /// its rule (a cash reward's commission then leaves the ledger, clawed back if
    /// already paid).
    async fn reversed_at(&self) -> Option<DateTime<Utc>> {
        self.0.reversed_at
    }

    /// Why it was revoked by hand (`revokeReward`); null otherwise.
    async fn reversal_reason(&self) -> Option<&str> {
        self.0.reversal_reason.as_deref()
    }

    async fn membership(&self, ctx: &Context<'_>) -> AppResult<Membership> {
        Membership::load(ctx, self.0.membership_id).await
    }
}

/// A reward an offer grants by itself when a conversion crosses the trigger, once per crossing.
pub struct RewardRule(pub RewardRuleRow);

#[Object]
impl RewardRule {
    pub async fn id(&self) -> ID {
        encode(self.0.id)
    }

    async fn trigger(&self) -> RewardTrigger {
        self.0.trigger.into()
    }

    /// For `EVERY_N_CONVERSIONS`.
    async fn every_n(&self) -> Option<i32> {
        self.0.every_n
    }

    /// For `SALES_OVER_AMOUNT`: accepted sales the membership must reach.
    async fn sales_threshold(&self) -> Option<Money> {
        self.0.sales_threshold.map(Money)
    }

    async fn reward_kind(&self) -> RewardKind {
        self.0.reward_kind.into()
    }

    async fn cash_amount(&self) -> Option<Money> {
        self.0.cash_amount.map(Money)
    }

    async fn description(&self) -> &str {
        &self.0.description
    }

    /// Inactive rules grant nothing.
    async fn active(&self) -> bool {
        self.0.active
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// The rule's own message for the rewards it grants; null: the default.
    async fn email(&self) -> Option<EmailTemplate> {
        match (&self.0.email_subject, &self.0.email_body) {
            (Some(subject), Some(body)) => Some(EmailTemplate {
                subject: subject.clone(),
                body: body.clone(),
            }),
            _ => None,
        }
    }
}

/// A message with `{{placeholder}}`s, as given.
#[derive(SimpleObject)]
pub struct EmailTemplate {
    pub subject: String,
    pub body: String,
}
