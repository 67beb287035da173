//! Sales Tracking: the GraphQL API behind an influencer and affiliate sales dashboard.
//!
//! `domain` holds pure rules, `db` the PostgreSQL layer, `graphql` the API
//! schema and `http` the routes; `main.rs` only reads configuration and serves.

pub mod click_writer;
pub mod db;
pub mod demo;
pub mod domain;
pub mod email;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod payout_provider;
pub mod seed;

use std::sync::Arc;

use db::DbPool;

/// What the application needs beyond the database.
pub struct AppConfig {
    /// Where shoppers reach this server; tracking links start with it.
    pub public_url: String,
    /// Key for hashing shoppers' IP addresses.
    pub ip_hash_key: Vec<u8>,
    /// Sends queued emails; without it they wait in the outbox.
    pub mailer: Option<email::Mailer>,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            public_url: "http://127.0.0.1:8080".into(),
            ip_hash_key: rand::random::<[u8; 32]>().to_vec(),
            mailer: None,
        }
    }
}

/// The whole application as a router, for `serve` and for tests. Starts the
/// click writer, which ends once the router is dropped, and the email sender
/// when a mailer is configured.
pub fn app(pool: DbPool, config: AppConfig) -> axum::Router {
    let metrics = Arc::new(metrics::Metrics::new());
    let wake = email::EmailWake::default();
    match config.mailer {
        Some(mailer) => {
            email::spawn_sender(pool.clone(), mailer, wake.clone());
        }
        None => tracing::warn!("no SMTP server configured (--smtp-url): emails wait in the outbox"),
    }
    let schema = graphql::build_schema(pool.clone(), metrics.clone(), config.public_url, wake);
    http::router(http::AppState::new(schema, pool, metrics, config.ip_hash_key))
}
