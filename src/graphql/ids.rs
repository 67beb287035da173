//! Public ids as GraphQL `ID`s (the format is `domain::public_id`'s).

use async_graphql::ID;

use super::error::{AppError, AppResult};
pub use crate::domain::public_id::Kind;
use crate::domain::public_id::{format, parse};

pub fn encode(kind: Kind, id: i64) -> ID {
    ID(format(kind, id))
}

/// Reads an id of `kind`; anything else is `BAD_USER_INPUT`.
pub fn decode(kind: Kind, id: &ID) -> AppResult<i64> {
    parse(kind, id.as_str()).map_err(|e| AppError::bad_input(e.to_string()))
}

/// The ids as given, for audit details.
pub fn id_strings(ids: &[ID]) -> Vec<&str> {
    ids.iter().map(|id| id.as_str()).collect()
}

/// The most ids one mutation takes.
pub const MAX_IDS: usize = 500;

/// Decodes a non-empty list of at most `MAX_IDS` ids of `kind`, without repeats.
pub fn decode_list(kind: Kind, ids: &[ID]) -> AppResult<Vec<i64>> {
    if ids.is_empty() {
        return Err(AppError::bad_input("give at least one id"));
    }
    if ids.len() > MAX_IDS {
        return Err(AppError::bad_input(format!("give at most {MAX_IDS} ids at once")));
    }
    let mut decoded = decode_all(kind, ids)?;
    decoded.sort_unstable();
    decoded.dedup();
    Ok(decoded)
}

pub fn decode_all(kind: Kind, ids: &[ID]) -> AppResult<Vec<i64>> {
    ids.iter().map(|id| decode(kind, id)).collect()
}
