//! Everything that talks to PostgreSQL: the pool, migrations, rows and queries.

pub mod api_keys;
pub mod audit;
pub mod brands;
mod cached;
pub mod clicks;
pub mod conversions;
pub mod converting;
pub mod emails;
pub mod exchange_rates;
pub mod ids;
pub mod jobs;
pub mod ledger;
pub mod members;
pub mod memberships;
pub mod models;
pub mod nodes;
pub mod notifications;
pub mod offers;
pub mod orders_awaiting_rate;
pub mod pagination;
pub mod payments;
pub mod pipelined;
pub mod projects;
pub mod replica;
pub mod reporting;
pub mod rewards;
pub mod schema;
pub mod shop_codes;
pub mod shop_imports;
pub mod shopify;
pub mod stats;
pub mod table_columns;
pub mod text_enums;
pub mod webhook_deliveries;
pub mod webhooks;

use std::time::Duration;

use diesel::result::DatabaseErrorKind;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Object, Pool, PoolError};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub type DbPool = Pool<AsyncPgConnection>;
pub type DbConn = Object<AsyncPgConnection>;

pub use replica::ReportPool;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Any number will do as long as it is ours alone: it serialises start-ups.
const MIGRATION_LOCK_ID: i64 = 0x5a1e_57ac;

/// What can go wrong talking to the database, in terms callers can act on.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("row not found")]
    NotFound,
    #[error("unique constraint {0} violated")]
    UniqueViolation(String),
    #[error("check constraint {0} violated")]
    CheckViolation(String),
    #[error("foreign key {0} violated")]
    ForeignKeyViolation(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Query(#[source] diesel::result::Error),
}

impl From<diesel::result::Error> for DbError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::Error;
        match error {
            Error::NotFound => DbError::NotFound,
            Error::DatabaseError(kind, ref info) => {
                let constraint = info.constraint_name().unwrap_or("unknown").to_string();
                match kind {
                    DatabaseErrorKind::UniqueViolation => DbError::UniqueViolation(constraint),
                    DatabaseErrorKind::CheckViolation => DbError::CheckViolation(constraint),
                    DatabaseErrorKind::ForeignKeyViolation => DbError::ForeignKeyViolation(constraint),
                    DatabaseErrorKind::ClosedConnection => DbError::Unavailable(info.message().to_string()),
                    // A statement past its statement_timeout: the database is too busy for it now.
                    _ if info.message().contains("statement timeout") => {
                        DbError::Unavailable(info.message().to_string())
                    }
                    _ => DbError::Query(error),
                }
            }
            other => DbError::Query(other),
        }
    }
}

impl From<PoolError> for DbError {
    fn from(error: PoolError) -> Self {
        DbError::Unavailable(error.to_string())
    }
}

impl DbError {
    /// A stored value the code cannot read (an unknown time zone, say): an error
    /// naming it, never a substitute.
    pub fn corrupt(what: String) -> Self {
        DbError::Query(diesel::result::Error::DeserializationError(what.into()))
    }
}

pub type DbResult<T> = Result<T, DbError>;

/// How long a caller waits for a pooled connection, and for a new one to be made,
/// before the database counts as unavailable.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);

/// What stands between a pool and PostgreSQL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pooler {
    /// Nothing (or a pooler in session mode): statements are prepared once per connection.
    #[default]
    None,
    /// A pooler in transaction mode (PgBouncer 1.18 tracks no prepared statements):
    /// each query is parsed, bound and run as an unnamed statement in one round trip,
    /// so it stays on the server connection it started on.
    Transaction,
}

/// A pool of `max_size` connections to `database_url`. Connections are handed out
/// without a test query each time: a broken one fails on use and is replaced.
pub fn connect_pool(database_url: &str, max_size: usize) -> anyhow::Result<DbPool> {
    connect_pool_via(database_url, max_size, Pooler::None)
}

/// A pool of `max_size` connections to `database_url` through `pooler`.
pub fn connect_pool_via(database_url: &str, max_size: usize, pooler: Pooler) -> anyhow::Result<DbPool> {
    build_pool(database_url, max_size, CHECKOUT_TIMEOUT, pooler)
}

/// A pool whose checkouts (waiting for a free connection, or making one) give up after `timeout`.
pub fn connect_pool_with_timeout(database_url: &str, max_size: usize, timeout: Duration) -> anyhow::Result<DbPool> {
    build_pool(database_url, max_size, timeout, Pooler::None)
}

fn build_pool(database_url: &str, max_size: usize, timeout: Duration, pooler: Pooler) -> anyhow::Result<DbPool> {
    use diesel_async::{AsyncConnection, CacheSize, SimpleAsyncConnection};
    use futures_util::FutureExt;
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |url| {
        async move {
            let mut conn = AsyncPgConnection::establish(url).await?;
            match pooler {
                // diesel-async is patched (vendor/diesel-async) to run unnamed statements
                // when its statement cache is off. A session setting would leak to the
                // pooler's other clients: set `jit` for the database there instead.
                Pooler::Transaction => conn.set_prepared_statement_cache_size(CacheSize::Disabled),
                // Every query here reads or writes a few rows by index. JIT compiling
                // costs 20 to 30 ms, and PostgreSQL starts it by estimated cost: at 100M
                // events a report's estimate passed the threshold (35 ms instead of 8).
                Pooler::None => conn
                    .batch_execute("SET jit = off")
                    .await
                    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?,
            }
            Ok(conn)
        }
        .boxed()
    });
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(database_url, config);
    Ok(Pool::builder(manager)
        .max_size(max_size)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()?)
}

/// Runs pending migrations, holding an advisory lock so that two servers
/// starting together do not both migrate.
pub async fn run_migrations(database_url: &str) -> anyhow::Result<()> {
    let url = database_url.to_string();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        use diesel::Connection;
        use diesel::RunQueryDsl;
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)?;
        diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_ID})")).execute(&mut conn)?;
        let applied = conn.run_pending_migrations(MIGRATIONS).map(|done| done.len());
        diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})")).execute(&mut conn)?;
        let applied = applied.map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
        if applied > 0 {
            tracing::info!(applied, "database migrated");
        }
        Ok(())
    })
    .await??;
    // Derived data SQL alone cannot build, for rollups older than it.
    let mut conn = <AsyncPgConnection as diesel_async::AsyncConnection>::establish(database_url).await?;
    let built = converting::build_if_missing(&mut conn).await?;
    if built > 0 {
        tracing::info!(built, "built the converting-member sets from the daily rollups");
    }
    Ok(())
}

/// Reverts every migration (used by the up/down/up test).
pub async fn revert_all_migrations(database_url: &str) -> anyhow::Result<()> {
    let url = database_url.to_string();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        use diesel::Connection;
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)?;
        conn.revert_all_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("revert failed: {e}"))?;
        Ok(())
    })
    .await?
}

/// Reverts the newest migrations down to and including `version` (e.g.
/// `20261203000030`), for checking what a migration does to data already there.
pub async fn revert_migrations_from(database_url: &str, version: &str) -> anyhow::Result<()> {
    let url = database_url.to_string();
    let version = version.to_string();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        use diesel::Connection;
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)?;
        loop {
            let applied = conn
                .applied_migrations()
                .map_err(|e| anyhow::anyhow!("reading migrations failed: {e}"))?;
            let Some(newest) = applied.iter().max() else { break };
            if newest.to_string().as_str() < version.as_str() {
                break;
            }
            conn.revert_last_migration(MIGRATIONS)
                .map_err(|e| anyhow::anyhow!("revert failed: {e}"))?;
        }
        Ok(())
    })
    .await?
}

/// Whether the connection answers `SELECT 1`.
pub async fn ping(conn: &mut AsyncPgConnection) -> DbResult<()> {
    use diesel_async::RunQueryDsl;
    diesel::sql_query("SELECT 1").execute(conn).await?;
    Ok(())
}

/// Escapes `%`, `_` and `\` so a user's search text matches literally in ILIKE.
pub fn contains_pattern(search: &str) -> String {
    let escaped = search.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}
