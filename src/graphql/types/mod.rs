//! GraphQL object types, each built from rows.

pub mod brand;
pub mod conversion;
pub mod email;
pub mod member;
pub mod membership;
pub mod offer;
pub mod payment;
pub mod payout;
pub mod project;
pub mod reward;

use crate::graphql::error::{AppError, AppResult};

/// A stored enum value read back; a value the code does not know is an internal error.
pub fn stored<T>(parsed: Option<T>, what: &str, text: &str) -> AppResult<T> {
    parsed.ok_or_else(|| AppError::internal(anyhow::anyhow!("stored {what} {text:?} is unknown")))
}
