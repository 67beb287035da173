//! The one job runner: every background task runs here. Jobs are rows of `jobs`
//! leased under a token, so several servers share them and a crashed server's
//! jobs come back when their lease lapses; a job's result is recorded only while
//! its lease holds. Each kind runs with its own concurrency; a recurring kind has
//! one row that reschedules itself. Shutdown stops claiming, gives running jobs a
//! grace period, then hands the leases of the unfinished back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::db::jobs::{self, JobRow};
use crate::db::{DbError, DbPool, DbResult};
use crate::domain::enums::JobKind;
use crate::metrics::Metrics;

pub use crate::db::jobs::JobRow as Job;

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    Done,
    /// Try again after this long.
    Retry {
        after: Duration,
        error: String,
    },
    /// Give up: the job is kept as failed.
    Failed(String),
}

/// One kind of work.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    fn kind(&self) -> JobKind;

    /// How many of its jobs one server runs at once.
    fn concurrency(&self) -> usize {
        1
    }

    /// For a recurring kind, how long between rounds; None for one-off jobs.
    fn every(&self) -> Option<Duration> {
        None
    }

    async fn run(&self, job: &Job, lease: &Lease) -> Outcome;
}

/// The lease a run holds: what it writes is conditioned on it (`db::jobs`).
#[derive(Clone, Copy, Debug)]
pub struct Lease {
    pub job_id: crate::domain::ids::JobId,
    pub token: Uuid,
    /// How long the lease lasts from the claim.
    pub length: Duration,
}

/// How the runner paces itself.
#[derive(Clone, Copy, Debug)]
pub struct RunnerSettings {
    /// How long a claimed job stays with its server unless extended: a running
    /// job's heartbeat extends it every third of this, so a crashed server's jobs
    /// are picked up this long after its last beat.
    pub lease: Duration,
    /// How often each kind looks for due jobs when nothing wakes it.
    pub poll: Duration,
    /// How long running jobs may go on once shutdown begins before their leases are handed back.
    pub shutdown_grace: Duration,
    /// False on a server that only answers requests while others run the jobs.
    pub run_jobs: bool,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        RunnerSettings {
            lease: Duration::from_secs(6),
            poll: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(5),
            run_jobs: true,
        }
    }
}

/// A background task that is not a row: local to this server (the click spool
/// lives on its disk), run every so often and stopped with the runner.
#[async_trait]
pub trait LocalTask: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn every(&self) -> Duration;
    async fn run(&self);
}

#[derive(Clone)]
pub struct JobRunner {
    inner: Arc<Inner>,
}

struct Inner {
    pool: DbPool,
    settings: RunnerSettings,
    stop: watch::Sender<bool>,
    /// Each kind this server runs: its wake-up, and whether it is recurring.
    wakes: std::sync::Mutex<HashMap<JobKind, (Arc<Notify>, bool)>>,
    tasks: std::sync::Mutex<JoinSet<()>>,
}

impl JobRunner {
    pub fn new(pool: DbPool, settings: RunnerSettings) -> Self {
        JobRunner {
            inner: Arc::new(Inner {
                pool,
                settings,
                stop: watch::channel(false).0,
                wakes: Default::default(),
                tasks: Default::default(),
            }),
        }
    }

    /// Starts running `handler`'s kind on this server (unless it runs no jobs).
    pub fn start(&self, handler: impl Handler) {
        if !self.inner.settings.run_jobs {
            return;
        }
        let wake = Arc::new(Notify::new());
        self.inner
            .wakes
            .lock()
            .expect("the wake list is never poisoned")
            .insert(handler.kind(), (wake.clone(), handler.every().is_some()));
        let worker = Worker {
            inner: self.inner.clone(),
            handler: Arc::new(handler),
            wake,
        };
        self.spawn(worker.run());
    }

    /// Starts `task`, run at once and then every `task.every()`, until shutdown.
    pub fn start_local(&self, task: impl LocalTask) {
        let mut stop = self.inner.stop.subscribe();
        self.spawn(async move {
            while !*stop.borrow() {
                tokio::select! {
                    () = task.run() => {}
                    _ = stop.changed() => return,
                }
                tokio::select! {
                    () = tokio::time::sleep(task.every()) => {}
                    _ = stop.changed() => return,
                }
            }
        });
    }

    /// Refreshes the per-kind gauges in `metrics` every few seconds (ten polls) until shutdown.
    pub fn report_to(&self, metrics: Arc<Metrics>) {
        let pool = self.inner.pool.clone();
        let every = (self.inner.settings.poll * 10).min(Duration::from_secs(5));
        let mut stop = self.inner.stop.subscribe();
        self.spawn(async move {
            loop {
                if let Ok(mut conn) = pool.get().await {
                    match jobs::stats(&mut conn).await {
                        Ok(stats) => {
                            for kind in JobKind::ALL {
                                let found = stats.iter().find(|s| s.kind == *kind);
                                metrics.job_stats(
                                    kind.as_str(),
                                    found.map_or(0, |s| s.queued),
                                    found.map_or(0, |s| s.running),
                                    found.map_or(0, |s| s.failed),
                                    found.map_or(0.0, |s| s.oldest_seconds),
                                );
                            }
                        }
                        Err(error) => tracing::warn!(%error, "reading job statistics failed"),
                    }
                }
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    _ = stop.changed() => return,
                }
            }
        });
    }

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.inner
            .tasks
            .lock()
            .expect("the task list is never poisoned")
            .spawn(task);
    }

    /// Work was just queued for `kind`: this server looks for due jobs of the kind
    /// at once, and a recurring kind (or one another server runs) is made due now.
    pub fn wake(&self, kind: JobKind) {
        let local = self
            .inner
            .wakes
            .lock()
            .expect("the wake list is never poisoned")
            .get(&kind)
            .cloned();
        if let Some((wake, false)) = &local {
            // A one-off job is due when queued: nothing to change in the database.
            wake.notify_one();
            return;
        }
        let inner = self.inner.clone();
        tokio::spawn(async move {
            if let Ok(mut conn) = inner.pool.get().await
                && let Err(error) = jobs::run_recurring_now(&mut conn, kind).await
            {
                tracing::warn!(%error, kind = kind.as_str(), "cannot make a job due now");
            }
            if let Some((wake, _)) = local {
                wake.notify_one();
            }
        });
    }

    /// Stops claiming, lets running jobs finish within the grace period, hands the
    /// others' leases back, and returns once every task has ended.
    pub async fn shutdown(&self) {
        self.inner.stop.send_replace(true);
        let mut tasks = std::mem::take(&mut *self.inner.tasks.lock().expect("the task list is never poisoned"));
        // Each task ends by itself within the grace and a release; this bounds a stuck one.
        let bound = self.inner.settings.shutdown_grace + Duration::from_secs(5);
        let all_ended = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(bound, all_ended).await.is_err() {
            tracing::warn!("job runner tasks still running at the end of shutdown");
        }
    }
}

/// Runs one kind's jobs on this server.
struct Worker {
    inner: Arc<Inner>,
    handler: Arc<dyn Handler>,
    wake: Arc<Notify>,
}

impl Worker {
    async fn run(self) {
        let kind = self.handler.kind();
        let mut stop = self.inner.stop.subscribe();
        if self.handler.every().is_some() {
            while let Err(error) = self.ensure_recurring(kind).await {
                tracing::warn!(%error, kind = kind.as_str(), "cannot register a recurring job yet");
                tokio::select! {
                    () = tokio::time::sleep(self.inner.settings.poll * 5) => {}
                    _ = stop.changed() => return,
                }
            }
        }
        let mut running: JoinSet<()> = JoinSet::new();
        loop {
            let concurrency = self.handler.concurrency();
            let free = concurrency.saturating_sub(running.len());
            // Claims are made for several slots at once (one query each), not per freed slot.
            let worth_claiming = free > 0 && (running.is_empty() || free * 2 >= concurrency);
            let mut claimed_all = false;
            if worth_claiming && !*stop.borrow() {
                match self.claim(kind, free).await {
                    Ok(claimed) => {
                        claimed_all = claimed.len() == free;
                        for job in claimed {
                            tracing::debug!(job_id = %job.id, kind = kind.as_str(), attempts = job.attempts, "job claimed");
                            running.spawn(self.run_one(job));
                        }
                    }
                    Err(error) => tracing::warn!(%error, kind = kind.as_str(), "claiming jobs failed"),
                }
            }
            if *stop.borrow() {
                // Running jobs end by themselves (finished or released) within the grace.
                while running.join_next().await.is_some() {}
                return;
            }
            // When the claim filled every slot, more may be due: look again as soon as one frees.
            let poll = if claimed_all && free > 0 {
                Duration::ZERO
            } else {
                self.inner.settings.poll
            };
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(poll), if running.len() < self.handler.concurrency() => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = stop.changed() => {}
            }
        }
    }

    async fn ensure_recurring(&self, kind: JobKind) -> DbResult<()> {
        let mut conn = self.inner.pool.get().await.map_err(DbError::from)?;
        jobs::ensure_recurring(&mut conn, kind).await
    }

    async fn claim(&self, kind: JobKind, limit: usize) -> DbResult<Vec<JobRow>> {
        let mut conn = self.inner.pool.get().await.map_err(DbError::from)?;
        let token = Uuid::now_v7();
        jobs::claim(&mut conn, kind, limit as i64, self.inner.settings.lease, token).await
    }

    /// Runs a claimed job and records how it ended, or hands it back at shutdown.
    fn run_one(&self, job: JobRow) -> impl Future<Output = ()> + Send + 'static {
        let inner = self.inner.clone();
        let handler = self.handler.clone();
        async move {
            let token = job.lease_token.expect("a claimed job holds a lease");
            let lease = Lease {
                job_id: job.id,
                token,
                length: inner.settings.lease,
            };
            let mut stop = inner.stop.subscribe();
            let grace = inner.settings.shutdown_grace;
            let stopped_past_grace = async move {
                if !*stop.borrow() {
                    let _ = stop.changed().await;
                }
                tokio::time::sleep(grace).await;
            };
            let outcome = tokio::select! {
                outcome = handler.run(&job, &lease) => Some(outcome),
                () = stopped_past_grace => None,
                () = heartbeat(&inner.pool, lease) => {
                    // Another server may hold the job now: this run stops, recording nothing.
                    tracing::warn!(job_id = %job.id, kind = job.kind.as_str(), "job lease lost; run abandoned");
                    return;
                }
            };
            let recorded = match outcome {
                Some(outcome) => record(&inner.pool, handler.as_ref(), &job, token, outcome).await,
                None => release(&inner.pool, &job, token).await,
            };
            if let Err(error) = recorded {
                tracing::error!(%error, job_id = %job.id, kind = job.kind.as_str(), "recording a job's end failed");
            }
        }
    }
}

/// Extends the lease every third of its length while the job runs; returns once
/// the lease is lost (taken over after a lapse), never while it holds.
async fn heartbeat(pool: &DbPool, lease: Lease) {
    let beat = lease.length / 3;
    loop {
        tokio::time::sleep(beat).await;
        let extended = match pool.get().await {
            Ok(mut conn) => jobs::extend(&mut conn, lease.job_id, lease.token, lease.length).await,
            Err(error) => Err(DbError::from(error)),
        };
        match extended {
            Ok(true) => {}
            Ok(false) => return,
            // The next beat tries again; the lease may lapse meanwhile.
            Err(error) => tracing::warn!(%error, job_id = %lease.job_id, "extending a job lease failed"),
        }
    }
}

async fn record(pool: &DbPool, handler: &dyn Handler, job: &JobRow, token: Uuid, outcome: Outcome) -> DbResult<()> {
    let mut conn = pool.get().await.map_err(DbError::from)?;
    let now = Utc::now();
    let kept = match (outcome, handler.every()) {
        (Outcome::Done, None) => jobs::complete(&mut conn, job.id, token).await?,
        (Outcome::Done, Some(every)) => jobs::reschedule(&mut conn, job, token, now + every, None, true).await?,
        (Outcome::Retry { after, error }, every) => {
            tracing::warn!(job_id = %job.id, kind = job.kind.as_str(), attempts = job.attempts, %error, "job failed; retrying");
            let after = every.map_or(after, |every| after.min(every));
            jobs::reschedule(&mut conn, job, token, now + after, Some(&error), false).await?
        }
        (Outcome::Failed(error), Some(every)) => {
            tracing::error!(job_id = %job.id, kind = job.kind.as_str(), %error, "recurring job failed");
            jobs::reschedule(&mut conn, job, token, now + every, Some(&error), false).await?
        }
        (Outcome::Failed(error), None) => {
            tracing::error!(job_id = %job.id, kind = job.kind.as_str(), %error, "job failed for good");
            jobs::fail(&mut conn, job.id, token, &error).await?
        }
    };
    if !kept {
        tracing::warn!(job_id = %job.id, kind = job.kind.as_str(), "job lease lost before its end was recorded");
    }
    Ok(())
}

async fn release(pool: &DbPool, job: &JobRow, token: Uuid) -> DbResult<()> {
    let mut conn = pool.get().await.map_err(DbError::from)?;
    jobs::release(&mut conn, job.id, token).await?;
    tracing::info!(job_id = %job.id, kind = job.kind.as_str(), "job handed back at shutdown");
    Ok(())
}

/// Exponential backoff for a failed attempt: 2 s, 4 s, 8 s... at most an hour.
pub fn backoff(attempts: i32) -> Duration {
    let exponent = u32::try_from(attempts.clamp(1, 12)).unwrap_or(1);
    Duration::from_secs(2u64.pow(exponent)).min(Duration::from_secs(3600))
}
