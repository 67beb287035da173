//! Sales Tracking: the GraphQL API behind an influencer and affiliate sales dashboard.
//!
//! `domain` holds pure rules, `db` the PostgreSQL layer, `graphql` the API
//! schema and `http` the routes; `main.rs` only reads configuration and serves.

pub mod db;
pub mod demo;
pub mod domain;
pub mod graphql;
pub mod http;

use db::DbPool;

/// The whole application as a router, for `serve` and for tests.
pub fn app(pool: DbPool) -> axum::Router {
    let schema = graphql::build_schema(pool.clone());
    http::router(http::AppState { schema, pool })
}
