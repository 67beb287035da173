//! The HTTP surface: routes and the state they share.

mod dashboard;
mod export;
mod graphiql;
mod graphql;
mod health;
mod redirect;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use tower_http::trace::TraceLayer;

use crate::click_writer::ClickWriter;
use crate::db::DbPool;
use crate::graphql::AppSchema;
use crate::metrics::Metrics;

/// Link codes are looked up once and then served from memory; whether a click
/// counts is decided when it is stored, so a stale entry never miscounts.
const LINK_CACHE_TTL: Duration = Duration::from_secs(30);
const LINK_CACHE_SIZE: u64 = 200_000;

#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub pool: DbPool,
    pub metrics: Arc<Metrics>,
    pub clicks: ClickWriter,
    pub links: moka::future::Cache<String, Option<Arc<redirect::CachedLink>>>,
    /// Key for hashing shoppers' IP addresses; random per process unless configured.
    pub ip_hash_key: Arc<Vec<u8>>,
}

impl AppState {
    pub fn new(schema: AppSchema, pool: DbPool, metrics: Arc<Metrics>, ip_hash_key: Vec<u8>) -> Self {
        let clicks = ClickWriter::start(pool.clone(), metrics.clone());
        let links = moka::future::Cache::builder()
            .max_capacity(LINK_CACHE_SIZE)
            .time_to_live(LINK_CACHE_TTL)
            .build();
        AppState {
            schema,
            pool,
            metrics,
            clicks,
            links,
            ip_hash_key: Arc::new(ip_hash_key),
        }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/graphql", get(graphql::handle).post(graphql::handle))
        .route("/", get(dashboard::page))
        .route("/assets/{file}", get(dashboard::dashboard_asset))
        .route("/graphiql", get(graphiql::page))
        .route("/graphiql/vendor/{file}", get(graphiql::vendor_asset))
        .route("/r/{code}", get(redirect::follow))
        .route("/webhooks/{brand}/orders/{source}", post(webhooks::receive))
        .route("/export/offers.csv", get(export::offers))
        .route("/export/offers/{id}/memberships.csv", get(export::memberships))
        .route("/export/payments/{file}", get(export::payment))
        .route("/health", get(health::check))
        .route("/metrics", get(metrics))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.encode(),
    )
}
