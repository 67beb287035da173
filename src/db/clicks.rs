//! Clicks are written in batches: one transaction stores every click of the
//! batch, updates the daily rollups once per membership-day and books per-click
//! commission, so a popular creator never serialises the redirect.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Numeric, Text};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::ledger::{self, NewLedgerEntry};
use super::models::ClickRow;
use super::pagination::Page;
use super::schema::clicks;
use super::stats::{Delta, Deltas};
use super::{DbError, DbResult};
use crate::domain::enums::PayoutType;
use crate::domain::payout::PayoutRule;

/// A click as the redirect saw it. Its id is made by the server, so storing the
/// same click twice (a late batch and a spool replay) stores and counts it once.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct NewClick {
    pub brand_id: i64,
    pub membership_id: i64,
    pub id: Uuid,
    pub clicked_at: DateTime<Utc>,
    pub ip_hash: Option<Vec<u8>>,
    pub user_agent: String,
    pub is_bot: bool,
}

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

#[derive(QueryableByName)]
struct ClickTerms {
    #[diesel(sql_type = BigInt)]
    brand_id: i64,
    #[diesel(sql_type = BigInt)]
    membership_id: i64,
    #[diesel(sql_type = Bool)]
    countable: bool,
    #[diesel(sql_type = Text)]
    payout_type: String,
    #[diesel(sql_type = Nullable<Numeric>)]
    payout_flat: Option<Decimal>,
    #[diesel(sql_type = Integer)]
    hold_period_days: i32,
    #[diesel(sql_type = Text)]
    time_zone: String,
}

/// Whether each membership counts clicks right now, and what a click pays.
async fn terms(conn: &mut AsyncPgConnection, keys: &[(i64, i64)]) -> DbResult<HashMap<(i64, i64), ClickTerms>> {
    let (brand_ids, membership_ids): (Vec<i64>, Vec<i64>) = keys.iter().copied().unzip();
    let rows: Vec<ClickTerms> = diesel::sql_query(
        "SELECT m.brand_id, m.id AS membership_id,
                (m.active AND m.removed_at IS NULL AND o.status = 'ACTIVE'
                 AND o.starts_on <= (now() AT TIME ZONE b.time_zone)::date
                 AND (o.ends_on IS NULL OR o.ends_on >= (now() AT TIME ZONE b.time_zone)::date)) AS countable,
                COALESCE(m.payout_type, o.payout_type) AS payout_type,
                CASE WHEN m.payout_type IS NULL THEN o.payout_flat ELSE m.payout_flat END AS payout_flat,
                o.hold_period_days, b.time_zone
         FROM unnest($1::bigint[], $2::bigint[]) AS k(brand_id, membership_id)
         JOIN memberships m ON m.brand_id = k.brand_id AND m.id = k.membership_id
         JOIN offers o ON o.brand_id = m.brand_id AND o.id = m.offer_id
         JOIN brands b ON b.id = m.brand_id",
    )
    .bind::<Array<BigInt>, _>(&brand_ids)
    .bind::<Array<BigInt>, _>(&membership_ids)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|t| ((t.brand_id, t.membership_id), t)).collect())
}

/// A batch as one array per column: the insert is then 7 parameters whatever its
/// size, which is far cheaper to send, parse and plan than 7 per row.
#[derive(Default)]
struct ClickColumns {
    brand_ids: Vec<i64>,
    ids: Vec<Uuid>,
    membership_ids: Vec<i64>,
    clicked_at: Vec<DateTime<Utc>>,
    ip_hashes: Vec<Option<Vec<u8>>>,
    user_agents: Vec<String>,
    bots: Vec<bool>,
}

impl ClickColumns {
    fn push(&mut self, click: NewClick) {
        self.brand_ids.push(click.brand_id);
        self.ids.push(click.id);
        self.membership_ids.push(click.membership_id);
        self.clicked_at.push(click.clicked_at);
        self.ip_hashes.push(click.ip_hash);
        self.user_agents.push(click.user_agent);
        self.bots.push(click.is_bot);
    }

    /// Inserts the clicks not stored yet and returns their ids.
    async fn insert(self, conn: &mut AsyncPgConnection) -> DbResult<HashSet<Uuid>> {
        if self.ids.is_empty() {
            return Ok(HashSet::new());
        }
        #[derive(QueryableByName)]
        struct Inserted {
            #[diesel(sql_type = diesel::sql_types::Uuid)]
            id: Uuid,
        }
        let inserted: Vec<Inserted> = diesel::sql_query(
            "INSERT INTO clicks (brand_id, id, membership_id, clicked_at, ip_hash, user_agent, is_bot)
             SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::bigint[], $4::timestamptz[], $5::bytea[], $6::text[], $7::boolean[])
             ON CONFLICT (brand_id, id) DO NOTHING
             RETURNING id",
        )
        .bind::<Array<BigInt>, _>(self.brand_ids)
        .bind::<Array<diesel::sql_types::Uuid>, _>(self.ids)
        .bind::<Array<BigInt>, _>(self.membership_ids)
        .bind::<Array<diesel::sql_types::Timestamptz>, _>(self.clicked_at)
        .bind::<Array<Nullable<diesel::sql_types::Bytea>>, _>(self.ip_hashes)
        .bind::<Array<Text>, _>(self.user_agents)
        .bind::<Array<Bool>, _>(self.bots)
        .load(conn)
        .await?;
        Ok(inserted.into_iter().map(|row| row.id).collect())
    }
}

/// Stores a batch of clicks in one transaction, with rollups and per-click commission.
pub async fn store_batch(conn: &mut AsyncPgConnection, batch: Vec<NewClick>) -> DbResult<BatchOutcome> {
    conn.transaction::<_, DbError, _>(|conn| {
        async move {
            let mut keys: Vec<(i64, i64)> = batch.iter().map(|c| (c.brand_id, c.membership_id)).collect();
            keys.sort_unstable();
            keys.dedup();
            let terms = terms(conn, &keys).await?;
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
            let mut paid_clicks: BTreeMap<(i64, i64, chrono::NaiveDate), (i64, DateTime<Utc>)> = BTreeMap::new();
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
                let zone: Tz = t.time_zone.parse().unwrap_or(Tz::UTC);
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
                if t.payout_type == PayoutType::FlatPerClick.as_str() {
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

/// A membership's stored clicks, newest first (UUIDv7 ids sort by time).
pub async fn page_for_membership(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    membership_id: i64,
    before: Option<Uuid>,
    limit: i64,
) -> DbResult<Page<ClickRow>> {
    let mut query = clicks::table
        .filter(
            clicks::brand_id
                .eq(brand_id)
                .and(clicks::membership_id.eq(membership_id)),
        )
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(clicks::id.lt(before));
    }
    let rows = query
        .order(clicks::id.desc())
        .limit(limit + 1)
        .select(ClickRow::as_select())
        .load(conn)
        .await?;
    Ok(Page::from_overfetched(rows, limit))
}
