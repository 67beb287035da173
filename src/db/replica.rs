//! Report reads from a streaming replica: how fresh its figures are, and when the
//! primary answers instead (a mutation, the brand's own write not yet replayed, a
//! replica down or too far behind).
//!
//! Freshness is measured without trusting the replica's clock: every check notes
//! the primary's WAL position and the replica's replayed position. The replica
//! holds every write the primary had committed at the newest noted instant whose
//! position it has replayed, so a replica cut off from the primary falls behind
//! here too, where `pg_last_xact_replay_timestamp` would look idle and fresh.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use diesel::dsl::sql;
use diesel::sql_types::{Nullable, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection};

use super::{DbConn, DbError, DbPool, DbResult};
use crate::domain::ids::BrandId;

/// How often the replica's replayed position is compared with the primary's.
const CHECK_EVERY: Duration = Duration::from_millis(250);
/// A check that takes longer counts the replica as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a report waits for a replica connection before it reads the primary.
const REPLICA_CHECKOUT_TIMEOUT: Duration = Duration::from_secs(1);
/// Brands' recent writes remembered before the stale ones are swept out.
const WRITES_BEFORE_SWEEP: usize = 4_096;

/// Why a report read the primary although a replica is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrimaryReason {
    /// Mutations and their payloads read what they wrote.
    Mutation,
    /// The brand wrote something this server has not seen replayed yet.
    RecentWrite,
    /// The replica is further behind than the configured bound.
    ReplicaBehind,
    /// The replica does not answer, or is no longer a replica.
    ReplicaDown,
}

impl PrimaryReason {
    pub fn code(self) -> &'static str {
        match self {
            PrimaryReason::Mutation => "MUTATION",
            PrimaryReason::RecentWrite => "RECENT_WRITE",
            PrimaryReason::ReplicaBehind => "REPLICA_BEHIND",
            PrimaryReason::ReplicaDown => "REPLICA_DOWN",
        }
    }
}

/// Where a report read its figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ReadSource {
    /// The primary; the reason is there when a replica is configured.
    Primary(Option<PrimaryReason>),
    /// The replica, holding every write the primary had committed `lag` ago.
    Replica { lag: Duration },
}

impl ReadSource {
    /// The staler of two sources: figures from several reads are as fresh as the oldest.
    fn stalest(self, other: ReadSource) -> ReadSource {
        match (self, other) {
            (ReadSource::Replica { lag: a }, ReadSource::Replica { lag: b }) => ReadSource::Replica { lag: a.max(b) },
            (replica @ ReadSource::Replica { .. }, _) | (_, replica @ ReadSource::Replica { .. }) => replica,
            (first, _) => first,
        }
    }
}

/// Connections for KPI reads, apart from the API's: their number is how many
/// reports run at once, so a storm of them waits for these few while every other
/// request finds the API pool free. With a replica, reports read it when fresh enough.
#[derive(Clone)]
pub struct ReportPool {
    primary: DbPool,
    replica: Option<Arc<Replica>>,
}

impl ReportPool {
    pub fn new(primary: DbPool, replica: Option<Arc<Replica>>) -> Self {
        ReportPool { primary, replica }
    }

    /// The report connections to the primary.
    pub fn primary(&self) -> &DbPool {
        &self.primary
    }

    pub fn replica(&self) -> Option<&Arc<Replica>> {
        self.replica.as_ref()
    }

    /// A connection for one of `brand`'s reports, and where it reads.
    async fn get(&self, brand: BrandId, writing: bool) -> DbResult<(DbConn, ReadSource)> {
        let Some(replica) = &self.replica else {
            return Ok((self.primary.get().await?, ReadSource::Primary(None)));
        };
        let decision = if writing {
            Err(PrimaryReason::Mutation)
        } else {
            replica.lag_for(brand)
        };
        let reason = match decision {
            Ok(lag) => match replica.pool.get().await {
                Ok(conn) => return Ok((conn, ReadSource::Replica { lag })),
                Err(error) => {
                    tracing::warn!(%error, "the replica does not answer: reports read the primary");
                    replica.mark_down();
                    PrimaryReason::ReplicaDown
                }
            },
            Err(reason) => reason,
        };
        Ok((self.primary.get().await?, ReadSource::Primary(Some(reason))))
    }
}

/// A streaming replica, and what the last check found of its position.
pub struct Replica {
    pool: DbPool,
    max_lag: Duration,
    /// Every write the primary had committed at this instant is on the replica.
    caught_up_to: Mutex<Result<Instant, PrimaryReason>>,
    /// The primary's WAL position at recent checks, oldest first, spanning `max_lag`.
    primary_positions: Mutex<VecDeque<(Instant, u64)>>,
    /// When each brand last wrote through this server (mutations end after their commit).
    writes: Mutex<HashMap<BrandId, Instant>>,
}

impl Replica {
    /// A pool of `size` connections to the replica at `url` (connections are made on
    /// first use), trusted while it is at most `max_lag` behind, and a task that checks
    /// its position against the primary at `primary_url` until the returned value is dropped.
    pub fn watch(url: &str, size: usize, max_lag: Duration, primary_url: &str) -> anyhow::Result<Arc<Replica>> {
        let replica = Arc::new(Replica {
            pool: super::connect_pool_with_timeout(url, size, REPLICA_CHECKOUT_TIMEOUT)?,
            max_lag,
            caught_up_to: Mutex::new(Err(PrimaryReason::ReplicaDown)),
            primary_positions: Mutex::new(VecDeque::new()),
            writes: Mutex::new(HashMap::new()),
        });
        let checker = Checker {
            primary: CheckConnection::to(primary_url),
            replica: CheckConnection::to(url),
        };
        tokio::spawn(check_until_dropped(Arc::downgrade(&replica), checker));
        Ok(replica)
    }

    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// How far behind the replica is, or why it cannot be read.
    pub fn lag(&self) -> Result<Duration, PrimaryReason> {
        Ok(self.caught_up_to()?.elapsed())
    }

    /// Since when the primary's writes may be missing on the replica, or why it cannot be read.
    fn caught_up_to(&self) -> Result<Instant, PrimaryReason> {
        let caught_up_to = (*self.caught_up_to.lock().expect("replica state"))?;
        if caught_up_to.elapsed() > self.max_lag {
            return Err(PrimaryReason::ReplicaBehind);
        }
        Ok(caught_up_to)
    }

    /// The lag a report of `brand` would see on the replica, or why it reads the primary.
    fn lag_for(&self, brand: BrandId) -> Result<Duration, PrimaryReason> {
        let caught_up_to = self.caught_up_to()?;
        let wrote_since = self
            .writes
            .lock()
            .expect("replica writes")
            .get(&brand)
            .is_some_and(|wrote_at| *wrote_at >= caught_up_to);
        if wrote_since {
            return Err(PrimaryReason::RecentWrite);
        }
        Ok(caught_up_to.elapsed())
    }

    /// Notes that `brand` just wrote: its reports read the primary until the replica has it.
    fn record_write(&self, brand: BrandId) {
        let mut writes = self.writes.lock().expect("replica writes");
        if writes.len() >= WRITES_BEFORE_SWEEP {
            // A write older than `max_lag` is on any replica this server would read.
            writes.retain(|_, wrote_at| wrote_at.elapsed() <= self.max_lag);
        }
        writes.insert(brand, Instant::now());
    }

    fn mark_down(&self) {
        *self.caught_up_to.lock().expect("replica state") = Err(PrimaryReason::ReplicaDown);
    }

    /// Compares the replica's replayed position with the primary's, and notes what it finds.
    async fn check(&self, checker: &mut Checker) {
        let checked_at = Instant::now();
        let positions = tokio::time::timeout(CHECK_TIMEOUT, async {
            let primary = checker.primary.position("pg_current_wal_lsn()").await?;
            let replayed = checker.replica.position("pg_last_wal_replay_lsn()").await?;
            Ok::<_, DbError>((primary, replayed))
        })
        .await;
        let found = match positions {
            Ok(Ok((Some(primary_position), Some(replayed)))) => {
                let mut history = self.primary_positions.lock().expect("primary positions");
                history.push_back((checked_at, primary_position));
                // Keep one position older than `max_lag`, to tell "behind" from "unknown".
                while history.len() > 2 && history[1].0.elapsed() > self.max_lag {
                    history.pop_front();
                }
                // Positions only grow: the newest one replayed is the freshest guarantee.
                match history.iter().rev().find(|(_, position)| *position <= replayed) {
                    Some((at, _)) => Ok(*at),
                    None => Err(PrimaryReason::ReplicaBehind),
                }
            }
            Ok(Ok(_)) => {
                tracing::warn!("the replica is not in recovery (promoted?): reports read the primary");
                Err(PrimaryReason::ReplicaDown)
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot check the replica: reports read the primary");
                Err(PrimaryReason::ReplicaDown)
            }
            Err(_) => {
                // A query cut off mid-way leaves its connection in no known state.
                checker.primary.conn = None;
                checker.replica.conn = None;
                tracing::warn!("the replica check timed out: reports read the primary");
                Err(PrimaryReason::ReplicaDown)
            }
        };
        *self.caught_up_to.lock().expect("replica state") = found;
    }
}

/// The check's own connections to both servers, so neither a storm of reports
/// holding the pools nor a busy API can fail it.
struct Checker {
    primary: CheckConnection,
    replica: CheckConnection,
}

struct CheckConnection {
    url: String,
    conn: Option<AsyncPgConnection>,
}

impl CheckConnection {
    /// Connects on first use.
    fn to(url: &str) -> Self {
        CheckConnection {
            url: url.to_string(),
            conn: None,
        }
    }

    /// What `function` answers, connecting first if need be; a failed connection is dropped.
    async fn position(&mut self, function: &str) -> DbResult<Option<u64>> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            slot @ None => slot.insert(
                AsyncPgConnection::establish(&self.url)
                    .await
                    .map_err(|error| DbError::Unavailable(error.to_string()))?,
            ),
        };
        let position = wal_position(conn, function).await;
        if position.is_err() {
            self.conn = None;
        }
        position
    }
}

async fn check_until_dropped(replica: Weak<Replica>, mut checker: Checker) {
    let mut every = tokio::time::interval(CHECK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(replica) = replica.upgrade() else { return };
        replica.check(&mut checker).await;
    }
}

/// A WAL position (`pg_lsn`, e.g. `16/B374D848`) as a number; None where the
/// function answers NULL (`pg_last_wal_replay_lsn()` on a server not in recovery).
async fn wal_position(conn: &mut AsyncPgConnection, function: &str) -> DbResult<Option<u64>> {
    use diesel_async::RunQueryDsl;
    let text: Option<String> = diesel::select(sql::<Nullable<Text>>(&format!("{function}::text")))
        .get_result(conn)
        .await?;
    text.map(|text| {
        let (high, low) = text
            .split_once('/')
            .ok_or_else(|| DbError::corrupt(format!("WAL position {text}")))?;
        let part =
            |hex: &str| u64::from_str_radix(hex, 16).map_err(|_| DbError::corrupt(format!("WAL position {text}")));
        Ok((part(high)? << 32) | part(low)?)
    })
    .transpose()
}

/// One request's report reads: routed by its `ReportPool`, remembered so the
/// response can say how fresh its figures are.
pub struct ReportReads {
    pool: ReportPool,
    brand: BrandId,
    writing: AtomicBool,
    stalest: Mutex<Option<ReadSource>>,
}

impl ReportReads {
    pub fn new(pool: ReportPool, brand: BrandId) -> Self {
        ReportReads {
            pool,
            brand,
            writing: AtomicBool::new(false),
            stalest: Mutex::new(None),
        }
    }

    /// The request writes (a mutation): its reads go to the primary, and once it
    /// ends the brand's reports do too until the replica has replayed it.
    pub fn mark_writing(&self) {
        self.writing.store(true, Ordering::Relaxed);
    }

    /// A connection for a report, and where it reads.
    pub async fn conn(&self) -> DbResult<(DbConn, ReadSource)> {
        let (conn, source) = self.pool.get(self.brand, self.writing.load(Ordering::Relaxed)).await?;
        self.remember(source);
        Ok((conn, source))
    }

    /// A primary connection for a read that failed on the replica (a recovery
    /// conflict, a replica gone mid-query).
    pub async fn primary_after_replica_failed(&self, error: &DbError) -> DbResult<DbConn> {
        tracing::warn!(%error, "a report failed on the replica: reading the primary");
        if let Some(replica) = &self.pool.replica {
            replica.mark_down();
        }
        let conn = self.pool.primary.get().await?;
        *self.stalest.lock().expect("report reads") = Some(ReadSource::Primary(Some(PrimaryReason::ReplicaDown)));
        Ok(conn)
    }

    fn remember(&self, source: ReadSource) {
        let mut stalest = self.stalest.lock().expect("report reads");
        *stalest = Some(match *stalest {
            Some(earlier) => earlier.stalest(source),
            None => source,
        });
    }

    /// Where the request's figures came from, when a replica is configured and it read any.
    pub fn freshness(&self) -> Option<ReadSource> {
        self.pool.replica.as_ref()?;
        *self.stalest.lock().expect("report reads")
    }

    /// Called when the request has been answered (its writes committed).
    pub fn finish(&self) {
        if let Some(replica) = &self.pool.replica
            && self.writing.load(Ordering::Relaxed)
        {
            replica.record_write(self.brand);
        }
    }
}
