//! Who a request is: the caller an API key names.

use chrono::{Duration, Utc};
use diesel_async::AsyncPgConnection;

use super::Caller;
use crate::db::{DbResult, api_keys, brands};

/// A key's last use is written at most this often: a busy key costs one write a minute.
const LAST_USE_RESOLUTION: Duration = Duration::minutes(1);

/// The caller an API key's secret names; none for an unknown or revoked key (read
/// on every request, so a revocation holds at once on every server). A stored role
/// or time zone the code does not know is an error, never a guess.
pub async fn caller_of_key(conn: &mut AsyncPgConnection, secret: &str) -> DbResult<Option<Caller>> {
    let Some((key, time_zone)) = api_keys::find_active_by_secret(conn, secret).await? else {
        return Ok(None);
    };
    if key.last_used_at.is_none_or(|at| at < Utc::now() - LAST_USE_RESOLUTION) {
        api_keys::touch(conn, key.brand_id, key.id).await?;
    }
    let time_zone = brands::time_zone(key.brand_id, &time_zone)?;
    Ok(Some(Caller {
        brand_id: key.brand_id,
        api_key_id: key.id,
        role: key.role,
        time_zone,
    }))
}
