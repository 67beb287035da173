//! Group commit for clicks: redirects hand their click to the writer, whose two
//! lanes each store everything that queued up while the other's batch was
//! committing, in a single transaction, then tell each redirect it is stored. A
//! redirect answers only after that, so an answered click is a stored click.
//! Under load (from `JOURNAL_CLICKS_FROM` clicks a second, with a spool) a
//! redirect answers once its click is synced to the local journal instead
//! (`journal`), and the lanes store journaled clicks in batches of up to
//! `JOURNALED_BATCH_WAIT`'s worth, so the database sees few, large
//! transactions. A batch written beside another adds its counts to tallies
//! rather than to the rollup rows the other is updating, and the tallies are
//! folded into the rollups when the writer falls idle (before the last batch is
//! answered) and at least every so often under load (`app::tallies`).
//!
//! Also here: which link a code leads to, and the click a shopper's visit makes.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use diesel_async::AsyncPgConnection;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use journal::{ClickJournal, Segment};

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
mod journal;
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

/// From this many clicks a second (over the last `RATE_WINDOW`), by default,
/// redirects wait for the journal rather than their batch's commit; below it, an
/// answered click is counted by the time its redirect answers.
pub const JOURNAL_CLICKS_FROM: u64 = 2_000;
const RATE_WINDOW: Duration = Duration::from_millis(100);
/// A batch of journaled clicks (nobody waits for its commit) gathers this long
/// from its first click, up to `MAX_BATCH` clicks, unless a redirect waits.
const JOURNALED_BATCH_WAIT: Duration = Duration::from_millis(20);

type Job = (NewClick, Waiting);

/// Who hears how a click's batch went.
enum Waiting {
    /// Its redirect, still waiting to answer.
    Redirect(oneshot::Sender<Outcome>),
    /// The journal segment holding it (its redirect answered already).
    Journaled(Arc<Segment>),
}

/// Clicks per second, measured as redirects arrive: the last complete window's, or
/// the current window's clicks so far spread over a whole window, whichever is higher.
struct ClickRate {
    started: Instant,
    /// Micros since `started` when the current window began.
    window_began: AtomicU64,
    in_window: AtomicU64,
    per_second: AtomicU64,
}

impl ClickRate {
    fn new() -> Self {
        ClickRate {
            started: Instant::now(),
            window_began: AtomicU64::new(0),
            in_window: AtomicU64::new(0),
            per_second: AtomicU64::new(0),
        }
    }

    /// Counts a click and reads the rate. A click after a lull closes a long window,
    /// so it reads a low rate; a surge reads as one once the current window holds a
    /// whole window's worth of it (at 20,000/s within 10 ms, rather than after the
    /// 100 ms its first window lasts), while a burst of fewer clicks than a window's
    /// worth at a given rate never reads as that rate.
    fn note(&self) -> u64 {
        let now = self.started.elapsed().as_micros() as u64;
        let began = self.window_began.load(Ordering::Relaxed);
        let length = now.saturating_sub(began);
        if length >= RATE_WINDOW.as_micros() as u64
            && self
                .window_began
                .compare_exchange(began, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let clicks = self.in_window.swap(0, Ordering::Relaxed);
            self.per_second.store(clicks * 1_000_000 / length, Ordering::Relaxed);
        }
        let in_window = self.in_window.fetch_add(1, Ordering::Relaxed) + 1;
        let so_far = in_window * 1_000_000 / RATE_WINDOW.as_micros() as u64;
        self.per_second.load(Ordering::Relaxed).max(so_far)
    }
}

/// Where an answered click ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// Committed with its batch.
    Stored,
    /// Under load: synced to the local journal, on its way to a batch.
    Journaled,
    /// On the local spool, synced to disk: stored when the database is back.
    Spooled,
    /// Neither (no spool configured, or the spool failed): counted in `click_write_failures`.
    Lost,
}

#[derive(Clone)]
pub struct ClickWriter {
    queue: mpsc::Sender<Job>,
    spool: Option<Arc<ClickSpool>>,
    /// With a spool only: the journal is in its directory.
    journal: Option<Arc<ClickJournal>>,
    rate: Arc<ClickRate>,
    /// Clicks a second from which the journal is used.
    journal_from: u64,
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
        journal_from: u64,
        live: KpiChanges,
    ) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE_CAPACITY);
        let store = ClickStore { pool, rules, live };
        tokio::spawn(run(store.clone(), metrics.clone(), jobs, queue.downgrade()));
        let journal =
            spool.as_ref().and_then(
                |spool| match ClickJournal::start(spool.dir(), queue.clone(), metrics.clone()) {
                    Ok(journal) => Some(Arc::new(journal)),
                    Err(error) => {
                        tracing::error!(%error, "cannot open the click journal; every redirect waits for its commit");
                        None
                    }
                },
            );
        ClickWriter {
            queue,
            spool,
            journal,
            rate: Arc::new(ClickRate::new()),
            journal_from,
            metrics,
            store,
        }
    }

    /// Closes the journal, if there is one, for a stop: its clicks are stored
    /// within `within` or left for the next start to replay; a redirect from then
    /// on waits for its commit.
    pub async fn close_journal(&self, within: Duration) {
        if let Some(journal) = &self.journal {
            journal.close(within).await;
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

    /// Stores a click: under load, synced to the journal; otherwise (or if that
    /// fails) committed with its batch; either within `COMMIT_DEADLINE`, or else
    /// synced to the spool.
    pub async fn record(&self, click: NewClick) -> Recorded {
        // One deadline for the journal and the commit both: then the spool.
        let deadline = tokio::time::Instant::now() + COMMIT_DEADLINE;
        let under_load = self.rate.note() >= self.journal_from;
        if let Some(journal) = self.journal.as_ref().filter(|_| under_load) {
            let journaled = tokio::time::timeout_at(deadline, journal.append(click.clone())).await;
            if journaled == Ok(true) {
                self.metrics.clicks_journaled.inc();
                return Recorded::Journaled;
            }
        }
        let (done, stored) = oneshot::channel();
        let commit = async {
            match self.queue.send((click.clone(), Waiting::Redirect(done))).await {
                Ok(()) => stored.await.unwrap_or(Outcome::Retry),
                Err(_) => Outcome::Retry,
            }
        };
        match tokio::time::timeout_at(deadline, commit).await {
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
            gather_journaled(&mut jobs, &mut batch).await;
            if load.tallies.start_write() {
                Rollups::Tallied
            } else {
                Rollups::Now
            }
        };
        write_batch(&store, &metrics, &load, batch, rollups).await;
    }
}

/// While nobody waits for the batch's commit (all its clicks are journaled), lets
/// more clicks join it, for up to `JOURNALED_BATCH_WAIT`.
async fn gather_journaled(jobs: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>) {
    let until = tokio::time::Instant::now() + JOURNALED_BATCH_WAIT;
    let nobody_waits = |jobs: &[Job]| jobs.iter().all(|(_, waiting)| matches!(waiting, Waiting::Journaled(_)));
    let mut checked = 0;
    while batch.len() < MAX_BATCH && nobody_waits(&batch[checked..]) {
        checked = batch.len();
        let room = MAX_BATCH - batch.len();
        match tokio::time::timeout_at(until, jobs.recv_many(batch, room)).await {
            Ok(taken) if taken > 0 => {}
            _ => return,
        }
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
    for (waiting, outcome) in replies.into_iter().zip(outcomes) {
        match waiting {
            Waiting::Redirect(done) => drop(done.send(outcome)),
            // Refused for its own data: a replay would change nothing.
            Waiting::Journaled(segment) => segment.settle(outcome != Outcome::Retry),
        }
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
    fn the_click_rate_is_the_last_windows_and_a_lull_ends_it() {
        let rate = ClickRate::new();
        std::thread::sleep(RATE_WINDOW);
        // The first click after a quiet window: itself alone in a window, 10/s.
        assert_eq!(rate.note(), 10);
        for _ in 0..499 {
            rate.note();
        }
        std::thread::sleep(RATE_WINDOW);
        let busy = rate.note();
        // 500 clicks in a window of at least 100 ms (up to a second on a machine too
        // busy to wake the test in time); this click alone in the next.
        assert!((500..=5_000).contains(&busy), "{busy}/s");
        std::thread::sleep(RATE_WINDOW * 10);
        assert!(rate.note() < 100, "one click over a second is a lull");
    }

    #[test]
    fn a_surge_reads_as_load_once_it_makes_a_windows_worth_and_a_shorter_burst_never_does() {
        let rate = ClickRate::new();
        std::thread::sleep(RATE_WINDOW);
        // A window's worth at the journal's rate: 200 clicks in 100 ms.
        let worth = (JOURNAL_CLICKS_FROM * RATE_WINDOW.as_millis() as u64 / 1_000) as usize;
        let read: Vec<u64> = (0..worth * 2).map(|_| rate.note()).collect();
        assert!(
            read[..worth - 1]
                .iter()
                .all(|&per_second| per_second < JOURNAL_CLICKS_FROM),
            "a burst of {} clicks after a lull waits for its commits: {:?}",
            worth - 1,
            &read[..worth - 1]
        );
        // Sent at once, the surge reads as load from its window's worth on (from a
        // later click only if the test lost the processor for a whole window).
        assert!(
            read[worth - 1..]
                .iter()
                .any(|&per_second| per_second >= JOURNAL_CLICKS_FROM),
            "{read:?}"
        );
    }

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
