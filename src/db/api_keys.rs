use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::DbResult;
use super::models::{ApiKeyRow, NewApiKeyRow};
use super::schema::{api_keys, brands};
use crate::domain::api_key::{self, NewApiKey};
use crate::domain::enums::Role;
use crate::domain::ids::{ApiKeyId, BrandId};

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

/// The brand's keys, revoked ones too, oldest first.
pub async fn list(conn: &mut AsyncPgConnection, brand_id: BrandId) -> DbResult<Vec<ApiKeyRow>> {
    Ok(api_keys::table
        .filter(api_keys::brand_id.eq(brand_id))
        .order(api_keys::id)
        .select(ApiKeyRow::as_select())
        .load(conn)
        .await?)
}

/// Revokes a key of the brand (a revoked one keeps its first revocation time).
pub async fn revoke(conn: &mut AsyncPgConnection, brand_id: BrandId, id: ApiKeyId) -> DbResult<Option<ApiKeyRow>> {
    Ok(diesel::update(api_keys::table.find((brand_id, id)))
        .set(api_keys::revoked_at.eq(diesel::dsl::sql::<
            diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
        >("COALESCE(revoked_at, now())")))
        .returning(ApiKeyRow::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}

/// Notes that the key was used now.
pub async fn touch(conn: &mut AsyncPgConnection, brand_id: BrandId, id: ApiKeyId) -> DbResult<()> {
    diesel::update(api_keys::table.find((brand_id, id)))
        .set(api_keys::last_used_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    Ok(())
}
