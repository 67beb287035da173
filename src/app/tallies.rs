//! When a writer with two lanes writes its totals and when it tallies them. A lane
//! writing alone (with nothing tallied left to fold) updates the totals' rows
//! itself; a lane writing beside another would wait on the rows the other is
//! updating, so it adds its changes to a tally table instead (an insert that
//! takes no lock). The tallies are folded into the totals when the writer falls
//! idle (by the last lane, before it answers) and at least every `FOLD_EVERY`
//! under steady load (beside the lanes, so that neither waits for it).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::live::KpiChanges;
use crate::db::{self, DbPool};

/// Under steady load a writer never falls idle: tallies are folded at least this often.
const FOLD_EVERY: Duration = Duration::from_millis(250);
/// A fold that has not committed by then counts as failed (the next takes its tallies).
const FOLD_TIMEOUT: Duration = Duration::from_secs(15);
/// How often tallies left by a stopped server are looked for.
const LEFTOVER_FOLD_INTERVAL: Duration = Duration::from_secs(10);

/// Which tallies: each kind has its table and its fold.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// `click_tallies`, into the daily rollups.
    Clicks,
    /// `order_tallies`, into the balances and the daily rollups.
    Orders,
}

/// Folds the `kind` tallies on a connection of `pool`, and tells the live
/// subscribers of the brands whose figures moved; false when that failed: the
/// tallies wait for the next fold.
pub(crate) async fn fold(kind: Kind, pool: &DbPool, live: &KpiChanges) -> bool {
    let folded = async {
        let mut conn = pool.get().await?;
        match kind {
            Kind::Clicks => db::clicks::fold_tallies(&mut conn).await,
            Kind::Orders => db::stats::fold_order_tallies(&mut conn).await,
        }
    };
    match tokio::time::timeout(FOLD_TIMEOUT, folded).await {
        Ok(Ok(brands)) => {
            brands.into_iter().for_each(|brand| live.touch(brand));
            true
        }
        Ok(Err(error)) => {
            tracing::error!(%error, tallies = ?kind, "folding tallies failed; the next fold takes them");
            false
        }
        Err(_) => {
            tracing::error!(tallies = ?kind, "folding tallies timed out; the next fold takes them");
            false
        }
    }
}

/// Folds the tallies a server left behind (it stopped between a write and its
/// fold): run by the job runner, on every server.
pub(crate) struct LeftoverFold {
    pub(crate) kind: Kind,
    pub(crate) pool: DbPool,
    pub(crate) live: KpiChanges,
}

#[async_trait::async_trait]
impl super::jobs::LocalTask for LeftoverFold {
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Clicks => "click_tally_fold",
            Kind::Orders => "order_tally_fold",
        }
    }

    fn every(&self) -> Duration {
        LEFTOVER_FOLD_INTERVAL
    }

    async fn run(&self) {
        fold(self.kind, &self.pool, &self.live).await;
    }
}

/// What a writer's lanes share about their totals.
pub(crate) struct Tallies {
    writing: AtomicUsize,
    /// Tallied writes committed so far.
    tallied: AtomicU64,
    /// `Folded::upto`, for a look without waiting for a fold.
    folded_upto: AtomicU64,
    /// Held while folding: one fold at a time.
    folded: tokio::sync::Mutex<Folded>,
}

struct Folded {
    /// Every tallied write up to this one is folded.
    upto: u64,
    at: Instant,
}

impl Tallies {
    pub(crate) fn new() -> Self {
        Tallies {
            writing: AtomicUsize::new(0),
            tallied: AtomicU64::new(0),
            folded_upto: AtomicU64::new(0),
            folded: tokio::sync::Mutex::new(Folded {
                upto: 0,
                at: Instant::now(),
            }),
        }
    }

    /// A lane starts a write: true when it should tally, false when it is alone
    /// with nothing left to fold and writes the totals itself.
    pub(crate) fn start_write(&self) -> bool {
        let alone = self.writing.fetch_add(1, Ordering::SeqCst) == 0;
        !(alone && self.tallied.load(Ordering::SeqCst) == self.folded_upto.load(Ordering::SeqCst))
    }

    /// A lane's write is committed (`tallied` as `start_write` said); true when no
    /// other lane is writing.
    pub(crate) fn finish_write(&self, tallied: bool) -> bool {
        if tallied {
            self.tallied.fetch_add(1, Ordering::SeqCst);
        }
        self.writing.fetch_sub(1, Ordering::SeqCst) == 1
    }

    /// Folds what was tallied until now with `fold` (false when it failed: the
    /// tallies wait for the next), unless that is folded already.
    pub(crate) async fn fold_tallied<F: Future<Output = bool>>(&self, fold: impl FnOnce() -> F) {
        let mut folded = self.folded.lock().await;
        // Committed before this read, so the fold's snapshot holds them.
        let tallied = self.tallied.load(Ordering::SeqCst);
        if tallied == folded.upto {
            return;
        }
        folded.at = Instant::now();
        if fold().await {
            folded.upto = tallied;
            self.folded_upto.store(tallied, Ordering::SeqCst);
        }
    }

    /// A fold is due and none is running: true once per `FOLD_EVERY`, for the
    /// caller to start it.
    pub(crate) fn claim_due_fold(&self) -> bool {
        let Ok(mut folded) = self.folded.try_lock() else {
            return false;
        };
        let due = folded.at.elapsed() >= FOLD_EVERY;
        if due {
            folded.at = Instant::now();
        }
        due
    }
}
