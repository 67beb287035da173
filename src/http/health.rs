use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::{AppState, Draining};

/// How long a health check waits for the database: a hanging database is not ready.
const DATABASE_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /livez`: 200 while the process serves at all (no database involved).
pub async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /health` and `GET /readyz`: 200 when the database answers within two
/// seconds, 503 otherwise.
pub async fn check(State(state): State<AppState>, draining: Option<Extension<Draining>>) -> (StatusCode, Json<Value>) {
    if draining.is_some_and(|Extension(draining)| draining.is_set()) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "draining", "database": "unknown" })),
        );
    }
    let database_ok = state.app.database_answers(DATABASE_CHECK_TIMEOUT).await;
    if database_ok {
        (StatusCode::OK, Json(json!({ "status": "ok", "database": "ok" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "database": "unreachable" })),
        )
    }
}
