//! The brand's Shopify store: connected with a custom app's Admin API token
//! (admins), its status for everyone.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use async_graphql::ID;

use super::context::{AdminOnly, app, conn, viewer};
use super::enums::{CodeSyncState, ImportState, ShopConnection, ShopStatus, ShopperDiscountType};
use super::error::AppResult;
use super::ids::decode;
use super::scalars::{Date, Money};
use super::types::offer::Offer;
use crate::app::records::{ImportRow, StoreRow};
use crate::app::shop_codes::{self, DiscountDraft, MembershipCodeState, ShopperDiscountRow};
use crate::app::shop_import::{self, ImportRequest};
use crate::app::shopify::{self, TokenConnection};
use crate::domain::enums::JobKind;

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

/// What a promo-code offer's codes take off at the shop's checkout. Its codes
/// exist in the brand's Shopify store while they attribute, and only then.
pub struct ShopperDiscount(pub ShopperDiscountRow);

#[Object]
impl ShopperDiscount {
    #[graphql(name = "type")]
    async fn discount_type(&self) -> ShopperDiscountType {
        self.0.discount_type.into()
    }

    /// A percentage (`"15.00"` is 15 %) or an amount in the shop's currency.
    async fn value(&self) -> String {
        crate::domain::money::format_money(self.0.value)
    }

    /// Whether a customer may use a code once only.
    async fn once_per_customer(&self) -> bool {
        self.0.once_per_customer
    }

    /// The order subtotal a code needs; null for none.
    async fn minimum_subtotal(&self) -> Option<Money> {
        self.0.minimum_subtotal.map(Money)
    }

    /// Whether the shop has the discount (made by the first sync round).
    async fn in_shop(&self) -> bool {
        self.0.shopify_discount_id.is_some()
    }
}

/// Where a promo code stands in the brand's Shopify store.
pub struct PromoCodeSync(pub MembershipCodeState);

#[Object]
impl PromoCodeSync {
    async fn state(&self) -> CodeSyncState {
        self.0.state.into()
    }

    /// Shopify's words when it refused the code; null otherwise.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
}

/// A promo-code offer's shopper discount: the offer, and the discount's fields.
#[derive(InputObject)]
pub struct SetShopperDiscountInput {
    pub offer_id: ID,
    #[graphql(flatten)]
    pub discount: ShopperDiscountInput,
}

/// What a promo-code offer's codes take off at the shop's checkout (in
/// `createOffer` and `updateOffer`).
#[derive(InputObject)]
pub struct ShopperDiscountInput {
    #[graphql(name = "type")]
    pub discount_type: ShopperDiscountType,
    /// A percentage (1 to 100) or an amount, as a decimal string (`"15"`, `"10.00"`).
    pub value: String,
    /// A customer may use a code once only (default false).
    #[graphql(default)]
    pub once_per_customer: bool,
    /// The order subtotal a code needs, as a decimal string; null for none.
    pub minimum_subtotal: Option<String>,
}

impl From<ShopperDiscountInput> for DiscountDraft {
    fn from(input: ShopperDiscountInput) -> Self {
        DiscountDraft {
            discount_type: input.discount_type.into(),
            value: input.value,
            once_per_customer: input.once_per_customer,
            minimum_subtotal: input.minimum_subtotal,
        }
    }
}

/// The result of `setShopperDiscount`.
#[derive(SimpleObject)]
pub struct SetShopperDiscountPayload {
    pub offer: Offer,
}

/// The store to bring in step now: its domain.
#[derive(InputObject)]
pub struct ReconcileShopifyStoreInput {
    pub shop_domain: String,
}

/// The result of `reconcileShopifyStore`.
#[derive(SimpleObject)]
pub struct ReconcileShopifyStorePayload {
    pub shopify_store: ShopifyStore,
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

/// An import of the store's order history and how far it got.
pub struct ShopifyImport(pub ImportRow);

#[Object]
impl ShopifyImport {
    async fn state(&self) -> ImportState {
        self.0.state.into()
    }

    /// The store the orders come from.
    async fn shop_domain(&self) -> &str {
        &self.0.shop_domain
    }

    /// The first day of orders, in the brand's time zone.
    async fn from(&self, ctx: &Context<'_>) -> AppResult<Date> {
        Ok(Date(
            self.0.starts_at.with_timezone(&viewer(ctx)?.time_zone).date_naive(),
        ))
    }

    /// The last day of orders (inclusive), in the brand's time zone.
    async fn to(&self, ctx: &Context<'_>) -> AppResult<Date> {
        let last_instant = self.0.ends_at - chrono::Duration::microseconds(1);
        Ok(Date(last_instant.with_timezone(&viewer(ctx)?.time_zone).date_naive()))
    }

    /// The orders created from this instant (the start of `from` in the brand's time zone)…
    async fn starts_at(&self) -> DateTime<Utc> {
        self.0.starts_at
    }

    /// …until this one (the end of `to`), exclusive.
    async fn ends_at(&self) -> DateTime<Utc> {
        self.0.ends_at
    }

    /// Whether commissions past their hold period were left due (true) or recorded
    /// as paid outside Sales Tracking (false).
    async fn payable(&self) -> bool {
        self.0.payable
    }

    /// The orders in the range, as Shopify counted them at the start; null until counted.
    async fn total(&self) -> Option<i32> {
        self.0.total
    }

    /// The orders read so far.
    async fn processed(&self) -> i32 {
        self.0.processed
    }

    /// Orders booked by this import.
    async fn recorded(&self) -> i32 {
        self.0.recorded
    }

    /// Orders that were already booked (by a webhook, or `recordConversion`): counted once.
    async fn already_recorded(&self) -> i32 {
        self.0.already_recorded
    }

    /// Orders that could not be booked: in a currency without a known rate for
    /// their day (import again once the rates reach back to it), or with an
    /// amount out of range.
    async fn skipped(&self) -> i32 {
        self.0.skipped
    }

    /// Why the import stopped (`FAILED`); importing the same range again resumes it.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }

    async fn started_at(&self) -> DateTime<Utc> {
        self.0.started_at
    }

    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
}

/// Which orders to import from the brand's Shopify store.
#[derive(InputObject)]
pub struct ImportShopifyOrdersInput {
    /// The first day of orders, in the brand's time zone.
    pub from: Date,
    /// The last day (inclusive); default today.
    pub to: Option<Date>,
    /// Whether commissions already past their hold period become due here. By
    /// default they are recorded as paid outside Sales Tracking (one `SHOP_IMPORT`
    /// payment), since the brand paid them before it joined.
    #[graphql(default = false)]
    pub payable: bool,
}

/// The result of `importShopifyOrders`.
#[derive(SimpleObject)]
pub struct ImportShopifyOrdersPayload {
    pub shopify_import: ShopifyImport,
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

    /// The brand's latest import of its store's order history; null if none ran.
    async fn shopify_import(&self, ctx: &Context<'_>) -> AppResult<Option<ShopifyImport>> {
        let row = shop_import::latest(&mut *conn(ctx).await?, viewer(ctx)?.brand_id).await?;
        Ok(row.map(ShopifyImport))
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

    /// Sets what a promo-code offer's codes take off at the shop's checkout. With a
    /// connected store, the offer's codes are then made in the shop (one code
    /// discount, one redeem code per membership) and kept in step.
    #[graphql(guard = "AdminOnly")]
    async fn set_shopper_discount(
        &self,
        ctx: &Context<'_>,
        input: SetShopperDiscountInput,
    ) -> AppResult<SetShopperDiscountPayload> {
        let caller = *viewer(ctx)?;
        let offer_id = decode(&input.offer_id)?;
        let draft = DiscountDraft::from(input.discount);
        let mut conn = conn(ctx).await?;
        shop_codes::set_shopper_discount(&mut conn, caller, offer_id, draft).await?;
        app(ctx).wake(JobKind::ShopifyCodeSync);
        let row = crate::app::reads::offer(&mut conn, &caller, offer_id)
            .await?
            .ok_or(crate::app::AppError::NotFound("offer"))?;
        Ok(SetShopperDiscountPayload {
            offer: Offer::new(row, caller.today()),
        })
    }

    /// Compares the store's promo codes with ours now and repairs any difference
    /// (it also happens every `--shopify-reconcile-every` seconds, and after every change).
    #[graphql(guard = "AdminOnly")]
    async fn reconcile_shopify_store(
        &self,
        ctx: &Context<'_>,
        input: ReconcileShopifyStoreInput,
    ) -> AppResult<ReconcileShopifyStorePayload> {
        let row = shopify::request_reconcile(&mut *conn(ctx).await?, *viewer(ctx)?, &input.shop_domain).await?;
        app(ctx).wake(JobKind::ShopifyCodeSync);
        Ok(ReconcileShopifyStorePayload {
            shopify_store: ShopifyStore(row),
        })
    }

    /// Imports the store's orders created in a date range, in the background
    /// (follow it with `shopifyImport`): each is attributed by the promo codes
    /// valid at its time and the click id in its landing page, and booked once
    /// whether it came by webhook or import. `CONFLICT` while another import runs;
    /// a failed import of the same range resumes where it stopped.
    #[graphql(guard = "AdminOnly")]
    async fn import_shopify_orders(
        &self,
        ctx: &Context<'_>,
        input: ImportShopifyOrdersInput,
    ) -> AppResult<ImportShopifyOrdersPayload> {
        let request = ImportRequest {
            from: input.from.0,
            to: input.to.map(|to| to.0),
            payable: input.payable,
        };
        let row = shop_import::start(app(ctx), (*viewer(ctx)?).into(), request).await?;
        Ok(ImportShopifyOrdersPayload {
            shopify_import: ShopifyImport(row),
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
