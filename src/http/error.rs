//! The one error shape of the REST surfaces (webhooks, exports, metrics, panics):
//! an HTTP status and `{"error": {"code": …, "message": …}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug)]
pub struct RestError {
    pub status: StatusCode,
    /// Stable and machine-readable, e.g. `BAD_REQUEST`, `THROTTLED`.
    pub code: String,
    /// Words for a person.
    pub message: String,
}

impl RestError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        RestError {
            status,
            code: code.into(),
            message: message.into(),
        }
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({ "error": { "code": self.code, "message": self.message } })),
        )
            .into_response()
    }
}
