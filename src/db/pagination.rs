//! Keyset pages: newest first by id, one extra row fetched to know if more follow.

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
        Page {
            rows,
            has_next_page,
        }
    }
}
