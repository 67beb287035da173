//! Storing a batch of clicks: one transaction stores every click of the batch,
//! updates the daily rollups once per membership-day and books per-click
//! commission, so a popular creator never serialises the redirect.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use rust_decimal::Decimal;

use crate::db::clicks::{self, ClickColumns, NewClick};
use crate::db::ledger::{self, NewLedgerEntry};
use crate::db::stats::{Delta, Deltas};
use crate::db::{DbError, DbResult, brands};
use crate::domain::enums::PayoutType;
use crate::domain::ids::{BrandId, MembershipId};
use crate::domain::payout::PayoutRule;

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

/// Stores a batch of clicks in one transaction, with rollups and per-click commission.
pub async fn store_batch(conn: &mut AsyncPgConnection, batch: Vec<NewClick>) -> DbResult<BatchOutcome> {
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
                if terms
                    .get(&(click.brand_id, click.membership_id))
                    .is_some_and(|t| t.countable)
                {
                    countable.push((
                        click.brand_id,
                        click.membership_id,
                        click.id,
                        click.clicked_at,
                        click.is_bot,
                    ));
                    rows.push(click);
                } else {
                    outcome.ignored += 1;
                }
            }
            let inserted = rows.insert(conn).await?;
            let mut deltas = Deltas::default();
            // Per membership-day: how many paid clicks, and when the last one was.
            let mut paid_clicks: BTreeMap<(BrandId, MembershipId, chrono::NaiveDate), (i64, DateTime<Utc>)> =
                BTreeMap::new();
            for (brand_id, membership_id, id, clicked_at, is_bot) in countable {
                if !inserted.contains(&id) {
                    outcome.duplicates += 1;
                    continue;
                }
                let t = &terms[&(brand_id, membership_id)];
                if is_bot {
                    outcome.bots += 1;
                    continue;
                }
                outcome.counted += 1;
                let zone = brands::time_zone(brand_id, &t.time_zone)?;
                let day = clicked_at.with_timezone(&zone).date_naive();
                deltas.add(
                    brand_id,
                    membership_id,
                    day,
                    Delta {
                        clicks: 1,
                        ..Delta::default()
                    },
                );
                if t.payout_type == PayoutType::FlatPerClick {
                    let entry = paid_clicks
                        .entry((brand_id, membership_id, day))
                        .or_insert((0, clicked_at));
                    entry.0 += 1;
                    entry.1 = entry.1.max(clicked_at);
                }
            }
            let mut entries = Vec::new();
            for ((brand_id, membership_id, day), (count, last_at)) in paid_clicks {
                let t = &terms[&(brand_id, membership_id)];
                let amount = PayoutRule::commission_for_clicks(t.payout_flat.unwrap_or_default(), count)
                    .map_err(|_| DbError::CheckViolation("commission_within_range".into()))?;
                if amount > Decimal::ZERO {
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
                        kind: "CLICKS",
                        amount,
                        conversion_id: None,
                        reward_id: None,
                        earned_at: last_at,
                        payable_at: last_at + Duration::days(i64::from(t.hold_period_days)),
                    });
                }
            }
            ledger::insert(conn, &entries).await?;
            deltas.apply(conn).await?;
            Ok(outcome)
        }
        .scope_boxed()
    })
    .await
}
