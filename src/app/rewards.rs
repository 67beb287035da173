//! Rewards: bonuses granted by hand or by an offer's rules. A cash bonus is a
//! ledger entry (paid with the next payment) and counts as commission earned the
//! day it is granted; free products and discount codes are recorded.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use rand::Rng;
use rust_decimal::Decimal;

use super::audit::audited;
use super::members::memberships_of;
use super::{AppError, AppResult, Caller};
use crate::db::ledger::{self, NewLedgerEntry};
use crate::db::rewards::{self, Grant, NewRule, RewardRow, RewardRuleRow};
use crate::db::stats::{Delta, Deltas};
use crate::db::{DbResult, audit, offers};
use crate::domain::enums::RewardKind;
use crate::domain::ids::{BrandId, MembershipId, RewardRuleId};
use crate::domain::reward::{RewardSpec, Trigger};

/// Grants a reward once and books a cash bonus. `None` when this grant was made
/// before (same idempotency key, or the same rule occurrence). Call inside a transaction.
pub async fn grant(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    membership_id: MembershipId,
    spec: &RewardSpec,
    grant: Grant<'_>,
    time_zone: Tz,
    now: DateTime<Utc>,
) -> DbResult<Option<RewardRow>> {
    let Some(reward) = rewards::insert(conn, brand_id, membership_id, spec, grant, now).await? else {
        return Ok(None);
    };
    if let Some(amount) = reward.cash_amount {
        ledger::insert(
            conn,
            &[NewLedgerEntry {
                brand_id,
                membership_id,
                kind: "REWARD",
                amount,
                conversion_id: None,
                reward_id: Some(reward.id),
                earned_at: now,
                payable_at: now,
            }],
        )
        .await?;
        let mut deltas = Deltas::default();
        let delta = Delta {
            commission: amount,
            ..Delta::default()
        };
        deltas.add(
            brand_id,
            membership_id,
            now.with_timezone(&time_zone).date_naive(),
            delta,
        );
        deltas.apply(conn).await?;
    }
    Ok(Some(reward))
}

/// A rule's trigger.
fn trigger_of(rule: &RewardRuleRow) -> Trigger {
    Trigger {
        kind: rule.trigger,
        every_n: rule.every_n,
        sales_threshold: rule.sales_threshold,
    }
}

/// Grants the offer's active rules that this new conversion crosses, each once.
/// Call in the conversion's transaction, after inserting it.
pub async fn grant_crossed_rules(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    membership_id: MembershipId,
    sale: Decimal,
    time_zone: Tz,
    now: DateTime<Utc>,
) -> DbResult<Vec<RewardRow>> {
    let rules = rewards::active_rules_of_membership(conn, brand_id, membership_id).await?;
    if rules.is_empty() {
        return Ok(Vec::new());
    }
    // Conversions of one membership take turns here, so each sees the counts the
    // others left and no crossing is missed.
    let progress = rewards::lock_progress(conn, brand_id, membership_id).await?;
    let mut granted = Vec::new();
    for rule in &rules {
        let Some(occurrence) = trigger_of(rule).crossed_occurrence(progress.conversions, progress.sales, sale) else {
            continue;
        };
        let kind = rule.reward_kind;
        let spec = RewardSpec {
            kind,
            cash_amount: rule.cash_amount,
            description: rule.description.clone(),
            discount_code: (kind == RewardKind::DiscountCode).then(reward_code),
        };
        let by_rule = Grant::ByRule {
            rule_id: rule.id,
            occurrence,
        };
        if let Some(reward) = grant(conn, brand_id, membership_id, &spec, by_rule, time_zone, now).await? {
            granted.push(reward);
        }
    }
    Ok(granted)
}

/// Takes back the membership's rule rewards whose crossing no longer stands
/// after a refund or rejection: a cash reward's unpaid entry drops to zero, a paid
/// one is clawed back from the next payment; either way its commission leaves the
/// day it was granted. Call in the change's transaction.
pub async fn take_back_uncrossed(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    membership_id: MembershipId,
    time_zone: Tz,
    now: DateTime<Utc>,
) -> DbResult<()> {
    let standing = rewards::standing_rule_rewards(conn, brand_id, membership_id).await?;
    // Most memberships have no rule rewards: their progress is not summed.
    if standing.is_empty() {
        return Ok(());
    }
    let progress = rewards::lock_progress(conn, brand_id, membership_id).await?;
    let mut deltas = Deltas::default();
    for (reward, rule) in standing {
        let occurrence = reward.rule_occurrence.unwrap_or(1);
        if trigger_of(&rule).still_crossed(occurrence, progress.conversions, progress.sales) {
            continue;
        }
        rewards::mark_reversed(conn, brand_id, reward.id, now).await?;
        if let Some(amount) = reward.cash_amount {
            let earning = ledger::Earning::Reward(reward.id);
            let amounts = (Decimal::ZERO, amount);
            ledger::take_back(conn, brand_id, membership_id, earning, amounts, reward.granted_at, now).await?;
            deltas.add(
                brand_id,
                membership_id,
                reward.granted_at.with_timezone(&time_zone).date_naive(),
                Delta {
                    commission: -amount,
                    ..Delta::default()
                },
            );
        }
    }
    deltas.apply(conn).await
}

/// A discount code for a rule's reward, e.g. `REWARD-7K3X9Q2M`.
fn reward_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    let suffix: String = (0..8)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("REWARD-{suffix}")
}

/// Grants a reward by hand, once per `idempotency_key`: the same key again returns
/// the first reward (and `true`); for another membership it is a conflict.
pub async fn grant_by_hand(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    membership_id: MembershipId,
    spec: RewardSpec,
    idempotency_key: &str,
    details: serde_json::Value,
) -> AppResult<(RewardRow, bool)> {
    let key = idempotency_key.trim().to_string();
    if key.is_empty() || key.len() > 200 {
        return Err(AppError::bad_input("idempotencyKey must be 1 to 200 characters"));
    }
    let brand_id = caller.brand_id;
    conn.transaction::<_, AppError, _>(|conn| {
        async move {
            let membership = memberships_of(conn, brand_id, &[membership_id]).await?.remove(0);
            let replay = |existing: RewardRow| {
                if existing.membership_id == membership_id {
                    Ok((existing, true))
                } else {
                    Err(AppError::Conflict(
                        "idempotencyKey was already used for another membership".into(),
                    ))
                }
            };
            if let Some(existing) = rewards::find_by_key(conn, brand_id, &key).await? {
                return replay(existing);
            }
            if membership.removed_at.is_some() {
                return Err(AppError::bad_input("a removed membership cannot get rewards"));
            }
            let by_hand = Grant::ByHand {
                idempotency_key: Some(&key),
            };
            match grant(
                conn,
                brand_id,
                membership_id,
                &spec,
                by_hand,
                caller.time_zone,
                Utc::now(),
            )
            .await?
            {
                Some(row) => {
                    audit::record(conn, brand_id, caller.api_key_id, "grantReward", details).await?;
                    Ok((row, false))
                }
                // A concurrent request with the same key won.
                None => replay(
                    rewards::find_by_key(conn, brand_id, &key)
                        .await?
                        .ok_or(AppError::NotFound("reward"))?,
                ),
            }
        }
        .scope_boxed()
    })
    .await
}

/// Adds a rule to an offer.
pub async fn create_rule(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    rule: NewRule,
    details: serde_json::Value,
) -> AppResult<RewardRuleRow> {
    audited(conn, caller, "createRewardRule", details, move |conn, caller| {
        async move {
            offers::find(conn, caller.brand_id, rule.offer_id)
                .await?
                .ok_or(AppError::NotFound("offer"))?;
            Ok(rewards::create_rule(conn, caller.brand_id, &rule).await?)
        }
        .scope_boxed()
    })
    .await
}

/// Turns a rule on or off; rewards it granted stay.
pub async fn set_rule_active(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    rule_id: RewardRuleId,
    active: bool,
    details: serde_json::Value,
) -> AppResult<RewardRuleRow> {
    audited(conn, caller, "setRewardRuleActive", details, move |conn, caller| {
        async move {
            rewards::set_rule_active(conn, caller.brand_id, rule_id, active)
                .await?
                .ok_or(AppError::NotFound("reward rule"))
        }
        .scope_boxed()
    })
    .await
}
