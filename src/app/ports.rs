//! What the workflows need from outside services, in their own terms: app owns
//! these traits and `providers/` implements them (PayPal, SMTP, the manual
//! payout). A provider sees only these types, never the database.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::domain::enums::{PaymentProvider, PaymentState};
use crate::domain::ids::{PaymentId, PaymentItemId};

/// One payment, as a provider is asked to pay it.
#[derive(Clone, Debug)]
pub struct PayoutBatch {
    pub payment_id: PaymentId,
    /// The payer, shown to recipients (e.g. in a note).
    pub brand_name: String,
    pub items: Vec<PayoutItem>,
}

/// One recipient's share of a batch.
#[derive(Clone, Debug)]
pub struct PayoutItem {
    pub item_id: PaymentItemId,
    /// Where the money goes: the member's payout address (email or phone), else their email.
    pub recipient: String,
    /// In `currency`, the member's payout currency.
    pub amount: Decimal,
    pub currency: String,
}

/// What a provider knows of a batch.
#[derive(Clone, Debug, Default)]
pub struct BatchReport {
    /// The provider's own id of the batch (PayPal's `payout_batch_id`), once known.
    pub provider_batch_id: Option<String>,
    /// The items it reports on; one it does not mention stays as it is.
    pub items: Vec<ItemOutcome>,
}

/// The provider's answer for one item.
#[derive(Clone, Debug)]
pub struct ItemOutcome {
    pub item_id: PaymentItemId,
    /// `PAID`, `FAILED`, or `PROCESSING` while the provider is not done.
    pub state: PaymentState,
    /// The provider's id of the item (PayPal's `payout_item_id`).
    pub reference: Option<String>,
    /// The provider's own status word (PayPal's `transaction_status`, e.g. `UNCLAIMED`).
    pub provider_status: Option<String>,
}

#[async_trait]
pub trait PayoutProvider: Send + Sync {
    fn name(&self) -> PaymentProvider;

    /// Hands a claimed batch over, outside any transaction. Calling it again for the
    /// same payment (after a timeout, a 5xx or a crash) must never pay twice; it
    /// then reports on the batch handed over before. An error means "unknown yet":
    /// the payment stays `PROCESSING` and is reconciled later.
    async fn submit(&self, batch: &PayoutBatch) -> anyhow::Result<BatchReport>;

    /// What the provider now knows of a batch handed over before
    /// (`provider_batch_id` when it is known, else the provider finds it).
    async fn check(&self, batch: &PayoutBatch, provider_batch_id: Option<&str>) -> anyhow::Result<BatchReport>;

    /// Whether the provider vouches for a notification it sent; one that sends
    /// none vouches for nothing.
    async fn verify_notification(&self, _notification: &Notification) -> anyhow::Result<Vouched> {
        Ok(Vouched::No)
    }

    /// The provider's batch id a notification is about, if it is about one.
    fn notified_batch_id<'a>(&self, _event: &'a Value) -> Option<&'a str> {
        None
    }
}

/// A provider's notification as it arrived: headers by lower-case name, and the JSON body.
pub struct Notification {
    pub headers: HashMap<String, String>,
    pub event: Value,
}

/// The provider's word on a notification.
#[derive(Debug, PartialEq, Eq)]
pub enum Vouched {
    Yes,
    No,
    /// It lacks what the provider signs (the header named).
    Malformed(String),
}

/// The providers this server can pay through (by default `MANUAL` only).
#[derive(Clone)]
pub struct PayoutProviders {
    manual: Arc<dyn PayoutProvider>,
    paypal: Option<Arc<dyn PayoutProvider>>,
}

impl PayoutProviders {
    /// `manual` records payments made outside; `paypal` moves the money when configured.
    pub fn new(manual: Arc<dyn PayoutProvider>, paypal: Option<Arc<dyn PayoutProvider>>) -> Self {
        PayoutProviders { manual, paypal }
    }

    /// The provider of that name, if this server is configured for it.
    pub fn get(&self, name: PaymentProvider) -> Option<&dyn PayoutProvider> {
        match name {
            PaymentProvider::Manual => Some(self.manual.as_ref()),
            PaymentProvider::Paypal => self.paypal.as_deref(),
        }
    }
}

/// Sends one email; the failure says whether retrying could help.
#[async_trait]
pub trait MailSender: Send + Sync {
    async fn send(&self, to_address: &str, subject: &str, body: &str) -> Result<(), SendFailure>;
}

/// Where emails leave through (an SMTP server in production).
pub type Mailer = Arc<dyn MailSender>;

#[derive(Debug)]
pub struct SendFailure {
    pub message: String,
    /// The server refused for good (a bad address): retrying cannot help.
    pub permanent: bool,
}

/// Reaches brands' webhook endpoints.
#[async_trait]
pub trait EndpointClient: Send + Sync {
    /// The URL, parsed, if deliveries may go there (checked at registration;
    /// every delivery checks the addresses it connects to again).
    async fn check_target(&self, url: &str) -> Result<url::Url, TargetError>;

    /// Posts one signed message and says how the endpoint answered.
    async fn send(&self, message: Message<'_>) -> Answer;
}

/// Where endpoints may point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Targets {
    /// `https` to public addresses only.
    PublicOnly,
    /// Also `http`, loopback and private networks (tests, local setups).
    AllowPrivate,
}

/// Why a URL cannot be an endpoint.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("url must be an absolute http(s) URL: {0}")]
    NotAUrl(String),
    #[error("url must use https")]
    NotHttps,
    #[error("url must name a host")]
    NoHost,
    #[error("url resolves to {0}, which is not a public address (loopback, private or link-local)")]
    NotPublic(IpAddr),
}

/// One message for one endpoint.
pub struct Message<'a> {
    pub url: &'a str,
    pub secret: &'a str,
    /// The event's id: receivers de-duplicate on it.
    pub id: &'a str,
    pub body: &'a [u8],
}

/// How the endpoint answered.
#[derive(Debug)]
pub struct Answer {
    /// None when no answer came (refused, unreachable, timed out).
    pub status: Option<u16>,
    pub took: Duration,
    /// Why it failed, with the start of the answer's body; None on a 2xx.
    pub error: Option<String>,
}

impl Answer {
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

/// A Shopify store and the token that opens its Admin API.
pub struct ShopAccess {
    /// `name.myshopify.com`.
    pub domain: String,
    pub token: String,
}

/// A token an install granted.
pub struct ShopAccessGrant {
    pub token: String,
    pub scopes: Vec<String>,
}

/// What a store says of itself.
#[derive(Clone, Debug)]
pub struct ShopInfo {
    pub name: String,
    /// The access scopes the token was granted (`read_orders`, `write_discounts`…).
    pub scopes: Vec<String>,
}

/// Why the shop did not do what was asked.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ShopError {
    /// The token was refused: revoked, the app uninstalled, or never valid.
    #[error("Shopify refused the access token")]
    Unauthorized,
    /// Over Shopify's rate limit: try again after this long.
    #[error("Shopify is throttling this store's requests")]
    Throttled(Duration),
    /// Shopify understood and said no (its `userErrors`).
    #[error("Shopify refused: {0}")]
    Refused(String),
    /// No answer, or a 5xx: try again later.
    #[error("Shopify could not be reached: {0}")]
    Unavailable(String),
}

/// This server's Shopify app (its client id and secret), for installs.
#[derive(Clone)]
pub struct ShopifyApp {
    pub api_key: String,
    pub api_secret: String,
}

impl std::fmt::Debug for ShopifyApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopifyApp")
            .field("api_key", &self.api_key)
            .field("api_secret", &"<hidden>")
            .finish()
    }
}

/// A shop's Admin API (Shopify's GraphQL Admin API in production).
#[async_trait]
pub trait ShopClient: Send + Sync {
    /// Where the store's admin is (`https://{shop}`), for the install's
    /// authorization page.
    fn admin_url(&self, domain: &str) -> String;

    /// Exchanges an install's authorization code for an offline access token;
    /// the token and the scopes it was granted.
    async fn exchange_code(&self, domain: &str, app: &ShopifyApp, code: &str) -> Result<ShopAccessGrant, ShopError>;

    /// The store's name and the token's scopes; checks that the token works.
    async fn shop(&self, access: &ShopAccess) -> Result<ShopInfo, ShopError>;

    /// Subscribes the store to `topic` (e.g. `ORDERS_CREATE`) sent to `uri`; a
    /// subscription that already exists is success.
    async fn subscribe_webhook(&self, access: &ShopAccess, topic: &str, uri: &str) -> Result<(), ShopError>;

    /// Makes the code discount an offer's codes share, with its first code; its id.
    async fn create_discount(
        &self,
        access: &ShopAccess,
        discount: &ShopDiscount,
        first_code: &str,
    ) -> Result<String, ShopError>;

    /// Rewrites a code discount's terms.
    async fn update_discount(&self, access: &ShopAccess, id: &str, discount: &ShopDiscount) -> Result<(), ShopError>;

    /// A code discount's redeem codes; none when the discount no longer exists
    /// (deleted in Shopify's admin).
    async fn discount_codes(&self, access: &ShopAccess, id: &str) -> Result<Option<Vec<ShopCode>>, ShopError>;

    /// Adds redeem codes to a code discount and waits for Shopify to take them;
    /// what became of each.
    async fn add_codes(&self, access: &ShopAccess, id: &str, codes: &[String]) -> Result<Vec<CodeOutcome>, ShopError>;

    /// Removes redeem codes (by their ids) from a code discount.
    async fn remove_codes(&self, access: &ShopAccess, id: &str, code_ids: &[String]) -> Result<(), ShopError>;

    /// The code discount that has `code`, if any does.
    async fn find_code(&self, access: &ShopAccess, code: &str) -> Result<Option<String>, ShopError>;

    /// Activates or deactivates a code discount.
    async fn set_discount_active(&self, access: &ShopAccess, id: &str, active: bool) -> Result<(), ShopError>;

    /// How many orders were created in `range`.
    async fn count_orders(&self, access: &ShopAccess, range: &OrderRange) -> Result<u64, ShopError>;

    /// One page of the orders created in `range`, oldest first, after the
    /// cursor `after` (none: from the start).
    async fn orders(
        &self,
        access: &ShopAccess,
        range: &OrderRange,
        after: Option<&str>,
    ) -> Result<OrderPage, ShopError>;
}

/// Orders created from `from` (inclusive) until `until` (exclusive).
#[derive(Clone, Copy, Debug)]
pub struct OrderRange {
    pub from: chrono::DateTime<chrono::Utc>,
    pub until: chrono::DateTime<chrono::Utc>,
}

/// A page of a shop's orders.
#[derive(Clone, Debug)]
pub struct OrderPage {
    pub orders: Vec<ShopOrder>,
    /// The cursor after this page's last order, while more follow.
    pub next: Option<String>,
}

/// An order as the shop keeps it.
#[derive(Clone, Debug)]
pub struct ShopOrder {
    /// The numeric id webhooks name the order by (`legacyResourceId`).
    pub id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The order's total before refunds in the shop's money, as webhooks' `total_price`.
    pub total: rust_decimal::Decimal,
    pub currency: String,
    /// The total the buyer paid, in their currency (presentment money), when given.
    pub paid: Option<crate::domain::currency::Price>,
    /// The discount codes used at checkout, in the shop's order.
    pub discount_codes: Vec<String>,
    /// Where the shopper landed, last visit first (their query may carry a click id).
    pub landing_pages: Vec<String>,
    pub cancelled: bool,
    pub refunds: Vec<ShopRefund>,
}

/// A refund of an order.
#[derive(Clone, Debug)]
pub struct ShopRefund {
    /// The numeric id the refunds webhook names it by.
    pub id: String,
    /// In the shop's money.
    pub amount: rust_decimal::Decimal,
    /// In the buyer's currency (presentment money), when given.
    pub paid_amount: Option<rust_decimal::Decimal>,
}

/// A code discount as the shop is asked to make it.
#[derive(Clone, Debug)]
pub struct ShopDiscount {
    /// Shown in the shop's admin, e.g. "Summer creators (Sales Tracking)".
    pub title: String,
    pub discount_type: crate::domain::enums::ShopperDiscountType,
    /// A percentage (1 to 100) or an amount in the shop's currency.
    pub value: rust_decimal::Decimal,
    pub once_per_customer: bool,
    pub minimum_subtotal: Option<rust_decimal::Decimal>,
}

/// A redeem code in the shop.
#[derive(Clone, Debug)]
pub struct ShopCode {
    pub id: String,
    pub code: String,
}

/// What Shopify did with one code it was asked to add.
#[derive(Clone, Debug)]
pub struct CodeOutcome {
    pub code: String,
    /// Added: none. Refused: Shopify's words (e.g. the code is taken).
    pub error: Option<String>,
}

/// Why reference rates could not be had.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RatesError {
    /// No answer, or not a success: try again later.
    #[error("the rates source could not be reached: {0}")]
    Unavailable(String),
    /// An answer that is not the source's rates.
    #[error("the rates source answered something that is not its rates: {0}")]
    Malformed(String),
}

/// Where reference exchange rates come from (the ECB's, in production).
#[async_trait]
pub trait RatesSource: Send + Sync {
    /// Stored with each rate, e.g. `ECB`.
    fn name(&self) -> &str;

    /// Every day of rates the source publishes now.
    async fn fetch(&self) -> Result<Vec<crate::domain::currency::DayRates>, RatesError>;
}
