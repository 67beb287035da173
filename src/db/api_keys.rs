use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::DbResult;
use super::models::{ApiKeyRow, NewApiKeyRow};
use super::schema::{api_keys, brands};
use crate::domain::api_key::{self, NewApiKey};
use crate::domain::enums::Role;
use crate::domain::ids::BrandId;

/// Makes a key for the brand; the returned secret is shown once and never stored.
pub async fn create(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    role: Role,
    label: &str,
) -> DbResult<(ApiKeyRow, String)> {
    let NewApiKey {
        secret,
        hash,
        display_prefix,
    } = api_key::generate();
    let row = diesel::insert_into(api_keys::table)
        .values(NewApiKeyRow {
            brand_id,
            role: role.as_str(),
            key_hash: &hash,
            key_prefix: &display_prefix,
            label,
        })
        .returning(ApiKeyRow::as_returning())
        .get_result(conn)
        .await?;
    Ok((row, secret))
}

/// The unrevoked key a presented secret belongs to, with its brand's time zone.
pub async fn find_active_by_secret(
    conn: &mut AsyncPgConnection,
    secret: &str,
) -> DbResult<Option<(ApiKeyRow, String)>> {
    Ok(api_keys::table
        .inner_join(brands::table)
        .filter(api_keys::key_hash.eq(api_key::hash(secret)))
        .filter(api_keys::revoked_at.is_null())
        .select((ApiKeyRow::as_select(), brands::time_zone))
        .first(conn)
        .await
        .optional()?)
}
