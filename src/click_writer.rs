//! Group commit for clicks: redirects hand their click to one writer task, which
//! stores everything that queued up while the previous batch was committing in a
//! single transaction, then tells each redirect it is stored. A redirect answers
//! only after that, so an answered click is a stored click; under load batches
//! grow by themselves, so the database sees few, large transactions.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::db::DbPool;
use crate::db::clicks::{self, NewClick};
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
        let stored = match pool.get().await {
            Ok(mut conn) => clicks::store_batch(&mut conn, clicks).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let committed = match stored {
            Ok(outcome) => {
                metrics.clicks.inc_by(outcome.counted as u64);
                metrics.bot_clicks.inc_by(outcome.bots as u64);
                metrics.ignored_clicks.inc_by(outcome.ignored as u64);
                true
            }
            Err(error) => {
                tracing::error!(%error, clicks = batch.len(), "click batch failed");
                metrics.click_write_failures.inc_by(batch.len() as u64);
                false
            }
        };
        for (_, done) in batch.drain(..) {
            let _ = done.send(committed);
        }
    }
}
