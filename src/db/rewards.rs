//! Rewards and reward rules (see `app::rewards` for granting).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Numeric};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use super::DbResult;
use super::schema::{memberships, reward_rules, rewards};
use crate::domain::enums::{RewardKind, RewardTrigger};
use crate::domain::ids::{BrandId, MembershipId, OfferId, RewardId, RewardRuleId};
use crate::domain::reward::{RewardSpec, Trigger};

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = rewards, check_for_backend(diesel::pg::Pg))]
pub struct RewardRow {
    pub brand_id: BrandId,
    pub id: RewardId,
    pub membership_id: MembershipId,
    pub kind: RewardKind,
    pub cash_amount: Option<Decimal>,
    pub description: String,
    pub discount_code: Option<String>,
    pub reward_rule_id: Option<RewardRuleId>,
    pub rule_occurrence: Option<i32>,
    pub granted_at: DateTime<Utc>,
    /// When a refund or rejection un-crossed its rule and it was taken back.
    pub reversed_at: Option<DateTime<Utc>>,
    /// Why it was revoked by hand; none when a refund took it back.
    pub reversal_reason: Option<String>,
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = reward_rules, check_for_backend(diesel::pg::Pg))]
pub struct RewardRuleRow {
    pub brand_id: BrandId,
    pub id: RewardRuleId,
    pub offer_id: OfferId,
    pub trigger: RewardTrigger,
    pub every_n: Option<i32>,
    pub sales_threshold: Option<Decimal>,
    pub reward_kind: RewardKind,
    pub cash_amount: Option<Decimal>,
    pub description: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    /// The rule's own message for non-cash rewards (both or neither).
    pub email_subject: Option<String>,
    pub email_body: Option<String>,
}

/// Why a reward is granted: by hand (with the request's key) or by a rule crossing.
#[derive(Clone, Copy, Debug)]
pub enum Grant<'a> {
    ByHand { idempotency_key: Option<&'a str> },
    ByRule { rule_id: RewardRuleId, occurrence: i32 },
}

/// Inserts a reward; `None` when this grant was made before (same idempotency
/// key, or the same rule occurrence).
pub async fn insert(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    membership_id: MembershipId,
    spec: &RewardSpec,
    grant: Grant<'_>,
    now: DateTime<Utc>,
) -> DbResult<Option<RewardRow>> {
    let (key, rule_id, occurrence) = match grant {
        Grant::ByHand { idempotency_key } => (idempotency_key, None, None),
        Grant::ByRule { rule_id, occurrence } => (None, Some(rule_id), Some(occurrence)),
    };
    Ok(diesel::insert_into(rewards::table)
        .values((
            rewards::brand_id.eq(brand_id),
            rewards::membership_id.eq(membership_id),
            rewards::kind.eq(spec.kind.as_str()),
            rewards::cash_amount.eq(spec.cash_amount),
            rewards::description.eq(&spec.description),
            rewards::discount_code.eq(&spec.discount_code),
            rewards::reward_rule_id.eq(rule_id),
            rewards::rule_occurrence.eq(occurrence),
            rewards::idempotency_key.eq(key),
            rewards::granted_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .returning(RewardRow::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}

pub async fn find_by_key(conn: &mut AsyncPgConnection, brand_id: BrandId, key: &str) -> DbResult<Option<RewardRow>> {
    Ok(rewards::table
        .filter(rewards::brand_id.eq(brand_id).and(rewards::idempotency_key.eq(key)))
        .select(RewardRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// When a rule grants: its trigger and the reward.
#[derive(Clone, Debug)]
pub struct NewRule {
    pub offer_id: OfferId,
    pub trigger: Trigger,
    pub reward: RewardSpec,
    /// Its own message for members (subject, body); none: the default.
    pub message: Option<(String, String)>,
}

/// What `updateRewardRule` changes; `None` leaves a part as it is. The trigger
/// never changes (rewards already granted were counted by it).
#[derive(Clone, Debug, Default)]
pub struct RuleChanges {
    pub reward: Option<RewardSpec>,
    /// `Some(None)` returns to the default message.
    pub message: Option<Option<(String, String)>>,
}

pub async fn create_rule(conn: &mut AsyncPgConnection, brand_id: BrandId, rule: &NewRule) -> DbResult<RewardRuleRow> {
    Ok(diesel::insert_into(reward_rules::table)
        .values((
            reward_rules::brand_id.eq(brand_id),
            reward_rules::offer_id.eq(rule.offer_id),
            reward_rules::trigger.eq(rule.trigger.kind.as_str()),
            reward_rules::every_n.eq(rule.trigger.every_n),
            reward_rules::sales_threshold.eq(rule.trigger.sales_threshold),
            reward_rules::reward_kind.eq(rule.reward.kind.as_str()),
            reward_rules::cash_amount.eq(rule.reward.cash_amount),
            reward_rules::description.eq(&rule.reward.description),
            reward_rules::email_subject.eq(rule.message.as_ref().map(|m| &m.0)),
            reward_rules::email_body.eq(rule.message.as_ref().map(|m| &m.1)),
        ))
        .returning(RewardRuleRow::as_returning())
        .get_result(conn)
        .await?)
}

pub async fn set_rule_active(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    rule_id: RewardRuleId,
    active: bool,
) -> DbResult<Option<RewardRuleRow>> {
    Ok(diesel::update(reward_rules::table.find((brand_id, rule_id)))
        .set(reward_rules::active.eq(active))
        .returning(RewardRuleRow::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}

/// Locks and reads one rule.
pub async fn lock_rule(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    rule_id: RewardRuleId,
) -> DbResult<Option<RewardRuleRow>> {
    Ok(reward_rules::table
        .find((brand_id, rule_id))
        .select(RewardRuleRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

/// Applies `changes` to a rule.
pub async fn update_rule(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    rule_id: RewardRuleId,
    changes: &RuleChanges,
) -> DbResult<RewardRuleRow> {
    let target = reward_rules::table.find((brand_id, rule_id));
    if let Some(reward) = &changes.reward {
        diesel::update(target)
            .set((
                reward_rules::reward_kind.eq(reward.kind.as_str()),
                reward_rules::cash_amount.eq(reward.cash_amount),
                reward_rules::description.eq(&reward.description),
            ))
            .execute(conn)
            .await?;
    }
    if let Some(message) = &changes.message {
        diesel::update(target)
            .set((
                reward_rules::email_subject.eq(message.as_ref().map(|m| &m.0)),
                reward_rules::email_body.eq(message.as_ref().map(|m| &m.1)),
            ))
            .execute(conn)
            .await?;
    }
    Ok(target.select(RewardRuleRow::as_select()).first(conn).await?)
}

/// One reward, locked.
pub async fn lock(conn: &mut AsyncPgConnection, brand_id: BrandId, id: RewardId) -> DbResult<Option<RewardRow>> {
    Ok(rewards::table
        .find((brand_id, id))
        .select(RewardRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

pub async fn rules_for_offers(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    offer_ids: &[OfferId],
) -> DbResult<Vec<RewardRuleRow>> {
    Ok(reward_rules::table
        .filter(
            reward_rules::brand_id
                .eq(brand_id)
                .and(reward_rules::offer_id.eq_any(offer_ids)),
        )
        .order(reward_rules::id)
        .select(RewardRuleRow::as_select())
        .load(conn)
        .await?)
}

pub async fn for_memberships(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    membership_ids: &[MembershipId],
) -> DbResult<Vec<RewardRow>> {
    Ok(rewards::table
        .filter(
            rewards::brand_id
                .eq(brand_id)
                .and(rewards::membership_id.eq_any(membership_ids)),
        )
        .order(rewards::id.desc())
        .select(RewardRow::as_select())
        .load(conn)
        .await?)
}

/// A membership's standing rule rewards (not taken back), each with its rule.
pub async fn standing_rule_rewards(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    membership_id: MembershipId,
) -> DbResult<Vec<(RewardRow, RewardRuleRow)>> {
    Ok(rewards::table
        .inner_join(
            reward_rules::table.on(reward_rules::brand_id
                .eq(rewards::brand_id)
                .and(reward_rules::id.nullable().eq(rewards::reward_rule_id))),
        )
        .filter(rewards::brand_id.eq(brand_id))
        .filter(rewards::membership_id.eq(membership_id))
        .filter(rewards::reversed_at.is_null())
        .order(rewards::id)
        .select((RewardRow::as_select(), RewardRuleRow::as_select()))
        .load(conn)
        .await?)
}

/// Marks a reward taken back, if it still stands: `None` when it was taken back
/// already (by a concurrent request too, whose commit this waits for).
pub async fn mark_reversed(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    id: RewardId,
    at: DateTime<Utc>,
    reason: Option<&str>,
) -> DbResult<Option<RewardRow>> {
    Ok(diesel::update(rewards::table.find((brand_id, id)))
        .filter(rewards::reversed_at.is_null())
        .set((rewards::reversed_at.eq(at), rewards::reversal_reason.eq(reason)))
        .returning(RewardRow::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}

/// The active rules of the offer a membership belongs to.
pub async fn active_rules_of_membership(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    membership_id: MembershipId,
) -> DbResult<Vec<RewardRuleRow>> {
    Ok(reward_rules::table
        .inner_join(
            memberships::table.on(memberships::brand_id
                .eq(reward_rules::brand_id)
                .and(memberships::offer_id.eq(reward_rules::offer_id))),
        )
        .filter(reward_rules::brand_id.eq(brand_id))
        .filter(memberships::id.eq(membership_id))
        .filter(reward_rules::active)
        .select(RewardRuleRow::as_select())
        .load(conn)
        .await?)
}

/// A membership's accepted conversions and their sales.
#[derive(QueryableByName)]
pub struct Progress {
    #[diesel(sql_type = BigInt)]
    pub conversions: i64,
    #[diesel(sql_type = Numeric)]
    pub sales: Decimal,
}

/// Locks the membership (so its conversions take turns) and reads its progress.
/// `FOR NO KEY UPDATE`, not `FOR UPDATE`: it still makes crossings take turns, and
/// does not wait on the key-share locks that a group of orders' inserts hold on the
/// membership while that group waits on this transaction's balance rows (a deadlock).
pub async fn lock_progress(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    membership_id: MembershipId,
) -> DbResult<Progress> {
    memberships::table
        .find((brand_id, membership_id))
        .select(memberships::id)
        .for_no_key_update()
        .execute(conn)
        .await?;
    Ok(diesel::sql_query(
        "SELECT count(*) AS conversions, COALESCE(SUM(sale_amount), 0) AS sales
         FROM conversions WHERE brand_id = $1 AND membership_id = $2 AND status = 'ACCEPTED'",
    )
    .bind::<BigInt, _>(brand_id)
    .bind::<BigInt, _>(membership_id)
    .get_result(conn)
    .await?)
}
