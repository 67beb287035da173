//! The brand's Shopify store: connected with a custom app's Admin API token
//! (admins), its status for everyone.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::{AdminOnly, app, conn, viewer};
use super::enums::{ShopConnection, ShopStatus};
use super::error::AppResult;
use crate::app::records::StoreRow;
use crate::app::shopify::{self, TokenConnection};

/// The brand's Shopify store. Its access token is never shown.
pub struct ShopifyStore(pub StoreRow);

#[Object]
impl ShopifyStore {
    /// `name.myshopify.com`.
    async fn shop_domain(&self) -> &str {
        &self.0.shop_domain
    }

    /// The store's name in Shopify.
    async fn shop_name(&self) -> &str {
        &self.0.shop_name
    }

    /// The Admin API scopes its token holds.
    async fn scopes(&self) -> Vec<&str> {
        self.0.scopes().collect()
    }

    async fn connected_via(&self) -> ShopConnection {
        self.0.connected_via.into()
    }

    async fn status(&self) -> ShopStatus {
        self.0.status.into()
    }

    async fn connected_at(&self) -> DateTime<Utc> {
        self.0.connected_at
    }

    /// When the server last finished a round of work with the store (webhooks
    /// set up, codes in step); null until the first.
    async fn last_synced_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_synced_at
    }

    /// What went wrong last, as Shopify said it; null once a round succeeds.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
}

/// A custom app's Admin API token (Shopify admin → Settings → Apps → Develop apps),
/// with the scopes `read_orders` and `write_discounts`.
#[derive(InputObject)]
pub struct ConnectShopifyStoreInput {
    /// `your-store.myshopify.com`.
    pub shop_domain: String,
    /// The app's Admin API access token (`shpat_…`): checked with Shopify, then
    /// kept encrypted and never shown again.
    pub access_token: String,
    /// The app's API secret key, which signs the webhooks Shopify sends for it
    /// (16 to 200 characters); left out, the brand's webhook secret stays as it is.
    pub webhook_secret: Option<String>,
}

/// The result of `connectShopifyStore`.
#[derive(SimpleObject)]
pub struct ConnectShopifyStorePayload {
    pub shopify_store: ShopifyStore,
}

/// The store to install Sales Tracking's Shopify app on.
#[derive(InputObject)]
pub struct StartShopifyInstallInput {
    /// `your-store.myshopify.com`.
    pub shop_domain: String,
}

/// The result of `startShopifyInstall`.
#[derive(SimpleObject)]
pub struct StartShopifyInstallPayload {
    /// Shopify's page where the store's owner approves the app; Shopify then sends
    /// them to `/shopify/callback`, which connects the store and opens the dashboard.
    pub authorization_url: String,
    /// The link works once, until then.
    pub expires_at: DateTime<Utc>,
}

/// Which store to disconnect: its domain, to confirm.
#[derive(InputObject)]
pub struct DisconnectShopifyStoreInput {
    pub shop_domain: String,
}

/// The result of `disconnectShopifyStore`.
#[derive(SimpleObject)]
pub struct DisconnectShopifyStorePayload {
    pub shopify_store: ShopifyStore,
}

#[derive(Default)]
pub struct ShopifyQueries;

#[Object]
impl ShopifyQueries {
    /// The brand's Shopify store; null if it never connected one.
    async fn shopify_store(&self, ctx: &Context<'_>) -> AppResult<Option<ShopifyStore>> {
        let row = shopify::store(&mut *conn(ctx).await?, viewer(ctx)?).await?;
        Ok(row.map(ShopifyStore))
    }
}

#[derive(Default)]
pub struct ShopifyMutations;

#[Object]
impl ShopifyMutations {
    /// Connects the brand's Shopify store with a custom app's token, replacing any
    /// store connected before. `BAD_USER_INPUT` when Shopify refuses the token or
    /// it lacks a scope, `CONFLICT` when another brand has the store,
    /// `UNAVAILABLE` when Shopify does not answer. The store's order webhooks are
    /// then set up in the background (see `lastSyncedAt`, `lastError`).
    #[graphql(guard = "AdminOnly")]
    async fn connect_shopify_store(
        &self,
        ctx: &Context<'_>,
        input: ConnectShopifyStoreInput,
    ) -> AppResult<ConnectShopifyStorePayload> {
        let connection = TokenConnection {
            shop_domain: input.shop_domain,
            access_token: input.access_token,
            webhook_secret: input.webhook_secret,
        };
        let row = shopify::connect_with_token(app(ctx), *viewer(ctx)?, connection).await?;
        Ok(ConnectShopifyStorePayload {
            shopify_store: ShopifyStore(row),
        })
    }

    /// Starts installing Sales Tracking's Shopify app on a store: send the admin to
    /// `authorizationUrl`. `CONFLICT` when this server has no Shopify app configured.
    #[graphql(guard = "AdminOnly")]
    async fn start_shopify_install(
        &self,
        ctx: &Context<'_>,
        input: StartShopifyInstallInput,
    ) -> AppResult<StartShopifyInstallPayload> {
        let started = shopify::start_install(app(ctx), *viewer(ctx)?, &input.shop_domain).await?;
        Ok(StartShopifyInstallPayload {
            authorization_url: started.authorization_url,
            expires_at: started.expires_at,
        })
    }

    /// Disconnects the brand's store and forgets its token.
    #[graphql(guard = "AdminOnly")]
    async fn disconnect_shopify_store(
        &self,
        ctx: &Context<'_>,
        input: DisconnectShopifyStoreInput,
    ) -> AppResult<DisconnectShopifyStorePayload> {
        let row = shopify::disconnect(&mut *conn(ctx).await?, *viewer(ctx)?, &input.shop_domain).await?;
        Ok(DisconnectShopifyStorePayload {
            shopify_store: ShopifyStore(row),
        })
    }
}
