//! Opening the database at start: its schema brought up to date, then the
//! pools each part of the application draws on.

use std::sync::Arc;
use std::time::Duration;

use crate::db::{self, DbPool, Pooler, replica::Replica};

/// KPI reads running at once: about one per core of a small database server
/// (more only queue inside PostgreSQL), so a storm of reports cannot take the
/// cores the click writer and the webhooks need.
const REPORT_CONNECTIONS: usize = 4;
/// The order writer's own connections.
const ORDER_WRITER_CONNECTIONS: usize = crate::app::orders::OrderWriter::CONNECTIONS;

/// Where the database is and how it is reached.
pub struct DatabaseSettings {
    pub url: String,
    /// A connection past the pooler (migrations hold a session lock); needed
    /// with `transaction_pooler`.
    pub direct_url: Option<String>,
    /// `url` is a transaction pooler (PgBouncer): statements are not cached.
    pub transaction_pooler: bool,
    /// Connections for the API; tracking gets half of it (at least 4).
    pub pool_size: usize,
}

/// The pools the application is started with.
pub struct Database {
    /// The API's connections (also the admin commands').
    pub pool: DbPool,
    pub tracking_pool: DbPool,
    pub report_pool: DbPool,
    /// The order writer's alone (its connections are made on its own thread).
    pub order_writer_pool: DbPool,
    /// The connection past any pooler.
    pub direct_url: String,
}

/// Runs the migrations not yet applied and connects the pools.
pub async fn open(settings: DatabaseSettings) -> anyhow::Result<Database> {
    let pooler = if settings.transaction_pooler {
        Pooler::Transaction
    } else {
        Pooler::None
    };
    let direct_url = match (settings.direct_url, pooler) {
        (Some(url), _) => url,
        (None, Pooler::None) => settings.url.clone(),
        (None, Pooler::Transaction) => {
            anyhow::bail!("--transaction-pooler needs --direct-database-url: migrations hold a session lock")
        }
    };
    db::run_migrations(&direct_url).await?;
    let connect = |size| db::connect_pool_via(&settings.url, size, pooler);
    Ok(Database {
        pool: connect(settings.pool_size)?,
        tracking_pool: connect((settings.pool_size / 2).max(4))?,
        report_pool: connect(REPORT_CONNECTIONS)?,
        order_writer_pool: connect(ORDER_WRITER_CONNECTIONS)?,
        direct_url,
    })
}

/// A streaming replica at `url` for reports, watched against the primary at
/// `direct_url`: reports read it while it is at most `max_lag` behind.
pub fn watch_replica(url: &str, max_lag: Duration, direct_url: &str) -> anyhow::Result<Arc<Replica>> {
    Replica::watch(url, REPORT_CONNECTIONS, max_lag, direct_url)
}
