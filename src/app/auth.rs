//! Who a request is: the caller an API key names.

use diesel_async::AsyncPgConnection;

use super::Caller;
use crate::db::{DbError, DbResult, api_keys};

/// The caller an API key's secret names; none for an unknown or revoked key. A
/// stored role or time zone the code does not know is an error, never a guess.
pub async fn caller_of_key(conn: &mut AsyncPgConnection, secret: &str) -> DbResult<Option<Caller>> {
    let Some((key, time_zone)) = api_keys::find_active_by_secret(conn, secret).await? else {
        return Ok(None);
    };
    let corrupt = |what: String| DbError::Query(diesel::result::Error::DeserializationError(what.into()));
    let time_zone = time_zone
        .parse()
        .map_err(|_| corrupt(format!("brand {} has time zone {time_zone:?}", key.brand_id)))?;
    Ok(Some(Caller {
        brand_id: key.brand_id,
        api_key_id: key.id,
        role: key.role,
        time_zone,
    }))
}
