//! Rewards: granted by hand, or by rules on an offer that grant by themselves.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use serde_json::json;

use super::context::{AdminOnly, conn, viewer};
use super::error::{AppError, AppResult};
use super::ids::decode;
use super::memberships::EmailTemplateInput;
use super::scalars::Money;
use super::types::reward::{Reward, RewardRule};
use crate::app::rewards;
use crate::domain::ids::{MembershipId, OfferId, RewardId, RewardRuleId};
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
    /// The message members get for a free product or discount code this rule grants
    /// (default: a short note from the brand). Placeholders as in `emailMembers`
    /// but `{{link}}`, plus `{{discountCode}}` and `{{rewardDescription}}`.
    pub email: Option<EmailTemplateInput>,
}

/// A reward to grant by hand.
#[derive(InputObject)]
pub struct GrantRewardInput {
    pub membership_id: ID,
    pub reward: RewardInput,
    /// 1 to 200 characters: a retried request grants once.
    pub idempotency_key: String,
    /// The message for a free product or discount code, as in `RewardRuleInput.email`
    /// (default: a short note from the brand). Cash bonuses are not emailed.
    pub email: Option<EmailTemplateInput>,
}

/// What a rule gives from now on; parts left out stay. Its trigger cannot change:
/// switch the rule off and add another.
#[derive(InputObject)]
pub struct UpdateRewardRuleInput {
    /// The rule to change.
    pub id: ID,
    pub reward: Option<RewardInput>,
    /// Its message; `null` returns to the default.
    pub email: MaybeUndefined<EmailTemplateInput>,
}

/// A reward to take back.
#[derive(InputObject)]
pub struct RevokeRewardInput {
    /// The reward to revoke.
    pub id: ID,
    /// 1 to 500 characters, shown on the reward.
    pub reason: String,
}

/// The result of `revokeReward`.
#[derive(SimpleObject)]
pub struct RevokeRewardPayload {
    pub reward: Reward,
}

/// A rule to add to an offer.
#[derive(InputObject)]
pub struct CreateRewardRuleInput {
    pub offer_id: ID,
    pub rule: RewardRuleInput,
}

/// A rule to turn on or off.
#[derive(InputObject)]
pub struct SetRewardRuleActiveInput {
    /// The rule to change.
    pub id: ID,
    pub active: bool,
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
        let cash_amount = self.cash_amount.map(|m| m.cents("cashAmount")).transpose()?;
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
    async fn grant_reward(&self, ctx: &Context<'_>, input: GrantRewardInput) -> AppResult<GrantRewardPayload> {
        let GrantRewardInput {
            membership_id,
            reward,
            idempotency_key,
            email,
        } = input;
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
            email.map(EmailTemplateInput::template),
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
        input: CreateRewardRuleInput,
    ) -> AppResult<RewardRulePayload> {
        let CreateRewardRuleInput { offer_id, rule: input } = input;
        let trigger = Trigger::checked(
            input.trigger.into(),
            input.every_n,
            input.sales_threshold.map(|m| m.cents("salesThreshold")).transpose()?,
        )
        .map_err(AppError::BadUserInput)?;
        let reward = input.reward.spec(true)?;
        let details = json!({
            "offerId": offer_id.as_str(), "trigger": trigger.kind.as_str(), "everyN": trigger.every_n,
            "salesThreshold": trigger.sales_threshold, "kind": reward.kind.as_str(), "cashAmount": reward.cash_amount,
            "emailSubject": input.email.as_ref().map(|e| e.subject.trim()),
        });
        let row = rewards::create_rule(
            &mut *conn(ctx).await?,
            *viewer(ctx)?,
            decode::<OfferId>(&offer_id)?,
            trigger,
            reward,
            input.email.map(EmailTemplateInput::template),
            details,
        )
        .await?;
        Ok(RewardRulePayload { rule: RewardRule(row) })
    }

    /// Changes what a rule gives from now on, or its message. Rewards it granted stay.
    #[graphql(guard = "AdminOnly")]
    async fn update_reward_rule(
        &self,
        ctx: &Context<'_>,
        input: UpdateRewardRuleInput,
    ) -> AppResult<RewardRulePayload> {
        let rule_id = decode::<RewardRuleId>(&input.id)?;
        let reward = input.reward.as_ref().map(|r| r.spec(true)).transpose()?;
        let email = match input.email {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(template) => Some(Some(template.template())),
        };
        let details = json!({
            "ruleId": input.id.as_str(),
            "kind": reward.as_ref().map(|r| r.kind.as_str()),
            "cashAmount": reward.as_ref().and_then(|r| r.cash_amount),
            "description": reward.as_ref().map(|r| r.description.as_str()),
            "emailSubject": match &email { None => json!("unchanged"), Some(None) => json!(null), Some(Some(t)) => json!(t.subject.trim()) },
        });
        let row = rewards::update_rule(&mut *conn(ctx).await?, *viewer(ctx)?, rule_id, reward, email, details).await?;
        Ok(RewardRulePayload { rule: RewardRule(row) })
    }

    /// Takes a reward back by hand: a cash reward's unpaid entry drops to zero, and a
    /// paid one is clawed back from the next payment. `CONFLICT` when it was taken
    /// back already. A rule grants again only on a new crossing.
    #[graphql(guard = "AdminOnly")]
    async fn revoke_reward(&self, ctx: &Context<'_>, input: RevokeRewardInput) -> AppResult<RevokeRewardPayload> {
        let reward_id = decode::<RewardId>(&input.id)?;
        let details = json!({ "rewardId": input.id.as_str(), "reason": input.reason.trim() });
        let row = rewards::revoke(&mut *conn(ctx).await?, *viewer(ctx)?, reward_id, input.reason, details).await?;
        Ok(RevokeRewardPayload { reward: Reward(row) })
    }

    /// Turns a reward rule on or off. Rewards it granted stay.
    #[graphql(guard = "AdminOnly")]
    async fn set_reward_rule_active(
        &self,
        ctx: &Context<'_>,
        input: SetRewardRuleActiveInput,
    ) -> AppResult<RewardRulePayload> {
        let SetRewardRuleActiveInput { id, active } = input;
        let rule_id = decode::<RewardRuleId>(&id)?;
        let details = json!({ "ruleId": id.as_str(), "active": active });
        let row = rewards::set_rule_active(&mut *conn(ctx).await?, *viewer(ctx)?, rule_id, active, details).await?;
        Ok(RewardRulePayload { rule: RewardRule(row) })
    }
}
