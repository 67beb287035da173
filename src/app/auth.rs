//! Who a request is: the caller an API key names.

use diesel_async::AsyncPgConnection;

use super::Caller;
use crate::db::{DbResult, api_keys, brands};

/// The caller an API key's secret names; none for an unknown or revoked key. A
/// stored role or time zone the code does not know is an error, never a guess.
pub async fn caller_of_key(conn: &mut AsyncPgConnection, secret: &str) -> DbResult<Option<Caller>> {
    let Some((key, time_zone)) = api_keys::find_active_by_secret(conn, secret).await? else {
        return Ok(None);
    };
    let time_zone = brands::time_zone(key.brand_id, &time_zone)?;
    Ok(Some(Caller {
        brand_id: key.brand_id,
        api_key_id: key.id,
        role: key.role,
        time_zone,
    }))
}
