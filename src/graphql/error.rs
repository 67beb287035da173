//! The one error type resolvers return. It deliberately does not implement
//! `Display`: async-graphql turns any `Display` value into a code-less error,
//! which would leak database messages to clients. Everything goes through
//! `From<ApiError> for async_graphql::Error`, which always sets `extensions.code`.

use std::sync::Arc;

use async_graphql::ErrorExtensions;

use crate::db::DbError;

#[derive(Debug, Clone)]
pub enum ApiError {
    BadUserInput(String),
    Unauthenticated,
    Forbidden,
    /// What was not found, e.g. "offer".
    NotFound(&'static str),
    Conflict(String),
    Unavailable,
    /// Logged with its chain; clients only see "internal error".
    Internal(Arc<anyhow::Error>),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadUserInput(_) => "BAD_USER_INPUT",
            ApiError::Unauthenticated => "UNAUTHENTICATED",
            ApiError::Forbidden => "FORBIDDEN",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::Unavailable => "UNAVAILABLE",
            ApiError::Internal(_) => "INTERNAL",
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::BadUserInput(message) | ApiError::Conflict(message) => message.clone(),
            ApiError::Unauthenticated => "a valid API key is required: send `Authorization: Bearer <key>`".into(),
            ApiError::Forbidden => "this API key's role may not do that".into(),
            ApiError::NotFound(what) => format!("{what} not found"),
            ApiError::Unavailable => "the database is unavailable; try again shortly".into(),
            ApiError::Internal(_) => "internal error".into(),
        }
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        ApiError::BadUserInput(message.into())
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(Arc::new(error.into()))
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        if let ApiError::Internal(source) = &error {
            tracing::error!(error = ?source, "internal error");
        }
        let code = error.code();
        async_graphql::Error::new(error.message()).extend_with(|_, extensions| extensions.set("code", code))
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        DbError::from(error).into()
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::NotFound => ApiError::NotFound("record"),
            DbError::UniqueViolation(constraint) => ApiError::Conflict(unique_message(&constraint)),
            DbError::CheckViolation(constraint) => {
                ApiError::BadUserInput(format!("the input breaks the rule {constraint}"))
            }
            DbError::ForeignKeyViolation(_) => {
                ApiError::BadUserInput("the input refers to something that does not exist".into())
            }
            DbError::Unavailable(reason) => {
                tracing::warn!(%reason, "database unavailable");
                ApiError::Unavailable
            }
            DbError::Query(source) => ApiError::internal(source),
        }
    }
}

/// Says in words which unique rule a write broke, by the constraint's name.
fn unique_message(constraint: &str) -> String {
    match constraint {
        "members_brand_email_key" => "a member with this email already exists".into(),
        "projects_brand_name_key" => "a project with this name already exists".into(),
        "promo_codes_brand_code_key" => "this promo code is already in use".into(),
        "memberships_link_code_key" => "this link code is already in use".into(),
        "conversions_external_order_key" => "an order with this id was already recorded".into(),
        "payments_idempotency_key" => "a payment with this idempotency key already exists".into(),
        other => format!("this conflicts with an existing record ({other})"),
    }
}

/// Loaders share one error among every resolver waiting on the batch.
impl From<Arc<DbError>> for ApiError {
    fn from(error: Arc<DbError>) -> Self {
        match &*error {
            DbError::Unavailable(_) => ApiError::Unavailable,
            other => ApiError::internal(anyhow::anyhow!("batch load failed: {other}")),
        }
    }
}

impl From<crate::db::pagination::UnknownCursor> for ApiError {
    fn from(_: crate::db::pagination::UnknownCursor) -> Self {
        ApiError::BadUserInput("after is not a cursor of this list (any more)".into())
    }
}
