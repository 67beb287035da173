//! Group commit for clicks: redirects hand their click to the writer, whose two
//! lanes each store everything that queued up while the other's batch was
//! committing, in a single transaction, then tell each redirect it is stored. A
//! redirect answers only after that, so an answered click is a stored click;
//! under load batches grow by themselves, so the database sees few, large
//! transactions. A batch written beside another adds its counts to tallies
//! rather than to the rollup rows the other is updating, and the tallies are
//! folded into the rollups when the writer falls idle (before the last batch is
//! answered) and at least every so often under load (`app::tallies`).
//!
//! Also here: which link a code leads to, and the click a shopper's visit makes.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use diesel_async::AsyncPgConnection;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::live::KpiChanges;
use super::tallies::{Kind, LeftoverFold, Tallies};
use crate::db::clicks::{NewClick, Rollups};
pub use crate::db::memberships::LinkTarget;
use crate::db::{DbError, DbPool, DbResult, memberships};
use crate::domain::ids::BrandId;
use crate::domain::tracking::is_bot;
use crate::metrics::Metrics;
pub use batch::{BatchOutcome, ClickRules, store_batch};
pub use spool::ClickSpool;

mod batch;
pub mod partitions;

pub mod spool;

/// The membership and destination a link code leads to, if any.
pub async fn find_link(conn: &mut AsyncPgConnection, code: &str) -> DbResult<Option<LinkTarget>> {
    memberships::find_link(conn, code).await
}

/// A click on `target` now, by a shopper with this user agent and address. The
/// address is kept only as a keyed hash: enough to spot repeats, not to recover it.
pub fn new_click(target: &LinkTarget, user_agent: &str, peer: Option<IpAddr>, ip_hash_key: &[u8]) -> NewClick {
    NewClick {
        brand_id: target.brand_id,
        membership_id: target.membership_id,
        id: Uuid::now_v7(),
        clicked_at: Utc::now(),
        ip_hash: peer.map(|ip| hash_ip(ip_hash_key, ip)),
        is_bot: is_bot(user_agent),
        user_agent: user_agent.chars().take(512).collect(),
    }
}

/// The keyed hash of the address as text, written straight into the hash.
fn hash_ip(key: &[u8], ip: IpAddr) -> Vec<u8> {
    struct Hashing(Hmac<Sha256>);
    impl std::fmt::Write for Hashing {
        fn write_str(&mut self, text: &str) -> std::fmt::Result {
            self.0.update(text.as_bytes());
            Ok(())
        }
    }
    let mut hashing = Hashing(Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length"));
    std::fmt::Write::write_fmt(&mut hashing, format_args!("{ip}")).expect("hashing cannot fail");
    hashing.0.finalize().into_bytes()[..16].to_vec()
}

/// The most clicks one transaction takes.
const MAX_BATCH: usize = 4_000;
/// Redirects waiting beyond this are told to slow down by backpressure.
const QUEUE_CAPACITY: usize = 50_000;
/// How long a redirect waits for its batch to commit before it spools the click
/// instead: the shopper is answered within 250 ms whatever the database does.
const COMMIT_DEADLINE: Duration = Duration::from_millis(200);
/// A batch that has not committed by then counts as failed (its redirects spooled long ago).
const BATCH_TIMEOUT: Duration = Duration::from_secs(15);
/// How often spooled clicks are offered to the database again.
const REPLAY_INTERVAL: Duration = Duration::from_secs(2);

type Job = (NewClick, oneshot::Sender<Outcome>);

/// Where an answered click ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// Committed with its batch.
    Stored,
    /// On the local spool, synced to disk: stored when the database is back.
    Spooled,
    /// Neither (no spool configured, or the spool failed): counted in `click_write_failures`.
    Lost,
}

#[derive(Clone)]
pub struct ClickWriter {
    queue: mpsc::Sender<Job>,
    spool: Option<Arc<ClickSpool>>,
    metrics: Arc<Metrics>,
    store: ClickStore,
}

impl ClickWriter {
    /// Clicks waiting for the writer.
    pub fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// Starts the writer task, and the replay of `spool` when there is one; the
    /// writer ends once every `ClickWriter` clone is dropped and the queue is drained.
    pub fn start(
        pool: DbPool,
        rules: ClickRules,
        metrics: Arc<Metrics>,
        spool: Option<Arc<ClickSpool>>,
        live: KpiChanges,
    ) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE_CAPACITY);
        let store = ClickStore { pool, rules, live };
        tokio::spawn(run(store.clone(), metrics.clone(), jobs, queue.downgrade()));
        ClickWriter {
            queue,
            spool,
            metrics,
            store,
        }
    }

    /// The task that offers the spool's clicks to the database again (none without
    /// a spool): local to this server, run by the job runner.
    pub fn spool_replay(&self) -> Option<SpoolReplay> {
        self.spool.as_ref().map(|spool| SpoolReplay {
            store: self.store.clone(),
            metrics: self.metrics.clone(),
            spool: Arc::downgrade(spool),
        })
    }

    /// The task that folds tallies a stopped server left: run by the job runner.
    pub(crate) fn tally_fold(&self) -> LeftoverFold {
        LeftoverFold {
            kind: Kind::Clicks,
            pool: self.store.pool.clone(),
            live: self.store.live.clone(),
        }
    }

    /// Stores a click: committed with its batch within `COMMIT_DEADLINE`, or else
    /// synced to the spool.
    pub async fn record(&self, click: NewClick) -> Recorded {
        let (done, stored) = oneshot::channel();
        let commit = async {
            match self.queue.send((click.clone(), done)).await {
                Ok(()) => stored.await.unwrap_or(Outcome::Retry),
                Err(_) => Outcome::Retry,
            }
        };
        match tokio::time::timeout(COMMIT_DEADLINE, commit).await {
            Ok(Outcome::Stored) => return Recorded::Stored,
            // Its own data was refused (and counted): spooling would change nothing.
            Ok(Outcome::Refused) => return Recorded::Lost,
            Ok(Outcome::Retry) | Err(_) => {}
        }
        match &self.spool {
            Some(spool) if spool.append(&click).await => {
                self.metrics.clicks_spooled.inc();
                Recorded::Spooled
            }
            _ => {
                self.metrics.click_write_failures.inc();
                Recorded::Lost
            }
        }
    }
}

/// Offers spooled clicks to the database every few seconds, oldest file first;
/// a file is deleted once all its clicks are stored.
pub struct SpoolReplay {
    store: ClickStore,
    metrics: Arc<Metrics>,
    spool: std::sync::Weak<ClickSpool>,
}

#[async_trait::async_trait]
impl crate::app::jobs::LocalTask for SpoolReplay {
    fn name(&self) -> &'static str {
        "click_spool_replay"
    }

    fn every(&self) -> Duration {
        REPLAY_INTERVAL
    }

    async fn run(&self) {
        let Some(current) = self.spool.upgrade() else { return };
        let (store, metrics) = (&self.store, &self.metrics);
        for file in current.take_for_replay().await {
            let clicks = match spool::read_clicks(&file) {
                Ok(clicks) => clicks,
                Err(error) => {
                    tracing::error!(%error, file = %file.display(), "cannot read spooled clicks");
                    continue;
                }
            };
            let mut all_stored = true;
            for chunk in clicks.chunks(MAX_BATCH) {
                let stored = store_isolated(store, metrics, chunk, Rollups::Now).await;
                all_stored &= stored.iter().all(|s| *s != Outcome::Retry);
                if !all_stored {
                    break;
                }
            }
            if !all_stored {
                // The database is still away: try again later, from this file.
                break;
            }
            metrics.clicks_replayed.inc_by(clicks.len() as u64);
            if let Err(error) = std::fs::remove_file(&file) {
                tracing::error!(%error, file = %file.display(), "cannot remove a replayed spool file");
            }
        }
    }
}

async fn run(store: ClickStore, metrics: Arc<Metrics>, jobs: mpsc::Receiver<Job>, queue: mpsc::WeakSender<Job>) {
    let load = Arc::new(WriterLoad {
        queue,
        jobs: tokio::sync::Mutex::new(jobs),
        tallies: Tallies::new(),
    });
    let lanes: Vec<_> = (0..LANES)
        .map(|_| tokio::spawn(lane(store.clone(), metrics.clone(), load.clone())))
        .collect();
    for lane in lanes {
        let _ = lane.await;
    }
}

/// One of the writer's lanes: takes what is queued, stores it, answers, and again.
/// While one lane's batch commits, the other gathers and writes the next.
async fn lane(store: ClickStore, metrics: Arc<Metrics>, load: Arc<WriterLoad>) {
    loop {
        let mut batch: Vec<Job> = Vec::new();
        let rollups = {
            let mut jobs = load.jobs.lock().await;
            if jobs.recv_many(&mut batch, MAX_BATCH).await == 0 {
                return;
            }
            if load.tallies.start_write() {
                Rollups::Tallied
            } else {
                Rollups::Now
            }
        };
        write_batch(&store, &metrics, &load, batch, rollups).await;
    }
}

/// Batches committing at once: the next is written while the last commits.
const LANES: usize = 2;

/// What the writer's lanes share: the queue, and what they tallied.
struct WriterLoad {
    queue: mpsc::WeakSender<Job>,
    /// The lane holding it waits for the next clicks.
    jobs: tokio::sync::Mutex<mpsc::Receiver<Job>>,
    tallies: Tallies,
}

impl WriterLoad {
    fn nothing_queued(&self) -> bool {
        self.queue
            .upgrade()
            .is_none_or(|queue| queue.capacity() == queue.max_capacity())
    }
}

/// Stores a batch and answers its redirects. The last batch to finish before the
/// writer falls idle folds the tallies first, so whoever awaited every redirect
/// sees every click counted.
async fn write_batch(store: &ClickStore, metrics: &Metrics, load: &Arc<WriterLoad>, batch: Vec<Job>, rollups: Rollups) {
    let started = std::time::Instant::now();
    let (clicks, replies): (Vec<NewClick>, Vec<_>) = batch.into_iter().unzip();
    let outcomes = store_isolated(store, metrics, &clicks, rollups).await;
    if load.tallies.finish_write(rollups == Rollups::Tallied) && load.nothing_queued() {
        load.tallies.fold_tallied(|| fold(store)).await;
    }
    metrics.click_batch_size.observe(clicks.len() as f64);
    metrics.click_batch_seconds.observe(started.elapsed().as_secs_f64());
    for (done, outcome) in replies.into_iter().zip(outcomes) {
        let _ = done.send(outcome);
    }
    // Under steady load: beside the lanes, so that neither a redirect nor the next
    // batch waits for it.
    if load.tallies.claim_due_fold() {
        let (load, store) = (load.clone(), store.clone());
        tokio::spawn(async move { load.tallies.fold_tallied(|| fold(&store)).await });
    }
}

/// Folds the click tallies into the rollups; false when that failed (they wait for the next fold).
async fn fold(to: &ClickStore) -> bool {
    super::tallies::fold(Kind::Clicks, &to.pool, &to.live).await
}

/// What became of one click of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Stored,
    /// The database is unavailable: worth trying again later.
    Retry,
    /// Its own data was refused: trying again changes nothing.
    Refused,
}

/// Where clicks are stored, and by which rules they earn.
#[derive(Clone)]
struct ClickStore {
    pool: DbPool,
    rules: ClickRules,
    /// Told which brands' clicks were counted.
    live: KpiChanges,
}

async fn store(to: &ClickStore, clicks: &[NewClick], rollups: Rollups) -> Result<BatchOutcome, DbError> {
    let stored = async {
        let mut conn = to.pool.get().await?;
        batch::store_batch_counted(&mut conn, clicks, to.rules, rollups).await
    };
    tokio::time::timeout(BATCH_TIMEOUT, stored)
        .await
        .unwrap_or_else(|_| Err(DbError::Unavailable("the click batch timed out".into())))
}

/// Stores a batch and says what became of each click. A batch that fails on its
/// data (not on the database being down) is retried per brand and then per
/// click, so one brand's bad row never costs another brand its clicks.
async fn store_isolated(to: &ClickStore, metrics: &Metrics, clicks: &[NewClick], rollups: Rollups) -> Vec<Outcome> {
    let mut outcomes = vec![Outcome::Retry; clicks.len()];
    let mut pending: Vec<Vec<usize>> = vec![(0..clicks.len()).collect()];
    while let Some(group) = pending.pop() {
        // The whole batch is stored as it is; only its parts are copied out.
        let part: Vec<NewClick>;
        let group_clicks = if group.len() == clicks.len() {
            clicks
        } else {
            part = group.iter().map(|&i| clicks[i].clone()).collect();
            &part
        };
        match store(to, group_clicks, rollups).await {
            Ok(outcome) => {
                metrics.clicks.inc_by(outcome.counted as u64);
                if rollups == Rollups::Tallied {
                    metrics.clicks_tallied.inc_by(outcome.counted as u64);
                }
                metrics.bot_clicks.inc_by(outcome.bots as u64);
                metrics.ignored_clicks.inc_by(outcome.ignored as u64);
                // Tallied counts reach dashboards when they are folded.
                if outcome.counted > 0 && rollups == Rollups::Now {
                    let brands: std::collections::BTreeSet<BrandId> =
                        group.iter().map(|&i| clicks[i].brand_id).collect();
                    brands.into_iter().for_each(|brand| to.live.touch(brand));
                }
                for i in group {
                    outcomes[i] = Outcome::Stored;
                }
            }
            Err(error @ DbError::Unavailable(_)) => {
                tracing::error!(%error, clicks = group.len(), "click batch failed: database unavailable");
            }
            Err(error) if group.len() == 1 => {
                let click = &clicks[group[0]];
                tracing::error!(%error, brand_id = %click.brand_id, membership_id = %click.membership_id, "click refused");
                metrics.click_write_failures.inc();
                outcomes[group[0]] = Outcome::Refused;
            }
            Err(error) => {
                tracing::warn!(%error, clicks = group.len(), "click batch failed; retrying its parts apart");
                let first_brand = clicks[group[0]].brand_id;
                if group.iter().all(|&i| clicks[i].brand_id == first_brand) {
                    pending.extend(group.into_iter().map(|i| vec![i]));
                } else {
                    let mut by_brand: std::collections::BTreeMap<BrandId, Vec<usize>> = Default::default();
                    for i in group {
                        by_brand.entry(clicks[i].brand_id).or_default().push(i);
                    }
                    pending.extend(by_brand.into_values());
                }
            }
        }
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_hashes_as_its_text_did() {
        let key = b"a key of the server's";
        for ip in ["203.0.113.9", "2001:db8::1", "::ffff:198.51.100.7"] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
            mac.update(ip.to_string().as_bytes());
            assert_eq!(hash_ip(key, ip), mac.finalize().into_bytes()[..16].to_vec(), "{ip}");
        }
    }
}
