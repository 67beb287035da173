//! The HTTP surface: routes and the state they share.

mod graphiql;
mod graphql;
mod health;

use axum::Router;
use axum::routing::get;
use tower_http::trace::TraceLayer;

use crate::db::DbPool;
use crate::graphql::AppSchema;

#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub pool: DbPool,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/graphql", get(graphql::handle).post(graphql::handle))
        .route("/graphiql", get(graphiql::page))
        .route("/graphiql/vendor/{file}", get(graphiql::vendor_asset))
        .route("/health", get(health::check))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
