//! The one error shape of the REST surfaces (webhooks, exports, metrics, panics):
//! an HTTP status and `{"error": {"code": …, "message": …}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppError;

#[derive(Debug)]
pub struct RestError {
    pub status: StatusCode,
    /// Stable and machine-readable, e.g. `BAD_REQUEST`, `THROTTLED`.
    pub code: String,
    /// Words for a person.
    pub message: String,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl RestError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        RestError {
            status,
            code: code.into(),
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn with_retry_after(self, seconds: u64) -> Self {
        RestError {
            retry_after: Some(seconds),
            ..self
        }
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            axum::Json(json!({ "error": { "code": self.code, "message": self.message } })),
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

/// A workflow's refusal as an HTTP answer: the same code and words GraphQL gives.
impl From<AppError> for RestError {
    fn from(error: AppError) -> Self {
        if let AppError::Internal(source) = &error {
            tracing::error!(error = ?source, "internal error");
        }
        let status = match error {
            AppError::BadUserInput(_) => StatusCode::BAD_REQUEST,
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Unavailable | AppError::ServiceUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        RestError::new(status, error.code(), error.message())
    }
}
