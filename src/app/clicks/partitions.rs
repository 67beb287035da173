//! Keeps `clicks`' monthly partitions: the months to come exist before their clicks
//! arrive, and with a retention set, raw clicks of months past it are dropped (the
//! rollups keep every figure). A recurring job; each step is safe to race.

use chrono::{DateTime, Utc};

use crate::app::jobs::{Handler, Job, Lease, Outcome, backoff};
use crate::db::{DbError, DbPool, DbResult, clicks};
use crate::domain::enums::JobKind;

/// Months made ahead of the current one.
pub const MONTHS_AHEAD: u32 = 3;
/// Months made back from the current one (for replayed or seeded clicks), unless
/// the retention keeps fewer.
const MONTHS_BACK: u32 = 13;
/// How often the partitions are looked after (also once at start).
const EVERY: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// Makes the months from `from` to three ahead of `now`.
pub async fn prepare(pool: &DbPool, from: DateTime<Utc>, now: DateTime<Utc>) -> DbResult<()> {
    let mut conn = pool.get().await.map_err(DbError::from)?;
    let made = clicks::ensure_partitions(&mut conn, from, now, MONTHS_AHEAD).await?;
    if !made.is_empty() {
        tracing::info!(?made, "click partitions created");
    }
    Ok(())
}

/// One round: months ahead (and back) made, months past `keep_months` dropped.
pub async fn keep(pool: &DbPool, keep_months: Option<u32>, now: DateTime<Utc>) -> DbResult<()> {
    let back = keep_months.map_or(MONTHS_BACK, |keep| keep.min(MONTHS_BACK));
    let from = now.checked_sub_months(chrono::Months::new(back)).unwrap_or(now);
    prepare(pool, from, now).await?;
    if let Some(months) = keep_months {
        let mut conn = pool.get().await.map_err(DbError::from)?;
        let dropped = clicks::apply_retention(&mut conn, months, now).await?;
        if !dropped.is_empty() {
            tracing::info!(?dropped, "raw clicks past the retention dropped");
        }
    }
    Ok(())
}

/// The recurring job that runs `keep` every 6 hours.
pub struct PartitionsJob {
    pub pool: DbPool,
    pub keep_months: Option<u32>,
}

#[async_trait::async_trait]
impl Handler for PartitionsJob {
    fn kind(&self) -> JobKind {
        JobKind::ClickPartitions
    }

    fn every(&self) -> Option<std::time::Duration> {
        Some(EVERY)
    }

    async fn run(&self, job: &Job, _: &Lease) -> Outcome {
        match keep(&self.pool, self.keep_months, Utc::now()).await {
            Ok(()) => Outcome::Done,
            Err(error) => Outcome::Retry {
                after: backoff(job.attempts),
                error: error.to_string(),
            },
        }
    }
}
