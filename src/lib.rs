//! Sales Tracking: the GraphQL API behind an influencer and affiliate sales dashboard.
//!
//! `domain` holds pure rules, `db` the PostgreSQL layer, `graphql` the API
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
    /// A streaming replica reports read while it is fresh enough (none: the primary).
    pub replica: Option<Arc<db::replica::Replica>>,
    /// Where answered clicks wait when the database cannot take them in time
    /// (none: such clicks are lost and counted in `click_write_failures`).
    pub spool_dir: Option<std::path::PathBuf>,
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
}

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
            replica: None,
            spool_dir: None,
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
pub fn router(pool: DbPool, config: AppConfig) -> axum::Router {
    start(pool, config).0
}

/// Starts the application: the click and order writers (which end once the router
/// is dropped) and the job runner with every background task, which
/// `JobRunner::shutdown` stops.
pub fn start(pool: DbPool, config: AppConfig) -> (axum::Router, app::jobs::JobRunner) {
    let spool = config.spool_dir.as_deref().and_then(|dir| match app::clicks::ClickSpool::open(dir) {
        Ok(spool) => Some(Arc::new(spool)),
        Err(error) => {
            tracing::error!(%error, dir = %dir.display(), "cannot open the click spool; clicks are lost while the database is away");
            None
        }
    });
    let metrics = Arc::new(metrics::Metrics::new());
    let jobs = app::jobs::JobRunner::new(pool.clone(), config.jobs);
    match config.mailer {
        Some(mailer) => {
            jobs.start(app::email::OutboxJob {
                pool: pool.clone(),
                mailer: mailer.clone(),
            });
            jobs.start(app::webhooks::AlertEmailJob { mailer });
        }
        None => tracing::warn!("no SMTP server configured (--smtp-url): emails wait in the outbox"),
    }
    let paypal = config
        .paypal
        .and_then(|paypal| match providers::paypal::PayPal::new(paypal) {
            Ok(paypal) => Some(paypal),
            Err(error) => {
                tracing::error!(%error, "PayPal is configured but cannot be reached: PAYPAL payments are refused");
                None
            }
        });
    let payout_providers = providers::payout::PayoutProviders::new(paypal);
    jobs.start(app::payments::ReconcileJob {
        pool: pool.clone(),
        providers: payout_providers.clone(),
        every: config.reconcile_every,
    });
    jobs.start(app::maturity::MaturityJob {
        pool: pool.clone(),
        every: config.mature_every,
    });
    jobs.start(app::clicks::partitions::PartitionsJob {
        pool: pool.clone(),
        keep_months: config.click_retention_months,
    });
    let tracking_pool = config.tracking_pool.unwrap_or_else(|| pool.clone());
    // Deliveries use the tracking connections: a storm of reports cannot hold them up.
    jobs.start(app::webhooks::DispatchJob {
        pool: tracking_pool.clone(),
        every: config.jobs.poll,
        runner: jobs.clone(),
    });
    jobs.start(app::webhooks::DeliveryJob::new(
        tracking_pool.clone(),
        config.webhooks.clone(),
    ));
    jobs.report_to(metrics.clone());
    let services = app::Services {
        jobs: Some(jobs.clone()),
        webhooks: config.webhooks,
    };
    let limits = config.limits;
    let report_pool = config.report_pool.unwrap_or_else(|| pool.clone());
    let budget = Arc::new(rate_limit::RateLimiter::new(
        limits.rate_limit_points_per_second,
        limits.rate_limit_burst,
    ));
    let options = graphql::ApiOptions {
        public_url: config.public_url.clone(),
        limits: limits.query,
        budget: budget.clone(),
        introspection: config.introspection,
        providers: payout_providers.clone(),
    };
    let schema = graphql::build_schema(pool.clone(), metrics.clone(), services, options);
    let surface = http::Surface {
        metrics_token: config.metrics_token,
        cors_origins: config.cors_origins,
        public_url: config.public_url,
        query_budget: Some(budget),
        providers: payout_providers,
        trusted_proxies: config.trusted_proxies,
        click_rules: config.click_rules,
        link_refresh_every: config.link_refresh_every,
    };
    let state = http::AppState::new(
        schema,
        http::Pools {
            api: pool,
            tracking: tracking_pool,
            reports: db::ReportPool::new(report_pool, config.replica),
        },
        metrics,
        config.ip_hash_key,
        limits,
        spool,
        surface,
    );
    if let Some(replay) = state.clicks.spool_replay() {
        jobs.start_local(replay);
    }
    (http::router(state), jobs)
}
