//! Sales Tracking: the GraphQL API behind an influencer and affiliate sales dashboard.
//!
//! `domain` holds pure rules, `db` the PostgreSQL layer, `app` the workflows
//! and the `App` value, `providers` the outside services, `graphql` the API
//! schema and `http` the routes; `main.rs` only reads configuration and serves.

pub mod app;
pub mod db;
pub mod dev;
pub mod domain;
pub mod fixtures;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod providers;
pub mod rate_limit;

use std::sync::Arc;

use db::DbPool;

/// What the application needs beyond the database.
pub struct AppConfig {
    /// Where shoppers reach this server; tracking links start with it.
    pub public_url: String,
    /// Key for hashing shoppers' IP addresses.
    pub ip_hash_key: Vec<u8>,
    /// Sends queued emails; without it they wait in the outbox.
    pub mailer: Option<app::email::Mailer>,
    /// What callers may ask of the server.
    pub limits: Limits,
    /// Whether the schema can be introspected (GraphiQL and codegen need it).
    pub introspection: bool,
    /// Connections for the click writer, link lookups and webhooks, apart from the
    /// API's, so a storm of reports cannot starve them (default: the API's pool).
    pub tracking_pool: Option<DbPool>,
    /// Connections for KPI reads: its size is how many run at once (default: the API's pool).
    pub report_pool: Option<DbPool>,
    /// Connections for the order writer alone, which then runs on a thread of its
    /// own (default: none; it runs among the requests on the tracking pool).
    pub order_writer_pool: Option<DbPool>,
    /// A streaming replica reports read while it is fresh enough (none: the primary).
    pub replica: Option<Arc<db::replica::Replica>>,
    /// Where answered clicks wait when the database cannot take them in time
    /// (none: such clicks are lost and counted in `click_write_failures`).
    pub spool_dir: Option<std::path::PathBuf>,
    /// Clicks a second from which redirects answer from the journal in `spool_dir`
    /// rather than their batch's commit (`app::clicks`).
    pub journal_clicks_from: u64,
    /// When set, `/metrics` answers only `Authorization: Bearer <token>`.
    pub metrics_token: Option<String>,
    /// Web origins (e.g. `https://app.example.com`) whose pages may call the API
    /// from the browser; none: same origin only.
    pub cors_origins: Vec<String>,
    /// The PayPal account `PAYPAL` payments are paid from; none: `MANUAL` only.
    pub paypal: Option<providers::paypal::PayPalConfig>,
    /// How often unsettled payments are asked after (also once at start).
    pub reconcile_every: std::time::Duration,
    /// Proxies (e.g. the load balancer) whose `X-Forwarded-For` names the client;
    /// from any other peer the header is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// What a click must pass to earn a per-click commission.
    pub click_rules: app::clicks::ClickRules,
    /// How often ledger entries past their hold period move to due (also once at start).
    pub mature_every: std::time::Duration,
    /// Months of raw clicks kept (whole UTC months before are dropped; the rollups
    /// keep every figure). None: every click is kept.
    pub click_retention_months: Option<u32>,
    /// How often a link code in memory is looked up again; while the database is
    /// away, the link in memory keeps redirecting however old it is.
    pub link_refresh_every: std::time::Duration,
    /// How brands' webhook endpoints are reached and retried.
    pub webhooks: app::webhooks::WebhookSettings,
    /// How the job runner leases and paces background jobs.
    pub jobs: app::jobs::RunnerSettings,
    /// Seals shops' access tokens at rest (AES-256-GCM); none: no store can be connected.
    pub secrets_keys: Option<app::secrets::SecretsKeys>,
    /// Where a store's Admin API is, `{shop}` standing for its domain (a stand-in in tests).
    pub shopify_admin_base_url: String,
    /// This server's Shopify app (client id and secret), for installs from Shopify.
    pub shopify_app: Option<app::ports::ShopifyApp>,
    /// How often connected stores' promo codes are compared with ours (changes sync at once).
    pub shopify_reconcile_every: std::time::Duration,
    /// Where to LISTEN for the other servers' KPI changes (PostgreSQL itself,
    /// never a transaction pooler); none: live KPIs hear this server's changes only.
    pub listen_url: Option<String>,
    /// Where the ECB's reference rates are fetched (none: not fetched), and how often.
    pub rates_url: Option<String>,
    pub rates_every: std::time::Duration,
}

/// Each store's own Admin API.
pub const DEFAULT_SHOPIFY_ADMIN_BASE_URL: &str = "https://{shop}";

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            public_url: "http://127.0.0.1:8080".into(),
            ip_hash_key: rand::random::<[u8; 32]>().to_vec(),
            mailer: None,
            limits: Limits::default(),
            introspection: true,
            tracking_pool: None,
            report_pool: None,
            order_writer_pool: None,
            replica: None,
            spool_dir: None,
            journal_clicks_from: app::clicks::JOURNAL_CLICKS_FROM,
            metrics_token: None,
            cors_origins: Vec::new(),
            paypal: None,
            reconcile_every: std::time::Duration::from_secs(5),
            trusted_proxies: Vec::new(),
            click_rules: app::clicks::ClickRules::default(),
            mature_every: std::time::Duration::from_secs(60),
            click_retention_months: None,
            link_refresh_every: std::time::Duration::from_secs(30),
            webhooks: Default::default(),
            jobs: Default::default(),
            secrets_keys: None,
            shopify_admin_base_url: DEFAULT_SHOPIFY_ADMIN_BASE_URL.into(),
            shopify_app: None,
            shopify_reconcile_every: std::time::Duration::from_secs(600),
            listen_url: None,
            rates_url: None,
            rates_every: std::time::Duration::from_secs(3600),
        }
    }
}

/// Limits on what any one caller can make the server do.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub query: graphql::query_cost::QueryLimits,
    /// Query cost points a key (or an IP without one) regains per second; 0 is no limit.
    pub rate_limit_points_per_second: u64,
    /// The most points a key can hold, spent by a burst of queries.
    pub rate_limit_burst: u64,
    /// Order webhooks per brand per second; 0 is no limit.
    pub webhook_rate_limit_per_second: u64,
    /// Failed API keys (and, apart, failed webhook signatures) per client address
    /// per second, ten times that at once; 0 is no limit.
    pub failed_auth_per_second: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            query: Default::default(),
            rate_limit_points_per_second: rate_limit::DEFAULT_POINTS_PER_SECOND,
            rate_limit_burst: rate_limit::DEFAULT_BURST,
            webhook_rate_limit_per_second: rate_limit::DEFAULT_WEBHOOKS_PER_SECOND,
            failed_auth_per_second: rate_limit::DEFAULT_FAILED_AUTH_PER_SECOND,
        }
    }
}

/// The whole application as a router, for tests: `start` without the handle
/// that stops its background jobs (they end with the runtime).
pub fn router(pool: DbPool, config: AppConfig) -> http::Routes {
    start(pool, config).0
}

/// Starts the application (`app::App::start`) and the adapters over it: the
/// router serves GraphQL and HTTP, and `App::shutdown` stops the background jobs.
pub fn start(pool: DbPool, config: AppConfig) -> (http::Routes, app::App) {
    let settings = app::Settings {
        public_url: config.public_url.clone(),
        ip_hash_key: config.ip_hash_key,
        mailer: config.mailer,
        tracking_pool: config.tracking_pool,
        report_pool: config.report_pool,
        order_writer_pool: config.order_writer_pool,
        replica: config.replica,
        spool_dir: config.spool_dir,
        journal_clicks_from: config.journal_clicks_from,
        paypal: config.paypal,
        reconcile_every: config.reconcile_every,
        click_rules: config.click_rules,
        mature_every: config.mature_every,
        click_retention_months: config.click_retention_months,
        webhooks: config.webhooks,
        jobs: config.jobs,
        secrets_keys: config.secrets_keys,
        shopify_admin_base_url: config.shopify_admin_base_url,
        shopify_app: config.shopify_app,
        shopify_reconcile_every: config.shopify_reconcile_every,
        listen_url: config.listen_url,
        rates_url: config.rates_url,
        rates_every: config.rates_every,
    };
    let app = app::App::start(pool, Arc::new(metrics::Metrics::new()), settings);
    let limits = config.limits;
    let budget = Arc::new(rate_limit::RateLimiter::new(
        limits.rate_limit_points_per_second,
        limits.rate_limit_burst,
    ));
    let schema = graphql::build_schema(graphql::ApiOptions {
        limits: limits.query,
        budget: budget.clone(),
        introspection: config.introspection,
    });
    let surface = http::Surface {
        metrics_token: config.metrics_token,
        cors_origins: config.cors_origins,
        query_budget: Some(budget),
        trusted_proxies: config.trusted_proxies,
        link_refresh_every: config.link_refresh_every,
    };
    let state = http::AppState::new(app.clone(), schema, limits, surface);
    (http::router(state), app)
}
