//! Keyset pages: newest first by id, one extra row fetched to know if more follow.

use crate::domain::ids::EntityId;

/// Which slice of a list to read.
#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    /// Rows with an id below this one (the last id of the previous page).
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// One page of rows, and whether another page follows.
pub struct Page<T> {
    pub rows: Vec<T>,
    pub has_next_page: bool,
}

impl<T> Page<T> {
    /// Cuts the extra row fetched with `limit + 1` off.
    pub fn from_overfetched(mut rows: Vec<T>, limit: i64) -> Self {
        let has_next_page = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        Page { rows, has_next_page }
    }
}

/// The caller gave a cursor that is not in the list (any more).
#[derive(Debug)]
pub struct UnknownCursor;

impl<T> Page<T> {
    /// A page of an already sorted list: the `limit` rows after the row whose id is
    /// `request.before_id` (the cursor names the last row of the previous page).
    pub fn after_id<Id: EntityId>(
        rows: Vec<T>,
        request: PageRequest,
        id_of: impl Fn(&T) -> Id,
    ) -> Result<Self, UnknownCursor> {
        let skip = match request.before_id {
            Some(id) => {
                rows.iter()
                    .position(|row| id_of(row).raw() == id)
                    .ok_or(UnknownCursor)?
                    + 1
            }
            None => 0,
        };
        let rows: Vec<T> = rows.into_iter().skip(skip).take(request.limit as usize + 1).collect();
        Ok(Page::from_overfetched(rows, request.limit))
    }
}
