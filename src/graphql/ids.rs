//! Public ids as GraphQL `ID`s (the format is `domain::public_id`'s).

use async_graphql::ID;

use super::error::{AppError, AppResult};
use crate::domain::ids::EntityId;
use crate::domain::public_id::parse;

pub fn encode(id: impl EntityId) -> ID {
    ID(id.to_string())
}

/// Reads an id of `T`'s kind; anything else is `BAD_USER_INPUT`.
pub fn decode<T: EntityId>(id: &ID) -> AppResult<T> {
    parse(id.as_str()).map_err(|e| AppError::bad_input(e.to_string()))
}

/// The ids as given, for audit details.
pub fn id_strings(ids: &[ID]) -> Vec<&str> {
    ids.iter().map(|id| id.as_str()).collect()
}

/// The most ids one mutation takes.
pub const MAX_IDS: usize = 500;

/// Decodes a non-empty list of at most `MAX_IDS` ids, without repeats.
pub fn decode_list<T: EntityId>(ids: &[ID]) -> AppResult<Vec<T>> {
    if ids.is_empty() {
        return Err(AppError::bad_input("give at least one id"));
    }
    if ids.len() > MAX_IDS {
        return Err(AppError::bad_input(format!("give at most {MAX_IDS} ids at once")));
    }
    let mut decoded = decode_all(ids)?;
    decoded.sort_unstable();
    decoded.dedup();
    Ok(decoded)
}

pub fn decode_all<T: EntityId>(ids: &[ID]) -> AppResult<Vec<T>> {
    ids.iter().map(decode).collect()
}
