//! Rewards: granted by hand, or by rules on an offer that grant by themselves.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use serde_json::json;

use super::context::{AdminOnly, conn, viewer};
use super::error::{AppError, AppResult};
use super::ids::decode;
use super::scalars::Money;
use super::types::reward::{Reward, RewardRule};
use crate::app::rewards;
use crate::db::rewards::NewRule;
use crate::domain::ids::{MembershipId, OfferId, RewardRuleId};
use crate::domain::reward::{RewardSpec, Trigger};
use crate::graphql::enums::{RewardKind, RewardTrigger};

/// What a reward gives: `cashAmount` for `CASH_BONUS`, `discountCode` for a hand-granted
/// `DISCOUNT_CODE` (rules make one up per grant), a `description` naming a `FREE_PRODUCT`.
#[derive(InputObject)]
pub struct RewardInput {
    pub kind: RewardKind,
    pub cash_amount: Option<Money>,
    #[graphql(default)]
    pub description: String,
    pub discount_code: Option<String>,
}

/// When a rule grants: `everyN` for `EVERY_N_CONVERSIONS`, `salesThreshold` for `SALES_OVER_AMOUNT`.
#[derive(InputObject)]
pub struct RewardRuleInput {
    pub trigger: RewardTrigger,
    pub every_n: Option<i32>,
    pub sales_threshold: Option<Money>,
    pub reward: RewardInput,
}

/// The result of `grantReward`.
#[derive(SimpleObject)]
pub struct GrantRewardPayload {
    pub reward: Reward,
    /// True when an earlier request with the same key granted this reward.
    pub replayed: bool,
}

/// The result of `createRewardRule` and `setRewardRuleActive`.
#[derive(SimpleObject)]
pub struct RewardRulePayload {
    pub rule: RewardRule,
}

impl RewardInput {
    fn spec(&self, by_rule: bool) -> AppResult<RewardSpec> {
        let cash_amount = self.cash_amount.map(|m| m.0);
        RewardSpec::checked(
            self.kind.into(),
            cash_amount,
            &self.description,
            self.discount_code.as_deref(),
            by_rule,
        )
        .map_err(AppError::BadUserInput)
    }
}

#[derive(Default)]
pub struct RewardMutations;

#[Object]
impl RewardMutations {
    /// Grants a reward by hand. A cash bonus is due at once and paid with the next
    /// payment. The same `idempotencyKey` again returns the first reward.
    #[graphql(guard = "AdminOnly")]
    async fn grant_reward(
        &self,
        ctx: &Context<'_>,
        membership_id: ID,
        reward: RewardInput,
        idempotency_key: String,
    ) -> AppResult<GrantRewardPayload> {
        let id = decode::<MembershipId>(&membership_id)?;
        let spec = reward.spec(false)?;
        let details = json!({
            "membershipId": membership_id.as_str(), "kind": spec.kind.as_str(), "cashAmount": spec.cash_amount,
            "description": spec.description, "discountCode": spec.discount_code, "idempotencyKey": idempotency_key.trim(),
        });
        let (row, replayed) = rewards::grant_by_hand(
            &mut *conn(ctx).await?,
            *viewer(ctx)?,
            id,
            spec,
            &idempotency_key,
            details,
        )
        .await?;
        Ok(GrantRewardPayload {
            reward: Reward(row),
            replayed,
        })
    }

    /// Adds a rule to an offer: when a member's conversion crosses its trigger, the
    /// reward is granted by itself, once per crossing.
    #[graphql(guard = "AdminOnly")]
    async fn create_reward_rule(
        &self,
        ctx: &Context<'_>,
        offer_id: ID,
        input: RewardRuleInput,
    ) -> AppResult<RewardRulePayload> {
        let trigger = Trigger::checked(input.trigger.into(), input.every_n, input.sales_threshold.map(|m| m.0))
            .map_err(AppError::BadUserInput)?;
        let rule = NewRule {
            offer_id: decode::<OfferId>(&offer_id)?,
            trigger,
            reward: input.reward.spec(true)?,
        };
        let details = json!({
            "offerId": offer_id.as_str(), "trigger": trigger.kind.as_str(), "everyN": trigger.every_n,
            "salesThreshold": trigger.sales_threshold, "kind": rule.reward.kind.as_str(), "cashAmount": rule.reward.cash_amount,
        });
        let row = rewards::create_rule(&mut *conn(ctx).await?, *viewer(ctx)?, rule, details).await?;
        Ok(RewardRulePayload { rule: RewardRule(row) })
    }

    /// Turns a reward rule on or off. Rewards it granted stay.
    #[graphql(guard = "AdminOnly")]
    async fn set_reward_rule_active(&self, ctx: &Context<'_>, id: ID, active: bool) -> AppResult<RewardRulePayload> {
        let rule_id = decode::<RewardRuleId>(&id)?;
        let details = json!({ "ruleId": id.as_str(), "active": active });
        let row = rewards::set_rule_active(&mut *conn(ctx).await?, *viewer(ctx)?, rule_id, active, details).await?;
        Ok(RewardRulePayload { rule: RewardRule(row) })
    }
}
