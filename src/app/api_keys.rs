//! A brand's API keys: made, listed and revoked by its admins, each change audited.

use diesel_async::AsyncPgConnection;
use diesel_async::scoped_futures::ScopedFutureExt;

use super::audit::audited;
use super::{AppError, AppResult, Caller};
use crate::db::api_keys;
use crate::db::models::ApiKeyRow;
use crate::domain::enums::Role;
use crate::domain::ids::ApiKeyId;
use crate::domain::validate;

pub async fn list(conn: &mut AsyncPgConnection, caller: Caller) -> AppResult<Vec<ApiKeyRow>> {
    Ok(api_keys::list(conn, caller.brand_id).await?)
}

/// Makes a key; its secret is returned this once and only its hash is kept.
pub async fn create(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    label: &str,
    role: Role,
) -> AppResult<(ApiKeyRow, String)> {
    let label = validate::name("label", label).map_err(AppError::BadUserInput)?;
    let details = serde_json::json!({ "label": label, "role": role.as_str() });
    audited(conn, caller, "createApiKey", details, move |conn, caller| {
        async move { Ok(api_keys::create(conn, caller.brand_id, role, &label).await?) }.scope_boxed()
    })
    .await
}

/// Revokes a key: from the next request on it is refused. The key making the
/// request cannot revoke itself, so an admin never locks themselves out by mistake:
/// make a new key first, then revoke the old one with it.
pub async fn revoke(conn: &mut AsyncPgConnection, caller: Caller, id: ApiKeyId) -> AppResult<ApiKeyRow> {
    if id == caller.api_key_id {
        return Err(AppError::Conflict(
            "a key cannot revoke itself: revoke it with another admin key".into(),
        ));
    }
    let details = serde_json::json!({ "apiKeyId": id.to_string() });
    audited(conn, caller, "revokeApiKey", details, move |conn, caller| {
        async move {
            api_keys::revoke(conn, caller.brand_id, id)
                .await?
                .ok_or(AppError::NotFound("API key"))
        }
        .scope_boxed()
    })
    .await
}

/// Makes a key for the brand `slug` (the `api-key create` command, run by an
/// operator, not through the API): the brand and the key's secret, shown once.
pub async fn create_for_brand(
    conn: &mut AsyncPgConnection,
    slug: &str,
    role: Role,
    label: &str,
) -> AppResult<(crate::db::models::BrandRow, String)> {
    let brand = match crate::db::brands::find_by_slug(conn, slug).await {
        Err(crate::db::DbError::NotFound) => return Err(AppError::NotFound("brand")),
        found => found?,
    };
    let (_, secret) = api_keys::create(conn, brand.id, role, label).await?;
    Ok((brand, secret))
}
