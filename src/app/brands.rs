//! The brand's own settings.

use diesel_async::AsyncPgConnection;
use diesel_async::scoped_futures::ScopedFutureExt;

use super::audit::audited;
use super::{AppError, AppResult, Caller};
use chrono_tz::Tz;

use crate::db::models::BrandRow;
use crate::db::{DbError, brands};

/// Sets the secret that signs the brand's order webhooks. The secret itself stays
/// out of the audit trail.
pub async fn set_webhook_secret(conn: &mut AsyncPgConnection, caller: Caller, secret: String) -> AppResult<BrandRow> {
    if secret.len() < 16 || secret.len() > 200 {
        return Err(AppError::bad_input("the secret must be 16 to 200 characters"));
    }
    let details = serde_json::json!({ "secretLength": secret.len() });
    audited(conn, caller, "setWebhookSecret", details, move |conn, caller| {
        async move {
            brands::set_webhook_secret(conn, caller.brand_id, &secret).await?;
            Ok(brands::find(conn, caller.brand_id).await?)
        }
        .scope_boxed()
    })
    .await
}

/// The brand a webhook URL names, with the secret its deliveries are signed
/// with and its time zone; none for a slug no brand has.
pub async fn find_by_slug_with_secret(
    conn: &mut AsyncPgConnection,
    slug: &str,
) -> AppResult<Option<(BrandRow, Option<String>, Tz)>> {
    match brands::find_by_slug_with_secret(conn, slug).await {
        Ok((brand, secret)) => {
            let time_zone = brands::time_zone(brand.id, &brand.time_zone)?;
            Ok(Some((brand, secret, time_zone)))
        }
        Err(DbError::NotFound) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// The brand's own record (its name, currency, time zone).
pub async fn find(conn: &mut AsyncPgConnection, caller: Caller) -> AppResult<BrandRow> {
    Ok(brands::find(conn, caller.brand_id).await?)
}

/// Creates a brand (the `brand create` command): a name of 1 to 200 characters and
/// an IANA time zone; its slug comes from the name.
pub async fn create(conn: &mut AsyncPgConnection, name: &str, time_zone: &str) -> AppResult<BrandRow> {
    let name = crate::domain::validate::name("name", name).map_err(AppError::BadUserInput)?;
    let zone = crate::domain::validate::time_zone(time_zone).map_err(AppError::BadUserInput)?;
    let slug = crate::domain::validate::slugify(&name);
    Ok(brands::create(conn, &name, &slug, zone.name()).await?)
}
