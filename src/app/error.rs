//! The one error type workflows and resolvers return, with a code every
//! surface shows (GraphQL `extensions.code`, the REST error body). It
//! deliberately does not implement `Display`: async-graphql turns any `Display`
//! value into a code-less error, which would leak database messages to clients.

use std::sync::Arc;

use crate::db::DbError;

#[derive(Debug, Clone)]
pub enum AppError {
    BadUserInput(String),
    Unauthenticated,
    Forbidden,
    /// What was not found, e.g. "offer".
    NotFound(&'static str),
    Conflict(String),
    Unavailable,
    /// An outside service (Shopify, PayPal) did not answer; the text says which.
    ServiceUnavailable(String),
    /// Logged with its chain; clients only see "internal error".
    Internal(Arc<anyhow::Error>),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadUserInput(_) => "BAD_USER_INPUT",
            AppError::Unauthenticated => "UNAUTHENTICATED",
            AppError::Forbidden => "FORBIDDEN",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::Conflict(_) => "CONFLICT",
            AppError::Unavailable | AppError::ServiceUnavailable(_) => "UNAVAILABLE",
            AppError::Internal(_) => "INTERNAL",
        }
    }

    pub fn message(&self) -> String {
        match self {
            AppError::BadUserInput(message) | AppError::Conflict(message) | AppError::ServiceUnavailable(message) => {
                message.clone()
            }
            AppError::Unauthenticated => "a valid API key is required: send `Authorization: Bearer <key>`".into(),
            AppError::Forbidden => "this API key's role may not do that".into(),
            AppError::NotFound(what) => format!("{what} not found"),
            AppError::Unavailable => "the database is unavailable; try again shortly".into(),
            AppError::Internal(_) => "internal error".into(),
        }
    }

    pub fn bad_input(message: impl Into<String>) -> Self {
        AppError::BadUserInput(message.into())
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        AppError::Internal(Arc::new(error.into()))
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(error: diesel::result::Error) -> Self {
        DbError::from(error).into()
    }
}

impl From<DbError> for AppError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::NotFound => AppError::NotFound("record"),
            DbError::UniqueViolation(constraint) => AppError::Conflict(unique_message(&constraint)),
            DbError::CheckViolation(constraint) => {
                AppError::BadUserInput(format!("the input breaks the rule {constraint}"))
            }
            DbError::ForeignKeyViolation(_) => {
                AppError::BadUserInput("the input refers to something that does not exist".into())
            }
            DbError::Unavailable(reason) => {
                tracing::warn!(%reason, "database unavailable");
                AppError::Unavailable
            }
            DbError::Query(source) => AppError::internal(source),
        }
    }
}

/// Says in words which unique rule a write broke, by the constraint's name.
fn unique_message(constraint: &str) -> String {
    match constraint {
        "members_brand_email_key" => "a member with this email already exists".into(),
        "projects_brand_name_key" => "a project with this name already exists".into(),
        "promo_codes_brand_code_key" => "this promo code is already in use".into(),
        "link_codes_pkey" | "memberships_brand_link_code_key" => "this link code is already in use".into(),
        "conversions_external_order_key" => "an order with this id was already recorded".into(),
        "payments_idempotency_key" => "a payment with this idempotency key already exists".into(),
        other => format!("this conflicts with an existing record ({other})"),
    }
}

impl From<crate::db::pagination::UnknownCursor> for AppError {
    fn from(_: crate::db::pagination::UnknownCursor) -> Self {
        AppError::BadUserInput("after is not a cursor of this list (any more)".into())
    }
}
