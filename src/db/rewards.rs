//! Rewards: bonuses granted by hand or by an offer's rules. A cash bonus is a
//! ledger entry (paid with the next payment) and counts as commission earned the
//! day it is granted; free products and discount codes are recorded.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Numeric};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rand::Rng;
use rust_decimal::Decimal;

use super::DbResult;
use super::ledger::{self, NewLedgerEntry};
use super::schema::{memberships, reward_rules, rewards};
use super::stats::{Delta, Deltas};
use crate::domain::enums::{RewardKind, RewardTrigger};

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = rewards, check_for_backend(diesel::pg::Pg))]
pub struct RewardRow {
    pub brand_id: i64,
    pub id: i64,
    pub membership_id: i64,
    pub kind: String,
    pub cash_amount: Option<Decimal>,
    pub description: String,
    pub discount_code: Option<String>,
    pub reward_rule_id: Option<i64>,
    pub rule_occurrence: Option<i32>,
    pub granted_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = reward_rules, check_for_backend(diesel::pg::Pg))]
pub struct RewardRuleRow {
    pub brand_id: i64,
    pub id: i64,
    pub offer_id: i64,
    pub trigger: String,
    pub every_n: Option<i32>,
    pub sales_threshold: Option<Decimal>,
    pub reward_kind: String,
    pub cash_amount: Option<Decimal>,
    pub description: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

/// What a reward gives; validated by the caller.
#[derive(Clone, Debug)]
pub struct RewardSpec {
    pub kind: RewardKind,
    pub cash_amount: Option<Decimal>,
    pub description: String,
    pub discount_code: Option<String>,
}

/// Why a reward is granted: by hand (with the request's key) or by a rule crossing.
#[derive(Clone, Copy, Debug)]
pub enum Grant<'a> {
    ByHand { idempotency_key: Option<&'a str> },
    ByRule { rule_id: i64, occurrence: i32 },
}

/// Grants a reward once and books a cash bonus. `None` when this grant was made
/// before (same idempotency key, or the same rule occurrence). Call inside a transaction.
pub async fn grant(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    membership_id: i64,
    spec: &RewardSpec,
    grant: Grant<'_>,
    time_zone: Tz,
    now: DateTime<Utc>,
) -> DbResult<Option<RewardRow>> {
    let (key, rule_id, occurrence) = match grant {
        Grant::ByHand { idempotency_key } => (idempotency_key, None, None),
        Grant::ByRule { rule_id, occurrence } => (None, Some(rule_id), Some(occurrence)),
    };
    let inserted: Option<RewardRow> = diesel::insert_into(rewards::table)
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
        .optional()?;
    let Some(reward) = inserted else {
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

pub async fn find_by_key(conn: &mut AsyncPgConnection, brand_id: i64, key: &str) -> DbResult<Option<RewardRow>> {
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
    pub offer_id: i64,
    pub trigger: RewardTrigger,
    pub every_n: Option<i32>,
    pub sales_threshold: Option<Decimal>,
    pub reward: RewardSpec,
}

pub async fn create_rule(conn: &mut AsyncPgConnection, brand_id: i64, rule: &NewRule) -> DbResult<RewardRuleRow> {
    Ok(diesel::insert_into(reward_rules::table)
        .values((
            reward_rules::brand_id.eq(brand_id),
            reward_rules::offer_id.eq(rule.offer_id),
            reward_rules::trigger.eq(rule.trigger.as_str()),
            reward_rules::every_n.eq(rule.every_n),
            reward_rules::sales_threshold.eq(rule.sales_threshold),
            reward_rules::reward_kind.eq(rule.reward.kind.as_str()),
            reward_rules::cash_amount.eq(rule.reward.cash_amount),
            reward_rules::description.eq(&rule.reward.description),
        ))
        .returning(RewardRuleRow::as_returning())
        .get_result(conn)
        .await?)
}

pub async fn set_rule_active(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    rule_id: i64,
    active: bool,
) -> DbResult<Option<RewardRuleRow>> {
    Ok(diesel::update(reward_rules::table.find((brand_id, rule_id)))
        .set(reward_rules::active.eq(active))
        .returning(RewardRuleRow::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}

pub async fn rules_for_offers(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    offer_ids: &[i64],
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
    brand_id: i64,
    membership_ids: &[i64],
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

/// A membership's accepted conversions and sales, counting the one just recorded.
#[derive(QueryableByName)]
struct Progress {
    #[diesel(sql_type = BigInt)]
    conversions: i64,
    #[diesel(sql_type = Numeric)]
    sales: Decimal,
}

/// Which occurrence of `rule`, if any, the conversion that brought the membership
/// to `conversions` accepted conversions and `sales` (of which `sale` is its own) crosses.
pub fn crossed_occurrence(rule: &RewardRuleRow, conversions: i64, sales: Decimal, sale: Decimal) -> Option<i32> {
    match RewardTrigger::parse(&rule.trigger)? {
        RewardTrigger::FirstConversion => (conversions == 1).then_some(1),
        RewardTrigger::EveryNConversions => {
            let n = i64::from(rule.every_n?);
            (conversions > 0 && conversions % n == 0).then(|| i32::try_from(conversions / n).unwrap_or(i32::MAX))
        }
        RewardTrigger::SalesOverAmount => {
            let threshold = rule.sales_threshold?;
            (sales - sale < threshold && sales >= threshold).then_some(1)
        }
    }
}

/// Grants the offer's active rules that this new conversion crosses, each once.
/// Call in the conversion's transaction, after inserting it.
pub async fn grant_crossed_rules(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    membership_id: i64,
    sale: Decimal,
    time_zone: Tz,
    now: DateTime<Utc>,
) -> DbResult<Vec<RewardRow>> {
    let rules: Vec<RewardRuleRow> = reward_rules::table
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
        .await?;
    if rules.is_empty() {
        return Ok(Vec::new());
    }
    // Conversions of one membership take turns here, so each sees the counts the
    // others left and no crossing is missed.
    memberships::table
        .find((brand_id, membership_id))
        .select(memberships::id)
        .for_update()
        .execute(conn)
        .await?;
    let progress: Progress = diesel::sql_query(
        "SELECT count(*) AS conversions, COALESCE(SUM(sale_amount), 0) AS sales
         FROM conversions WHERE brand_id = $1 AND membership_id = $2 AND status = 'ACCEPTED'",
    )
    .bind::<BigInt, _>(brand_id)
    .bind::<BigInt, _>(membership_id)
    .get_result(conn)
    .await?;
    let mut granted = Vec::new();
    for rule in &rules {
        let Some(occurrence) = crossed_occurrence(rule, progress.conversions, progress.sales, sale) else {
            continue;
        };
        let kind = RewardKind::parse(&rule.reward_kind).unwrap_or(RewardKind::FreeProduct);
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

/// A discount code for a rule's reward, e.g. `REWARD-7K3X9Q2M`.
fn reward_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    let suffix: String = (0..8)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("REWARD-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(trigger: RewardTrigger, every_n: Option<i32>, threshold: Option<&str>) -> RewardRuleRow {
        RewardRuleRow {
            brand_id: 1,
            id: 1,
            offer_id: 1,
            trigger: trigger.as_str().into(),
            every_n,
            sales_threshold: threshold.map(|t| t.parse().unwrap()),
            reward_kind: "CASH_BONUS".into(),
            cash_amount: Some(Decimal::TEN),
            description: String::new(),
            active: true,
            created_at: Utc::now(),
        }
    }

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn each_trigger_fires_on_its_crossing_only() {
        let first = rule(RewardTrigger::FirstConversion, None, None);
        assert_eq!(crossed_occurrence(&first, 1, d("10"), d("10")), Some(1));
        assert_eq!(crossed_occurrence(&first, 2, d("20"), d("10")), None);

        let every_three = rule(RewardTrigger::EveryNConversions, Some(3), None);
        let fired: Vec<_> = (1..=9)
            .filter_map(|n| crossed_occurrence(&every_three, n, d("1"), d("1")))
            .collect();
        assert_eq!(fired, [1, 2, 3]);

        let over_500 = rule(RewardTrigger::SalesOverAmount, None, Some("500.00"));
        assert_eq!(crossed_occurrence(&over_500, 3, d("499.99"), d("100")), None);
        assert_eq!(crossed_occurrence(&over_500, 4, d("500.00"), d("0.01")), Some(1));
        assert_eq!(
            crossed_occurrence(&over_500, 5, d("600.00"), d("100")),
            None,
            "already past"
        );
    }
}
