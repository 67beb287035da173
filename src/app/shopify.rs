//! A brand's Shopify store: connected with an Admin API token the shop vouches
//! for (kept sealed, never shown again), its order webhooks set up by a job, and
//! disconnected by an admin.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use diesel_async::scoped_futures::ScopedFutureExt;

use super::audit::audited;
use super::jobs::{Handler, Job, Lease, Outcome, backoff};
use super::ports::{ShopAccess, ShopClient, ShopError};
use super::secrets::SecretsKeys;
use super::{App, AppError, AppResult, Caller};
use crate::db::jobs::{self as job_rows, NewJob};
pub use crate::db::shopify::StoreRow;
use crate::db::shopify::{self as stores, Connected};
use crate::db::{DbError, DbPool, brands};
use crate::domain::enums::{JobKind, ShopConnection, ShopStatus};
use crate::domain::ids::BrandId;
use crate::domain::validate;

/// What the server needs of a token: orders for attribution and imports,
/// discounts for promo codes.
pub const REQUIRED_SCOPES: [&str; 2] = ["read_orders", "write_discounts"];

/// The order webhooks a store is subscribed to, all sent to the brand's order route.
pub const WEBHOOK_TOPICS: [&str; 5] = [
    "ORDERS_CREATE",
    "ORDERS_PAID",
    "ORDERS_CANCELLED",
    "REFUNDS_CREATE",
    "APP_UNINSTALLED",
];

/// A setup job's tries before it gives up (its error stays on the store).
const SETUP_ATTEMPTS: i32 = 8;

/// A custom app's token, as an admin pastes it.
pub struct TokenConnection {
    pub shop_domain: String,
    pub access_token: String,
    /// The custom app's API secret key, which signs the webhooks Shopify sends
    /// for it; none keeps the brand's webhook secret as it is.
    pub webhook_secret: Option<String>,
}

/// The brand's store, connected or not (none if it never had one).
pub async fn store(conn: &mut AsyncPgConnection, caller: &Caller) -> AppResult<Option<StoreRow>> {
    Ok(stores::find(conn, caller.brand_id).await?)
}

/// Connects the brand's store with a custom app's Admin API token: the token is
/// checked with Shopify first (it must work and hold `REQUIRED_SCOPES`), kept
/// sealed, and the webhooks are set up by a job.
pub async fn connect_with_token(app: &App, caller: Caller, input: TokenConnection) -> AppResult<StoreRow> {
    let domain = validate::shop_domain(&input.shop_domain).map_err(AppError::BadUserInput)?;
    let token = input.access_token.trim().to_string();
    if token.is_empty() || token.len() > 200 {
        return Err(AppError::bad_input("accessToken must be 1 to 200 characters"));
    }
    let webhook_secret = input.webhook_secret.map(|s| s.trim().to_string());
    if webhook_secret.as_ref().is_some_and(|s| s.len() < 16 || s.len() > 200) {
        return Err(AppError::bad_input("webhookSecret must be 16 to 200 characters"));
    }
    let secrets = app.secrets().ok_or_else(|| {
        AppError::Conflict("this server has no secrets key (--secrets-key) to keep shop tokens with".into())
    })?;
    let access = ShopAccess { domain, token };
    let shop = app.shops().shop(&access).await.map_err(|error| match error {
        ShopError::Unauthorized => {
            AppError::bad_input(format!("Shopify refused this access token for {}", access.domain))
        }
        ShopError::Refused(message) => AppError::BadUserInput(message),
        unavailable => AppError::ServiceUnavailable(unavailable.to_string()),
    })?;
    let missing = missing_scopes(&shop.scopes);
    if !missing.is_empty() {
        return Err(AppError::bad_input(format!(
            "the token lacks the Admin API scopes {}: add them to the app in Shopify and paste its new token",
            missing.join(", ")
        )));
    }
    let connection = NewConnection {
        access,
        shop_name: shop.name,
        scopes: shop.scopes,
        via: ShopConnection::AccessToken,
        webhook_secret,
    };
    keep_connection(
        app,
        &mut *app.conn().await?,
        caller,
        secrets,
        "connectShopifyStore",
        connection,
    )
    .await
}

/// How long an install link works.
const INSTALL_EXPIRES_AFTER: chrono::Duration = chrono::Duration::minutes(10);

/// An install an admin started: where to send them to approve the app.
pub struct InstallStart {
    pub authorization_url: String,
    pub expires_at: DateTime<Utc>,
}

/// Starts installing this server's Shopify app on `shop_domain` for the caller's
/// brand: Shopify's authorization page, with a `state` that the callback takes
/// once, within ten minutes, for this brand and shop only.
pub async fn start_install(app: &App, caller: Caller, shop_domain: &str) -> AppResult<InstallStart> {
    let domain = validate::shop_domain(shop_domain).map_err(AppError::BadUserInput)?;
    let shopify_app = app.shopify_app().ok_or_else(|| {
        AppError::Conflict("this server has no Shopify app (--shopify-api-key, --shopify-api-secret)".into())
    })?;
    if app.secrets().is_none() {
        return Err(AppError::Conflict(
            "this server has no secrets key (--secrets-key) to keep shop tokens with".into(),
        ));
    }
    let state: String = rand::random::<[u8; 32]>().iter().map(|b| format!("{b:02x}")).collect();
    let expires_at = Utc::now() + INSTALL_EXPIRES_AFTER;
    let mut url = url::Url::parse(&format!("{}/admin/oauth/authorize", app.shops().admin_url(&domain)))
        .map_err(|e| AppError::internal(anyhow::anyhow!("the Shopify admin URL is not a URL: {e}")))?;
    url.query_pairs_mut()
        .append_pair("client_id", &shopify_app.api_key)
        .append_pair("scope", &REQUIRED_SCOPES.join(","))
        .append_pair("redirect_uri", &install_callback(app))
        .append_pair("state", &state);
    let details = serde_json::json!({ "shopDomain": domain });
    audited(
        &mut *app.conn().await?,
        caller,
        "startShopifyInstall",
        details,
        move |conn, caller| {
            async move {
                let hash = state_hash(&state);
                stores::start_install(conn, &hash, caller.brand_id, caller.api_key_id, &domain, expires_at).await?;
                Ok(())
            }
            .scope_boxed()
        },
    )
    .await?;
    Ok(InstallStart {
        authorization_url: url.to_string(),
        expires_at,
    })
}

/// Where Shopify sends the merchant back after they approve the app.
pub fn install_callback(app: &App) -> String {
    format!("{}/shopify/callback", app.public_url().trim_end_matches('/'))
}

fn state_hash(state: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(state.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Why an install callback was refused.
#[derive(Debug)]
pub enum InstallRefusal {
    /// This server has no Shopify app.
    NotConfigured,
    /// The query's `hmac` is not Shopify's.
    BadSignature,
    /// The `shop` parameter is not a store's domain.
    BadShop(String),
    /// The state is unknown, used, expired, or for another shop.
    BadState,
    /// Shopify refused the code, or the token lacks a scope.
    Refused(String),
    Failed(AppError),
}

impl From<AppError> for InstallRefusal {
    fn from(error: AppError) -> Self {
        InstallRefusal::Failed(error)
    }
}

impl From<DbError> for InstallRefusal {
    fn from(error: DbError) -> Self {
        InstallRefusal::Failed(error.into())
    }
}

/// Completes an install from Shopify's callback (its query, as received): checks
/// the signature, the shop and the state, exchanges the code for an offline
/// token, and connects the store to the brand that started the install.
pub async fn complete_install(app: &App, query: &[(String, String)]) -> Result<StoreRow, InstallRefusal> {
    let shopify_app = app.shopify_app().ok_or(InstallRefusal::NotConfigured)?;
    if !crate::domain::shopify::query_signed(query, &shopify_app.api_secret) {
        return Err(InstallRefusal::BadSignature);
    }
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let domain = validate::shop_domain(param("shop").unwrap_or_default()).map_err(InstallRefusal::BadShop)?;
    let (Some(state), Some(code)) = (param("state"), param("code")) else {
        return Err(InstallRefusal::BadState);
    };
    let install = stores::take_install(&mut *app.conn().await?, &state_hash(state), Utc::now())
        .await?
        .filter(|install| install.shop_domain == domain)
        .ok_or(InstallRefusal::BadState)?;
    let secrets = app.secrets().ok_or(InstallRefusal::NotConfigured)?;
    let grant = app
        .shops()
        .exchange_code(&domain, shopify_app, code)
        .await
        .map_err(|error| match error {
            ShopError::Refused(message) => InstallRefusal::Refused(message),
            other => InstallRefusal::Failed(AppError::ServiceUnavailable(other.to_string())),
        })?;
    let missing = missing_scopes(&grant.scopes);
    if !missing.is_empty() {
        return Err(InstallRefusal::Refused(format!(
            "the install did not grant {}",
            missing.join(", ")
        )));
    }
    let access = ShopAccess {
        domain,
        token: grant.token,
    };
    let shop = app
        .shops()
        .shop(&access)
        .await
        .map_err(|error| InstallRefusal::Failed(AppError::ServiceUnavailable(error.to_string())))?;
    let mut conn = app.conn().await?;
    let brand = brands::find(&mut conn, install.brand_id).await?;
    let caller = Caller {
        brand_id: install.brand_id,
        api_key_id: install.api_key_id,
        role: crate::domain::enums::Role::Admin,
        time_zone: brands::time_zone(brand.id, &brand.time_zone)?,
    };
    // The app's webhooks are signed with its secret: the brand's order route checks that.
    let connection = NewConnection {
        access,
        shop_name: shop.name,
        scopes: grant.scopes,
        via: ShopConnection::AppInstall,
        webhook_secret: Some(shopify_app.api_secret.clone()),
    };
    Ok(keep_connection(app, &mut conn, caller, secrets, "completeShopifyInstall", connection).await?)
}

/// The required scopes a grant lacks.
fn missing_scopes(granted: &[String]) -> Vec<&'static str> {
    REQUIRED_SCOPES
        .into_iter()
        .filter(|scope| !granted.iter().any(|s| s == scope))
        .collect()
}

/// A store the shop vouched for, as it is kept.
struct NewConnection {
    access: ShopAccess,
    shop_name: String,
    scopes: Vec<String>,
    via: ShopConnection,
    /// Becomes the brand's order-webhook secret; none keeps it as it is.
    webhook_secret: Option<String>,
}

/// Keeps a connection in one audited transaction (the token sealed, the webhook
/// secret set, the setup job queued), then wakes the setup and the code sync.
async fn keep_connection(
    app: &App,
    conn: &mut AsyncPgConnection,
    caller: Caller,
    secrets: &SecretsKeys,
    action: &'static str,
    connection: NewConnection,
) -> AppResult<StoreRow> {
    let NewConnection {
        access,
        shop_name,
        scopes,
        via,
        webhook_secret,
    } = connection;
    let sealed = secrets.seal(&access.token);
    let details = serde_json::json!({ "shopDomain": access.domain, "connectedVia": via.as_str() });
    let row = audited(conn, caller, action, details, move |conn, caller| {
        async move {
            let store = Connected {
                shop_domain: &access.domain,
                shop_name: &shop_name,
                sealed_token: &sealed,
                scopes: &scopes,
                connected_via: via,
            };
            let row = stores::connect(conn, caller.brand_id, store)
                .await
                .map_err(|error| match error {
                    DbError::UniqueViolation(_) => {
                        AppError::Conflict(format!("{} is connected to another brand", access.domain))
                    }
                    other => other.into(),
                })?;
            if let Some(secret) = &webhook_secret {
                brands::set_webhook_secret(conn, caller.brand_id, secret).await?;
            }
            job_rows::insert(conn, &setup_job(caller.brand_id)).await?;
            Ok(row)
        }
        .scope_boxed()
    })
    .await?;
    app.wake(JobKind::ShopifySetup);
    app.wake(JobKind::ShopifyCodeSync);
    Ok(row)
}

/// Asks for the brand's store to be compared with our records now (audited; the
/// caller wakes the sync).
pub async fn request_reconcile(conn: &mut AsyncPgConnection, caller: Caller, shop_domain: &str) -> AppResult<StoreRow> {
    let store = connected_named(conn, caller, shop_domain).await?;
    let details = serde_json::json!({ "shopDomain": store.shop_domain });
    audited(conn, caller, "reconcileShopifyStore", details, move |_, _| {
        async move { Ok(store) }.scope_boxed()
    })
    .await
}

/// The brand's connected store, if it is the one `shop_domain` names (admins name
/// it to confirm what they act on).
async fn connected_named(conn: &mut AsyncPgConnection, caller: Caller, shop_domain: &str) -> AppResult<StoreRow> {
    let named = shop_domain.trim().to_ascii_lowercase();
    stores::find(conn, caller.brand_id)
        .await?
        .filter(|store| store.status == ShopStatus::Connected && store.shop_domain == named)
        .ok_or(AppError::NotFound("connected Shopify store with this domain"))
}

/// Disconnects the brand's store, naming it to confirm; its token is forgotten.
pub async fn disconnect(conn: &mut AsyncPgConnection, caller: Caller, shop_domain: &str) -> AppResult<StoreRow> {
    let current = connected_named(conn, caller, shop_domain).await?;
    let details = serde_json::json!({ "shopDomain": current.shop_domain });
    audited(conn, caller, "disconnectShopifyStore", details, move |conn, caller| {
        async move {
            stores::disconnect(conn, caller.brand_id)
                .await?
                .ok_or(AppError::NotFound("Shopify store"))
        }
        .scope_boxed()
    })
    .await
}

/// Shopify says the app was uninstalled from `shop_domain`: the brand's store,
/// if it is that one, is disconnected (its token no longer works) with the reason
/// on it. Whether it was.
pub async fn app_uninstalled(conn: &mut AsyncPgConnection, brand_id: BrandId, shop_domain: &str) -> AppResult<bool> {
    let connected = stores::find(conn, brand_id)
        .await?
        .is_some_and(|store| store.status == ShopStatus::Connected && store.shop_domain == shop_domain);
    if !connected {
        return Ok(false);
    }
    stores::disconnect(conn, brand_id).await?;
    let reason = "the app was uninstalled in Shopify: connect the store again";
    stores::record_sync(conn, brand_id, Utc::now(), Some(reason)).await?;
    Ok(true)
}

/// What a privacy webhook did.
#[derive(Debug, PartialEq, Eq)]
pub enum PrivacyOutcome {
    /// No brand has this shop.
    UnknownShop,
    /// A customer's data was asked for: what we hold of them is their orders'
    /// ids and amounts (the store has them too) and, for orders that came through
    /// a click, that click's address hash and user agent.
    DataRequestNoted,
    /// Clicks whose shopper was forgotten.
    Redacted(usize),
}

/// Shopify's mandatory privacy webhooks for the app (`customers/data_request`,
/// `customers/redact`, `shop/redact`), already verified as the app's. Redaction
/// forgets the shopper (click address hashes and user agents); order ids and
/// money stay, as the brand's books need them.
pub async fn privacy_request(app: &App, topic: &str, payload: &serde_json::Value) -> AppResult<PrivacyOutcome> {
    let shop = payload["shop_domain"].as_str().unwrap_or_default();
    let mut conn = app.conn().await?;
    let Some(store) = stores::find_by_domain(&mut conn, shop).await? else {
        return Ok(PrivacyOutcome::UnknownShop);
    };
    match topic {
        "customers/data_request" => {
            tracing::info!(shop, brand_id = %store.brand_id, request = %payload["data_request"]["id"], "Shopify customer data request");
            Ok(PrivacyOutcome::DataRequestNoted)
        }
        "customers/redact" => {
            let orders: Vec<String> = payload["orders_to_redact"]
                .as_array()
                .map(|ids| {
                    ids.iter()
                        .map(|id| id.to_string().trim_matches('"').to_string())
                        .collect()
                })
                .unwrap_or_default();
            let cleared = stores::redact_shoppers(&mut conn, store.brand_id, Some(&orders)).await?;
            Ok(PrivacyOutcome::Redacted(cleared))
        }
        "shop/redact" => {
            let cleared = stores::redact_shoppers(&mut conn, store.brand_id, None).await?;
            stores::forget(&mut conn, store.brand_id).await?;
            Ok(PrivacyOutcome::Redacted(cleared))
        }
        other => Err(AppError::bad_input(format!("unsupported X-Shopify-Topic '{other}'"))),
    }
}

/// The secret the app's own webhooks are signed with (none: no app configured).
pub fn app_webhook_secret(app: &App) -> Option<&str> {
    app.shopify_app().map(|shopify_app| shopify_app.api_secret.as_str())
}

/// Seals every stored token under the first key (after a new one is put first);
/// how many were re-sealed.
pub async fn reseal_tokens(conn: &mut AsyncPgConnection, keys: &SecretsKeys) -> AppResult<usize> {
    let mut resealed = 0;
    for (brand_id, sealed) in stores::sealed_tokens(conn).await? {
        if keys.is_current(&sealed) {
            continue;
        }
        let token = keys.open(&sealed)?;
        if stores::reseal(conn, brand_id, &sealed, &keys.seal(&token)).await? {
            resealed += 1;
        }
    }
    Ok(resealed)
}

fn setup_job(brand_id: BrandId) -> NewJob {
    NewJob {
        kind: JobKind::ShopifySetup,
        brand_id: Some(brand_id),
        delivery_id: None,
        ordering_key: Some(format!("shopify:{brand_id}")),
        payload: serde_json::json!({}),
    }
}

/// Subscribes a newly connected store to the order webhooks, pointed at the
/// brand's order route; retried while Shopify is away or throttling.
pub struct SetupJob {
    pub pool: DbPool,
    pub client: Arc<dyn ShopClient>,
    pub secrets: Option<SecretsKeys>,
    pub public_url: String,
}

impl SetupJob {
    async fn set_up(&self, brand_id: BrandId, attempts: i32) -> AppResult<Outcome> {
        let mut conn = self.pool.get().await.map_err(DbError::from)?;
        let Some(store) = stores::find(&mut conn, brand_id)
            .await?
            .filter(|store| store.status == ShopStatus::Connected)
        else {
            return Ok(Outcome::Done);
        };
        let Some(secrets) = &self.secrets else {
            return Ok(Outcome::Failed("no secrets key is configured (--secrets-key)".into()));
        };
        let access = ShopAccess {
            domain: store.shop_domain.clone(),
            token: secrets.open(&store.sealed_token)?,
        };
        let slug = brands::find(&mut conn, brand_id).await?.slug;
        let uri = format!(
            "{}/webhooks/{slug}/orders/shopify",
            self.public_url.trim_end_matches('/')
        );
        // No connection is held while Shopify answers.
        drop(conn);
        let mut failure = None;
        for topic in WEBHOOK_TOPICS {
            if let Err(error) = self.client.subscribe_webhook(&access, topic, &uri).await {
                failure = Some(error);
                break;
            }
        }
        let mut conn = self.pool.get().await.map_err(DbError::from)?;
        let Some(error) = failure else {
            stores::record_sync(&mut conn, brand_id, Utc::now(), None).await?;
            return Ok(Outcome::Done);
        };
        let message = match &error {
            ShopError::Unauthorized => "Shopify refused the access token: connect the store again".to_string(),
            other => format!("setting up webhooks: {other}"),
        };
        stores::record_sync(&mut conn, brand_id, Utc::now(), Some(&message)).await?;
        Ok(match error {
            ShopError::Throttled(wait) => Outcome::Retry {
                after: wait,
                error: message,
            },
            ShopError::Unavailable(_) if attempts < SETUP_ATTEMPTS => Outcome::Retry {
                after: backoff(attempts),
                error: message,
            },
            _ => Outcome::Failed(message),
        })
    }
}

#[async_trait::async_trait]
impl Handler for SetupJob {
    fn kind(&self) -> JobKind {
        JobKind::ShopifySetup
    }

    fn concurrency(&self) -> usize {
        4
    }

    async fn run(&self, job: &Job, _: &Lease) -> Outcome {
        let Some(brand_id) = job.brand_id else {
            return Outcome::Failed("a Shopify setup job names no brand".into());
        };
        match self.set_up(brand_id, job.attempts).await {
            Ok(outcome) => outcome,
            Err(error) => Outcome::Retry {
                after: backoff(job.attempts).max(Duration::from_secs(1)),
                error: format!("{error:?}"),
            },
        }
    }
}
