//! Storing a batch of clicks: one transaction stores every click of the batch,
//! updates the daily rollups once per membership-day and books per-click
//! commission, so a popular creator never serialises the redirect.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use rust_decimal::Decimal;

use crate::app::events;
use crate::db::clicks::{self, ClickColumns, NewClick, Rollups, VisitorClaim};
use crate::db::ledger::{self, NewLedgerEntry};
use crate::db::stats::{Delta, Deltas};
use crate::db::{DbError, DbResult, brands};
use crate::domain::enums::{ClickUnpaidReason, LedgerKind, PayoutType};
use crate::domain::ids::{BrandId, MembershipId};
use crate::domain::tracking::visitor_key;

/// What happened to a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Stored and counted.
    pub counted: usize,
    /// Stored, flagged as bots, never counted.
    pub bots: usize,
    /// Not stored: the membership is inactive or its offer is not running.
    pub ignored: usize,
    /// Already stored before (a replay): nothing changed.
    pub duplicates: usize,
}

/// What a click must pass to earn a per-click commission (every click is stored,
/// and every non-bot click counts as a click).
#[derive(Clone, Copy, Debug)]
pub struct ClickRules {
    /// A visitor (IP address and user agent) earns on a link at most once per this
    /// long (at least `MIN_REPEAT_WINDOW`).
    pub repeat_window: Duration,
}

impl Default for ClickRules {
    fn default() -> Self {
        ClickRules {
            repeat_window: Duration::hours(1),
        }
    }
}

/// The shortest repeat window: a batch spans seconds, and all of a visitor's
/// clicks in one batch count as repeats of the first.
const MIN_REPEAT_WINDOW: Duration = Duration::minutes(1);

/// A stored, counted click that may earn its membership's per-click payout.
struct PaidClickCandidate {
    brand_id: BrandId,
    membership_id: MembershipId,
    id: uuid::Uuid,
    clicked_at: DateTime<Utc>,
    flat: Decimal,
    visitor: Option<Vec<u8>>,
}

impl std::ops::AddAssign for BatchOutcome {
    fn add_assign(&mut self, other: BatchOutcome) {
        self.counted += other.counted;
        self.bots += other.bots;
        self.ignored += other.ignored;
        self.duplicates += other.duplicates;
    }
}

/// Stores a batch of clicks with their rollups; each click keeps what it earned
/// or why it earned nothing. Clicks that cannot earn per click (most) are stored
/// by one statement; those on memberships paying per click then go through
/// [`store_paying_batch`], in a transaction of their own.
pub async fn store_batch(
    conn: &mut AsyncPgConnection,
    batch: Vec<NewClick>,
    rules: ClickRules,
) -> DbResult<BatchOutcome> {
    store_batch_counted(conn, &batch, rules, Rollups::Now).await
}

/// [`store_batch`], with the counts of the clicks that earn nothing per click
/// upserted or tallied (`rollups`); per-click earnings always reach the rollups at once.
pub(super) async fn store_batch_counted(
    conn: &mut AsyncPgConnection,
    batch: &[NewClick],
    rules: ClickRules,
    rollups: Rollups,
) -> DbResult<BatchOutcome> {
    let unpaid = clicks::store_unpaid(conn, batch, rollups).await?;
    let mut outcome = BatchOutcome {
        counted: unpaid.counted,
        bots: unpaid.bots,
        ignored: unpaid.ignored,
        duplicates: unpaid.duplicates,
    };
    if unpaid.paying_per_click.is_empty() {
        return Ok(outcome);
    }
    let paying: std::collections::HashSet<(BrandId, MembershipId)> = unpaid.paying_per_click.into_iter().collect();
    let batch = batch
        .iter()
        .filter(|click| paying.contains(&(click.brand_id, click.membership_id)))
        .cloned()
        .collect();
    outcome += store_paying_batch(conn, batch, rules).await?;
    Ok(outcome)
}

/// Stores a batch of clicks in one transaction, with rollups and per-click
/// commission for the clicks that pass `rules`.
async fn store_paying_batch(
    conn: &mut AsyncPgConnection,
    batch: Vec<NewClick>,
    rules: ClickRules,
) -> DbResult<BatchOutcome> {
    conn.transaction::<_, DbError, _>(|conn| {
        async move {
            let mut keys: Vec<(BrandId, MembershipId)> = batch.iter().map(|c| (c.brand_id, c.membership_id)).collect();
            keys.sort_unstable();
            keys.dedup();
            let terms = clicks::terms(conn, &keys).await?;
            let mut outcome = BatchOutcome::default();
            let mut rows = ClickColumns::default();
            let mut countable = Vec::with_capacity(batch.len());
            for click in batch {
                let Some(t) = terms
                    .get(&(click.brand_id, click.membership_id))
                    .filter(|t| t.countable)
                else {
                    outcome.ignored += 1;
                    continue;
                };
                let flat = t.payout_flat.unwrap_or_default();
                let per_click = t.payout_type == PayoutType::FlatPerClick && flat > Decimal::ZERO;
                // Only a click that could earn needs its visitor (a hash per click).
                let visitor = (per_click && !click.is_bot)
                    .then(|| visitor_key(click.ip_hash.as_deref(), &click.user_agent))
                    .flatten();
                // A click with a known visitor is paid only once its visitor is claimed below.
                let earned = if click.is_bot {
                    Err(ClickUnpaidReason::Bot)
                } else if !per_click {
                    Err(ClickUnpaidReason::NoPerClickPayout)
                } else if visitor.is_some() {
                    Err(ClickUnpaidReason::RepeatVisitor)
                } else {
                    Ok(flat)
                };
                countable.push((
                    PaidClickCandidate {
                        brand_id: click.brand_id,
                        membership_id: click.membership_id,
                        id: click.id,
                        clicked_at: click.clicked_at,
                        flat,
                        visitor,
                    },
                    click.is_bot,
                    per_click,
                ));
                rows.push(click, earned);
            }
            let inserted = rows.insert(conn).await?;
            let mut deltas = Deltas::default();
            let mut candidates = Vec::new();
            for (click, is_bot, per_click) in countable {
                if !inserted.contains(&click.id) {
                    outcome.duplicates += 1;
                    continue;
                }
                if is_bot {
                    outcome.bots += 1;
                    continue;
                }
                outcome.counted += 1;
                let t = &terms[&(click.brand_id, click.membership_id)];
                let zone = brands::time_zone(click.brand_id, &t.time_zone)?;
                let day = click.clicked_at.with_timezone(&zone).date_naive();
                deltas.add(
                    click.brand_id,
                    click.membership_id,
                    day,
                    Delta {
                        clicks: 1,
                        ..Delta::default()
                    },
                );
                if per_click {
                    candidates.push((click, day));
                }
            }
            let paid = paid_clicks(conn, candidates, rules).await?;
            // Per membership-day: what its paid clicks earned, and when the last one was.
            let mut earned: BTreeMap<(BrandId, MembershipId, chrono::NaiveDate), (Decimal, DateTime<Utc>)> =
                BTreeMap::new();
            for (click, day) in &paid {
                let entry = earned
                    .entry((click.brand_id, click.membership_id, *day))
                    .or_insert((Decimal::ZERO, click.clicked_at));
                entry.0 = entry
                    .0
                    .checked_add(click.flat)
                    .ok_or_else(|| DbError::CheckViolation("commission_within_range".into()))?;
                entry.1 = entry.1.max(click.clicked_at);
            }
            let mut entries = Vec::new();
            for ((brand_id, membership_id, day), (amount, last_at)) in earned {
                let t = &terms[&(brand_id, membership_id)];
                deltas.add(
                    brand_id,
                    membership_id,
                    day,
                    Delta {
                        commission: amount,
                        ..Delta::default()
                    },
                );
                entries.push(NewLedgerEntry {
                    brand_id,
                    membership_id,
                    kind: LedgerKind::Clicks,
                    amount,
                    conversion_id: None,
                    reward_id: None,
                    earned_at: last_at,
                    payable_at: last_at + Duration::days(i64::from(t.hold_period_days)),
                });
            }
            let commissions = entries
                .iter()
                .map(|entry| {
                    let currency = &terms[&(entry.brand_id, entry.membership_id)].currency;
                    events::click_commission_created(entry, currency)
                })
                .collect();
            let published = events::publish(conn, commissions);
            ledger::insert(conn, &entries).await?;
            deltas.apply(conn).await?;
            published.await?;
            Ok(outcome)
        }
        .scope_boxed()
    })
    .await
}

/// The candidates that earn their payout: those without a known visitor, and per
/// visitor and link the first click of the batch, if the visitor was not paid
/// within the repeat window. Marks the stored clicks paid.
async fn paid_clicks(
    conn: &mut AsyncPgConnection,
    mut candidates: Vec<(PaidClickCandidate, chrono::NaiveDate)>,
    rules: ClickRules,
) -> DbResult<Vec<(PaidClickCandidate, chrono::NaiveDate)>> {
    candidates.sort_by_key(|(click, _)| (click.clicked_at, click.id));
    let mut paid = Vec::new();
    let mut claimed = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (click, day) in candidates {
        match &click.visitor {
            None => paid.push((click, day)),
            Some(visitor) => {
                if seen.insert((click.brand_id, click.membership_id, visitor.clone())) {
                    claimed.push((click, day));
                }
            }
        }
    }
    let claims: Vec<VisitorClaim> = claimed
        .iter()
        .map(|(click, _)| VisitorClaim {
            brand_id: click.brand_id,
            membership_id: click.membership_id,
            visitor: click.visitor.clone().unwrap_or_default(),
            clicked_at: click.clicked_at,
        })
        .collect();
    let granted: std::collections::HashSet<usize> =
        clicks::claim_visitors(conn, &claims, rules.repeat_window.max(MIN_REPEAT_WINDOW))
            .await?
            .into_iter()
            .collect();
    let newly_paid: Vec<(PaidClickCandidate, chrono::NaiveDate)> = claimed
        .into_iter()
        .enumerate()
        .filter(|(position, _)| granted.contains(position))
        .map(|(_, claim)| claim)
        .collect();
    let marks: Vec<(BrandId, uuid::Uuid, Decimal)> = newly_paid
        .iter()
        .map(|(click, _)| (click.brand_id, click.id, click.flat))
        .collect();
    clicks::mark_paid(conn, &marks).await?;
    paid.extend(newly_paid);
    Ok(paid)
}
