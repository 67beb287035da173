//! The brand's own settings.

use diesel_async::AsyncPgConnection;
use diesel_async::scoped_futures::ScopedFutureExt;

use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;

use super::audit::audited;
use super::{App, AppError, AppResult, Caller};

use crate::db::models::BrandRow;
use crate::db::{DbError, brands};

/// Sets the secret that signs the brand's order webhooks. The secret itself stays
/// out of the audit trail.
pub async fn set_webhook_secret(
    app: &App,
    conn: &mut AsyncPgConnection,
    caller: Caller,
    secret: String,
) -> AppResult<BrandRow> {
    if secret.len() < 16 || secret.len() > 200 {
        return Err(AppError::bad_input("the secret must be 16 to 200 characters"));
    }
    let details = serde_json::json!({ "secretLength": secret.len() });
    let brand = audited(conn, caller, "setWebhookSecret", details, move |conn, caller| {
        async move {
            brands::set_webhook_secret(conn, caller.brand_id, &secret).await?;
            Ok(brands::find(conn, caller.brand_id).await?)
        }
        .scope_boxed()
    })
    .await?;
    app.webhook_signers().forget();
    Ok(brand)
}

/// The brand a webhook URL names, with the secret its deliveries are signed
/// with and its time zone.
#[derive(Debug)]
pub struct WebhookSigner {
    pub brand: BrandRow,
    pub secret: Option<String>,
    pub time_zone: Tz,
}

/// The brands webhooks named lately. Shops send orders in bursts, and each
/// delivery read its brand and secret again. An entry lives a second: a secret
/// set on this server is forgotten at once, one set elsewhere within that
/// second; a signature the cached secret refuses is checked again with the
/// stored one (a new secret works at once everywhere).
#[derive(Clone)]
pub struct WebhookSigners(moka::future::Cache<String, Arc<WebhookSigner>>);

impl WebhookSigners {
    pub fn new() -> Self {
        WebhookSigners(
            moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(1))
                .build(),
        )
    }

    /// The signer of `slug`: from memory unless `fresh`; none for a slug no brand has.
    pub async fn get(&self, app: &App, slug: &str, fresh: bool) -> AppResult<Option<Arc<WebhookSigner>>> {
        if !fresh && let Some(signer) = self.0.get(slug).await {
            return Ok(Some(signer));
        }
        let mut conn = app.tracking_conn().await?;
        let signer = match brands::find_by_slug_with_secret(&mut conn, slug).await {
            Ok((brand, secret)) => Arc::new(WebhookSigner {
                time_zone: brands::time_zone(brand.id, &brand.time_zone)?,
                brand,
                secret,
            }),
            Err(DbError::NotFound) => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        self.0.insert(slug.to_string(), signer.clone()).await;
        Ok(Some(signer))
    }

    /// Forgets every brand's (a secret changed).
    pub fn forget(&self) {
        self.0.invalidate_all();
    }
}

impl Default for WebhookSigners {
    fn default() -> Self {
        Self::new()
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
