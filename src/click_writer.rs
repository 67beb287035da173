//! Group commit for clicks: redirects hand their click to one writer task, which
//! stores everything that queued up while the previous batch was committing in a
//! single transaction, then tells each redirect it is stored. A redirect answers
//! only after that, so an answered click is a stored click; under load batches
//! grow by themselves, so the database sees few, large transactions.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::db::clicks::{self, NewClick};
use crate::db::{DbError, DbPool};
use crate::metrics::Metrics;

/// The most clicks one transaction takes.
const MAX_BATCH: usize = 4_000;
/// Redirects waiting beyond this are told to slow down by backpressure.
const QUEUE_CAPACITY: usize = 50_000;

type Job = (NewClick, oneshot::Sender<bool>);

#[derive(Clone)]
pub struct ClickWriter {
    queue: mpsc::Sender<Job>,
}

impl ClickWriter {
    /// Starts the writer task; it ends once every `ClickWriter` clone is dropped
    /// and the queue is drained.
    pub fn start(pool: DbPool, metrics: Arc<Metrics>) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run(pool, metrics, jobs));
        ClickWriter { queue }
    }

    /// Stores a click; true once it is committed.
    pub async fn record(&self, click: NewClick) -> bool {
        let (done, stored) = oneshot::channel();
        if self.queue.send((click, done)).await.is_err() {
            return false;
        }
        stored.await.unwrap_or(false)
    }
}

async fn run(pool: DbPool, metrics: Arc<Metrics>, mut jobs: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let clicks: Vec<NewClick> = batch.iter().map(|(click, _)| click.clone()).collect();
        let committed = store_isolated(&pool, &metrics, &clicks).await;
        for ((_, done), committed) in batch.drain(..).zip(committed) {
            let _ = done.send(committed);
        }
    }
}

/// Stores a batch and says, per click, whether it committed. A batch that fails
/// on its data (not on the database being down) is retried per brand and then per
/// click, so one brand's bad row never costs another brand its clicks.
async fn store_isolated(pool: &DbPool, metrics: &Metrics, clicks: &[NewClick]) -> Vec<bool> {
    let mut committed = vec![false; clicks.len()];
    let mut pending: Vec<Vec<usize>> = vec![(0..clicks.len()).collect()];
    while let Some(group) = pending.pop() {
        let stored = match pool.get().await {
            Ok(mut conn) => clicks::store_batch(&mut conn, group.iter().map(|&i| clicks[i].clone()).collect()).await,
            Err(error) => Err(error.into()),
        };
        match stored {
            Ok(outcome) => {
                metrics.clicks.inc_by(outcome.counted as u64);
                metrics.bot_clicks.inc_by(outcome.bots as u64);
                metrics.ignored_clicks.inc_by(outcome.ignored as u64);
                for i in group {
                    committed[i] = true;
                }
            }
            Err(error @ DbError::Unavailable(_)) => {
                tracing::error!(%error, clicks = group.len(), "click batch failed: database unavailable");
                metrics.click_write_failures.inc_by(group.len() as u64);
            }
            Err(error) if group.len() == 1 => {
                let click = &clicks[group[0]];
                tracing::error!(%error, brand_id = click.brand_id, membership_id = click.membership_id, "click refused");
                metrics.click_write_failures.inc();
            }
            Err(error) => {
                tracing::warn!(%error, clicks = group.len(), "click batch failed; retrying its parts apart");
                let first_brand = clicks[group[0]].brand_id;
                if group.iter().all(|&i| clicks[i].brand_id == first_brand) {
                    pending.extend(group.into_iter().map(|i| vec![i]));
                } else {
                    let mut by_brand: std::collections::BTreeMap<i64, Vec<usize>> = Default::default();
                    for i in group {
                        by_brand.entry(clicks[i].brand_id).or_default().push(i);
                    }
                    pending.extend(by_brand.into_values());
                }
            }
        }
    }
    committed
}
