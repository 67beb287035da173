//! Rewards: granted by hand, or by rules on an offer that grant by themselves.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::Utc;
use diesel_async::AsyncConnection;
use diesel_async::scoped_futures::ScopedFutureExt;
use rust_decimal::Decimal;
use serde_json::json;

use super::audited::audited;
use super::context::{AdminOnly, conn, viewer};
use super::error::{ApiError, ApiResult};
use super::ids::{Kind, decode};
use super::membership_mutations::{memberships_of, valid_promo_code};
use super::scalars::Money;
use super::types::reward::{Reward, RewardRule};
use crate::db::rewards::{self, Grant, NewRule, RewardSpec};
use crate::db::{audit, offers};
use crate::domain::enums::{RewardKind, RewardTrigger};

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

/// Checks a reward's fields; `by_rule` rewards get their discount codes made up per grant.
fn reward_spec(input: &RewardInput, by_rule: bool) -> ApiResult<RewardSpec> {
    let bad = ApiError::bad_input;
    let description = input.description.trim().to_string();
    if description.len() > 500 {
        return Err(bad("description must be at most 500 characters"));
    }
    let cash_amount = input.cash_amount.map(|m| m.0);
    match (input.kind, cash_amount) {
        (RewardKind::CashBonus, Some(amount)) if amount > Decimal::ZERO => {}
        (RewardKind::CashBonus, _) => return Err(bad("a CASH_BONUS needs a cashAmount above zero")),
        (_, Some(_)) => return Err(bad("cashAmount is only for CASH_BONUS")),
        _ => {}
    }
    if input.kind == RewardKind::FreeProduct && description.is_empty() {
        return Err(bad("a FREE_PRODUCT needs a description naming the product"));
    }
    let discount_code = input.discount_code.as_deref().map(|c| c.trim().to_uppercase());
    match (input.kind, &discount_code) {
        (RewardKind::DiscountCode, Some(_)) if by_rule => {
            return Err(bad(
                "a rule makes up a discount code for each grant; leave discountCode out",
            ));
        }
        (RewardKind::DiscountCode, Some(code)) if !valid_promo_code(code) => {
            return Err(bad("a discount code is 3 to 64 letters, digits, - or _"));
        }
        (RewardKind::DiscountCode, None) if !by_rule => {
            return Err(bad("a DISCOUNT_CODE reward needs its discountCode"));
        }
        (RewardKind::CashBonus | RewardKind::FreeProduct, Some(_)) => {
            return Err(bad("discountCode is only for DISCOUNT_CODE"));
        }
        _ => {}
    }
    Ok(RewardSpec {
        kind: input.kind,
        cash_amount,
        description,
        discount_code,
    })
}

fn new_rule(offer_id: i64, input: &RewardRuleInput) -> ApiResult<NewRule> {
    let bad = ApiError::bad_input;
    let threshold = input.sales_threshold.map(|m| m.0);
    match (input.trigger, input.every_n, threshold) {
        (RewardTrigger::FirstConversion, None, None) => {}
        (RewardTrigger::EveryNConversions, Some(n), None) if (1..=10_000).contains(&n) => {}
        (RewardTrigger::SalesOverAmount, None, Some(amount)) if amount > Decimal::ZERO => {}
        (RewardTrigger::FirstConversion, _, _) => {
            return Err(bad("FIRST_CONVERSION takes neither everyN nor salesThreshold"));
        }
        (RewardTrigger::EveryNConversions, _, _) => {
            return Err(bad(
                "EVERY_N_CONVERSIONS takes everyN (1 to 10000) and no salesThreshold",
            ));
        }
        (RewardTrigger::SalesOverAmount, _, _) => {
            return Err(bad("SALES_OVER_AMOUNT takes a salesThreshold above zero and no everyN"));
        }
    }
    Ok(NewRule {
        offer_id,
        trigger: input.trigger,
        every_n: input.every_n,
        sales_threshold: threshold,
        reward: reward_spec(&input.reward, true)?,
    })
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
    ) -> ApiResult<GrantRewardPayload> {
        let viewer = *viewer(ctx)?;
        let id = decode(Kind::Membership, &membership_id)?;
        let spec = reward_spec(&reward, false)?;
        let key = idempotency_key.trim().to_string();
        if key.is_empty() || key.len() > 200 {
            return Err(ApiError::bad_input("idempotencyKey must be 1 to 200 characters"));
        }
        let details = json!({
            "membershipId": membership_id.as_str(), "kind": spec.kind.as_str(), "cashAmount": spec.cash_amount,
            "description": spec.description, "discountCode": spec.discount_code, "idempotencyKey": key,
        });
        let mut conn = conn(ctx).await?;
        let (row, replayed) = conn
            .transaction::<_, ApiError, _>(|conn| {
                async move {
                    let membership = memberships_of(conn, viewer.brand_id, &[id]).await?.remove(0);
                    let replay = |existing: rewards::RewardRow| {
                        if existing.membership_id == id {
                            Ok((existing, true))
                        } else {
                            Err(ApiError::Conflict(
                                "idempotencyKey was already used for another membership".into(),
                            ))
                        }
                    };
                    if let Some(existing) = rewards::find_by_key(conn, viewer.brand_id, &key).await? {
                        return replay(existing);
                    }
                    if membership.removed_at.is_some() {
                        return Err(ApiError::bad_input("a removed membership cannot get rewards"));
                    }
                    let by_hand = Grant::ByHand {
                        idempotency_key: Some(&key),
                    };
                    let now = Utc::now();
                    match rewards::grant(conn, viewer.brand_id, id, &spec, by_hand, viewer.time_zone, now).await? {
                        Some(row) => {
                            audit::record(conn, viewer.brand_id, viewer.api_key_id, "grantReward", details).await?;
                            Ok((row, false))
                        }
                        // A concurrent request with the same key won.
                        None => replay(
                            rewards::find_by_key(conn, viewer.brand_id, &key)
                                .await?
                                .ok_or(ApiError::NotFound("reward"))?,
                        ),
                    }
                }
                .scope_boxed()
            })
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
    ) -> ApiResult<RewardRulePayload> {
        let id = decode(Kind::Offer, &offer_id)?;
        let rule = new_rule(id, &input)?;
        let details = json!({
            "offerId": offer_id.as_str(), "trigger": rule.trigger.as_str(), "everyN": rule.every_n,
            "salesThreshold": rule.sales_threshold, "kind": rule.reward.kind.as_str(), "cashAmount": rule.reward.cash_amount,
        });
        let row = audited(ctx, "createRewardRule", details, move |conn, viewer| {
            async move {
                offers::find(conn, viewer.brand_id, id)
                    .await?
                    .ok_or(ApiError::NotFound("offer"))?;
                Ok(rewards::create_rule(conn, viewer.brand_id, &rule).await?)
            }
            .scope_boxed()
        })
        .await?;
        Ok(RewardRulePayload { rule: RewardRule(row) })
    }

    /// Turns a reward rule on or off. Rewards it granted stay.
    #[graphql(guard = "AdminOnly")]
    async fn set_reward_rule_active(&self, ctx: &Context<'_>, id: ID, active: bool) -> ApiResult<RewardRulePayload> {
        let rule_id = decode(Kind::RewardRule, &id)?;
        let details = json!({ "ruleId": id.as_str(), "active": active });
        let row = audited(ctx, "setRewardRuleActive", details, move |conn, viewer| {
            async move {
                rewards::set_rule_active(conn, viewer.brand_id, rule_id, active)
                    .await?
                    .ok_or(ApiError::NotFound("reward rule"))
            }
            .scope_boxed()
        })
        .await?;
        Ok(RewardRulePayload { rule: RewardRule(row) })
    }
}
