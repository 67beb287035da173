use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use super::AppState;

/// `GET /health`: 200 when the database answers, 503 otherwise.
pub async fn check(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database_ok = match state.pool.get().await {
        Ok(mut conn) => diesel::sql_query("SELECT 1").execute(&mut conn).await.is_ok(),
        Err(_) => false,
    };
    if database_ok {
        (StatusCode::OK, Json(json!({ "status": "ok", "database": "ok" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "database": "unreachable" })),
        )
    }
}
