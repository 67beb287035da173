//! Relay-style connections over keyset pages.

use async_graphql::connection::{Connection, CursorType, Edge, OpaqueCursor};
use async_graphql::{ObjectType, OutputType};

use super::error::{AppError, AppResult};
use crate::app::records::{Page, PageRequest};
use crate::domain::ids::EntityId;

/// An opaque cursor holding the row id of an edge.
pub type IdCursor = OpaqueCursor<i64>;

pub const DEFAULT_PAGE_SIZE: i32 = 20;
pub const MAX_PAGE_SIZE: i32 = 100;

/// Reads `first` and `after`; a bad value is `BAD_USER_INPUT`.
pub fn page_request(first: Option<i32>, after: Option<String>) -> AppResult<PageRequest> {
    let first = first.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(0..=MAX_PAGE_SIZE).contains(&first) {
        return Err(AppError::bad_input(format!(
            "first must be between 0 and {MAX_PAGE_SIZE}"
        )));
    }
    let before_id = after
        .map(|cursor| IdCursor::decode_cursor(&cursor).map(|c| c.0))
        .transpose()
        .map_err(|_| AppError::bad_input("after is not a cursor this list gave out"))?;
    Ok(PageRequest {
        before_id,
        limit: i64::from(first),
    })
}

/// Turns a page of rows into a connection, each edge's cursor being its row id.
pub fn to_connection<Row, Node, Fields, Id: EntityId>(
    page: Page<Row>,
    had_cursor: bool,
    fields: Fields,
    id_of: impl Fn(&Row) -> Id,
    to_node: impl Fn(Row) -> Node,
) -> Connection<IdCursor, Node, Fields>
where
    Node: OutputType,
    Fields: ObjectType,
{
    let mut connection = Connection::with_additional_fields(had_cursor, page.has_next_page, fields);
    connection.edges = page
        .rows
        .into_iter()
        .map(|row| Edge::new(OpaqueCursor(id_of(&row).raw()), to_node(row)))
        .collect();
    connection
}
