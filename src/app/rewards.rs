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
use super::email::{self, Template};
use super::members::memberships_of;
use super::{AppError, AppResult, Caller};
use crate::db::emails::{self, NewEmail};
use crate::db::ledger::{self, NewLedgerEntry};
use crate::db::models::{MembershipRow, OfferRow};
use crate::db::rewards::{self, Grant, NewRule, RewardRow, RewardRuleRow, RuleChanges};
use crate::db::stats::{Delta, Deltas};
use crate::db::{DbError, DbResult, audit, memberships, offers};
use crate::domain::email::{TemplateValues, render};
use crate::domain::enums::{LedgerKind, OfferType, RewardKind};
use crate::domain::ids::{BrandId, MembershipId, OfferId, RewardId, RewardRuleId};
use crate::domain::reward::{RewardSpec, Trigger};
use crate::domain::webhooks::EventType;

/// Grants a reward once, books a cash bonus and queues the member's `message`.
/// `None` when this grant was made before (same idempotency key, or the same rule
/// occurrence). Call inside a transaction.
#[allow(clippy::too_many_arguments)]
pub async fn grant(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    membership_id: MembershipId,
    spec: &RewardSpec,
    grant: Grant<'_>,
    message: Option<NewEmail>,
    time_zone: Tz,
    now: DateTime<Utc>,
) -> DbResult<Option<RewardRow>> {
    let Some(reward) = rewards::insert(conn, brand_id, membership_id, spec, grant, now).await? else {
        return Ok(None);
    };
    super::events::publish(conn, vec![super::events::reward(&reward, EventType::RewardGranted)]).await?;
    if let Some(message) = message {
        let message = NewEmail {
            reward_id: Some(reward.id),
            ..message
        };
        emails::enqueue(conn, &[message]).await?;
    }
    if let Some(amount) = reward.cash_amount {
        ledger::insert(
            conn,
            &[NewLedgerEntry {
                brand_id,
                membership_id,
                kind: LedgerKind::Reward,
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
    let mut membership = None;
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
        let message = if kind == RewardKind::CashBonus {
            None
        } else {
            if membership.is_none() {
                membership = memberships::find(conn, brand_id, membership_id).await?;
            }
            let membership = membership.as_ref().ok_or(DbError::NotFound)?;
            rule_message(conn, brand_id, membership, rule, &spec).await?
        };
        if let Some(reward) = grant(conn, brand_id, membership_id, &spec, by_rule, message, time_zone, now).await? {
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
    for (reward, rule) in standing {
        let occurrence = reward.rule_occurrence.unwrap_or(1);
        if !trigger_of(&rule).still_crossed(occurrence, progress.conversions, progress.sales) {
            take_back(conn, brand_id, &reward, None, time_zone, now).await?;
        }
    }
    Ok(())
}

/// Takes a reward back, once: it is marked, and a cash reward's unpaid entry drops
/// to zero or, once paid, is clawed back from the next payment; its commission
/// leaves the day it was granted. `None` when it had been taken back already.
async fn take_back(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    reward: &RewardRow,
    reason: Option<&str>,
    time_zone: Tz,
    now: DateTime<Utc>,
) -> DbResult<Option<RewardRow>> {
    let Some(taken_back) = rewards::mark_reversed(conn, brand_id, reward.id, now, reason).await? else {
        return Ok(None);
    };
    super::events::publish(conn, vec![super::events::reward(&taken_back, EventType::RewardRevoked)]).await?;
    if let Some(amount) = reward.cash_amount {
        let membership_id = reward.membership_id;
        let earning = ledger::Earning::Reward(reward.id);
        let amounts = (Decimal::ZERO, amount);
        ledger::take_back(conn, brand_id, membership_id, earning, amounts, reward.granted_at, now).await?;
        let mut deltas = Deltas::default();
        let day = reward.granted_at.with_timezone(&time_zone).date_naive();
        let delta = Delta {
            commission: -amount,
            ..Delta::default()
        };
        deltas.add(brand_id, membership_id, day, delta);
        deltas.apply(conn).await?;
    }
    Ok(Some(taken_back))
}

/// The message for a reward a rule grants: the rule's own, or the default when
/// the rule has none (or, should it no longer fill, for this member).
async fn rule_message(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    membership: &MembershipRow,
    rule: &RewardRuleRow,
    spec: &RewardSpec,
) -> DbResult<Option<NewEmail>> {
    let custom = rule_template(rule);
    match email::reward_email(conn, brand_id, membership, spec, custom.as_ref()).await? {
        Some(Ok(message)) => Ok(Some(message)),
        Some(Err(error)) => {
            tracing::warn!(rule = %rule.id, %error, "reward rule message does not fill; sending the default");
            Ok(email::reward_email(conn, brand_id, membership, spec, None)
                .await?
                .and_then(Result::ok))
        }
        None => Ok(None),
    }
}

fn rule_template(rule: &RewardRuleRow) -> Option<Template> {
    match (&rule.email_subject, &rule.email_body) {
        (Some(subject), Some(body)) => Some(Template {
            subject: subject.clone(),
            body: body.clone(),
        }),
        _ => None,
    }
}

/// Checks that a rule's message fills for any member of `offer`: only the
/// placeholders its rewards will have values for.
fn check_rule_message(offer: &OfferRow, reward: &RewardSpec, template: &Template) -> AppResult<()> {
    if reward.kind == RewardKind::CashBonus {
        return Err(AppError::bad_input(CASH_NOT_EMAILED));
    }
    let values = TemplateValues {
        member_name: "member",
        offer_name: &offer.name,
        brand_name: "brand",
        link: None,
        promo_code: (offer.offer_type == OfferType::PromoCode).then_some("CODE"),
        discount_code: (reward.kind == RewardKind::DiscountCode).then_some("REWARD-CODE"),
        reward_description: Some(reward.description.as_str()).filter(|d| !d.is_empty()),
    };
    for text in [&template.subject, &template.body] {
        render(text, &values).map_err(|e| AppError::bad_input(format!("email: {e}")))?;
    }
    Ok(())
}

const CASH_NOT_EMAILED: &str = "cash bonuses are paid with the next payment, not emailed: leave email out";

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
/// A non-cash reward is emailed to the member: `email` if given, else the default.
pub async fn grant_by_hand(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    membership_id: MembershipId,
    spec: RewardSpec,
    email: Option<Template>,
    idempotency_key: &str,
    details: serde_json::Value,
) -> AppResult<(RewardRow, bool)> {
    let key = idempotency_key.trim().to_string();
    if key.is_empty() || key.len() > 200 {
        return Err(AppError::bad_input("idempotencyKey must be 1 to 200 characters"));
    }
    let email = email.map(Template::checked).transpose()?;
    if email.is_some() && spec.kind == RewardKind::CashBonus {
        return Err(AppError::bad_input(CASH_NOT_EMAILED));
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
            let message = email::reward_email(conn, brand_id, &membership, &spec, email.as_ref())
                .await?
                .transpose()
                .map_err(|e| AppError::bad_input(format!("email: {e}")))?;
            let by_hand = Grant::ByHand {
                idempotency_key: Some(&key),
            };
            match grant(
                conn,
                brand_id,
                membership_id,
                &spec,
                by_hand,
                message,
                caller.time_zone,
                Utc::now(),
            )
            .await?
            {
                Some(row) => {
                    audit::record(conn, brand_id, Some(caller.api_key_id), "grantReward", details).await?;
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

/// Adds a rule to an offer, with its own message for members if `email` is given.
pub async fn create_rule(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    offer_id: OfferId,
    trigger: Trigger,
    reward: RewardSpec,
    email: Option<Template>,
    details: serde_json::Value,
) -> AppResult<RewardRuleRow> {
    let email = email.map(Template::checked).transpose()?;
    audited(conn, caller, "createRewardRule", details, move |conn, caller| {
        async move {
            let offer = offers::find(conn, caller.brand_id, offer_id)
                .await?
                .ok_or(AppError::NotFound("offer"))?;
            if let Some(template) = &email {
                check_rule_message(&offer, &reward, template)?;
            }
            let rule = NewRule {
                offer_id,
                trigger,
                reward,
                message: email.map(|t| (t.subject, t.body)),
            };
            Ok(rewards::create_rule(conn, caller.brand_id, &rule).await?)
        }
        .scope_boxed()
    })
    .await
}

/// Changes what a rule gives from now on, or its message (`Some(None)`: the
/// default). Rewards it granted stay as they were.
pub async fn update_rule(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    rule_id: RewardRuleId,
    reward: Option<RewardSpec>,
    email: Option<Option<Template>>,
    details: serde_json::Value,
) -> AppResult<RewardRuleRow> {
    let email = match email {
        Some(Some(template)) => Some(Some(template.checked()?)),
        other => other,
    };
    audited(conn, caller, "updateRewardRule", details, move |conn, caller| {
        async move {
            let rule = rewards::lock_rule(conn, caller.brand_id, rule_id)
                .await?
                .ok_or(AppError::NotFound("reward rule"))?;
            let offer = offers::find(conn, caller.brand_id, rule.offer_id)
                .await?
                .ok_or(AppError::NotFound("offer"))?;
            let current = RewardSpec {
                kind: rule.reward_kind,
                cash_amount: rule.cash_amount,
                description: rule.description.clone(),
                discount_code: None,
            };
            let given = reward.as_ref().unwrap_or(&current);
            let message = match &email {
                Some(message) => message.clone(),
                None => rule_template(&rule),
            };
            if let Some(template) = &message {
                check_rule_message(&offer, given, template)?;
            }
            let changes = RuleChanges {
                reward,
                message: email.map(|m| m.map(|t| (t.subject, t.body))),
            };
            Ok(rewards::update_rule(conn, caller.brand_id, rule_id, &changes).await?)
        }
        .scope_boxed()
    })
    .await
}

/// Revokes a reward by hand (`reason` is kept): a cash reward's unpaid entry drops
/// to zero, a paid one is clawed back from the next payment. A rule's reward stays
/// counted for its crossing, so the rule does not grant it again.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    reward_id: RewardId,
    reason: String,
    details: serde_json::Value,
) -> AppResult<RewardRow> {
    let reason = reason.trim().to_string();
    if reason.is_empty() || reason.len() > 500 {
        return Err(AppError::bad_input("reason must be 1 to 500 characters"));
    }
    audited(conn, caller, "revokeReward", details, move |conn, caller| {
        async move {
            let reward = rewards::lock(conn, caller.brand_id, reward_id)
                .await?
                .ok_or(AppError::NotFound("reward"))?;
            take_back(
                conn,
                caller.brand_id,
                &reward,
                Some(&reason),
                caller.time_zone,
                Utc::now(),
            )
            .await?
            .ok_or_else(|| AppError::Conflict("the reward was already taken back".into()))
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
