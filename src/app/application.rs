//! The `App` value: built once at start (pools, writers, providers, the job
//! runner, settings), it is the only thing the GraphQL and HTTP adapters hold.
//! They reach the database, the writers and the outside services through it
//! and the workflows beside it, never directly.

use std::sync::Arc;
use std::time::Duration;

use super::brands::WebhookSigners;
use super::clicks::{ClickRules, ClickSpool, ClickWriter};
use super::error::AppResult;
use super::jobs::{JobRunner, RunnerSettings};
use super::live::{KpiChanges, KpiWatch};
use super::orders::OrderWriter;
use super::ports::{EndpointClient, Mailer, PayoutProviders, ShopClient, ShopifyApp};
use super::reports::ReportReads;
use super::secrets::SecretsKeys;
use super::webhooks::WebhookSettings;
use crate::db::{self, DbConn, DbError, DbPool, ReportPool};
use crate::domain::enums::JobKind;
use crate::domain::ids::BrandId;
use crate::metrics::Metrics;
use crate::providers;

/// A pooled database connection, as workflows take it.
pub type Conn = DbConn;

/// How long a stop waits for the click journal's clicks to be stored; past it,
/// they are left in the journal for the next start to replay.
const JOURNAL_CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// What the application is started with.
pub struct Settings {
    /// Where shoppers reach this server; tracking links start with it.
    pub public_url: String,
    /// Key for hashing shoppers' IP addresses.
    pub ip_hash_key: Vec<u8>,
    /// Sends queued emails; without it they wait in the outbox.
    pub mailer: Option<Mailer>,
    /// Connections for clicks, link lookups, order webhooks and deliveries (default: the API's).
    pub tracking_pool: Option<DbPool>,
    /// Connections for KPI reads (default: the API's).
    pub report_pool: Option<DbPool>,
    /// The order writer's own connections: with them it runs on a thread of its own.
    pub order_writer_pool: Option<DbPool>,
    /// A streaming replica reports read while it is fresh enough.
    pub replica: Option<Arc<db::replica::Replica>>,
    /// Where answered clicks wait while the database cannot take them.
    pub spool_dir: Option<std::path::PathBuf>,
    /// The PayPal account `PAYPAL` payments are paid from; none: `MANUAL` only.
    pub paypal: Option<providers::paypal::PayPalConfig>,
    pub reconcile_every: Duration,
    pub click_rules: ClickRules,
    pub journal_clicks_from: u64,
    pub mature_every: Duration,
    pub click_retention_months: Option<u32>,
    pub webhooks: WebhookSettings,
    pub jobs: RunnerSettings,
    /// Seals shops' tokens at rest; without it no store can be connected.
    pub secrets_keys: Option<SecretsKeys>,
    /// Where a store's Admin API is, `{shop}` standing for its domain.
    pub shopify_admin_base_url: String,
    /// This server's Shopify app, for installs; none: stores connect with tokens only.
    pub shopify_app: Option<ShopifyApp>,
    /// How often the promo codes of every connected store are compared with ours.
    pub shopify_reconcile_every: Duration,
    /// A session straight to PostgreSQL (not through a transaction pooler) to
    /// LISTEN for the other servers' KPI changes; none: this server's own only.
    pub listen_url: Option<String>,
    /// Where reference exchange rates are fetched (the ECB's XML); none: not fetched.
    pub rates_url: Option<String>,
    pub rates_every: Duration,
}

/// The running application; cloning it is cheap (one shared value).
#[derive(Clone)]
pub struct App(Arc<Parts>);

struct Parts {
    api_pool: DbPool,
    tracking_pool: DbPool,
    reports: ReportPool,
    metrics: Arc<Metrics>,
    payouts: PayoutProviders,
    endpoints: Arc<dyn EndpointClient>,
    shops: Arc<dyn ShopClient>,
    shopify_app: Option<ShopifyApp>,
    secrets: Option<SecretsKeys>,
    jobs: JobRunner,
    clicks: ClickWriter,
    orders: OrderWriter,
    webhook_signers: WebhookSigners,
    live: KpiChanges,
    sends_email: bool,
    public_url: String,
    ip_hash_key: Vec<u8>,
}

impl App {
    /// Starts the click and order writers (which end once every clone of the App
    /// is dropped) and the job runner with every background task, which
    /// `App::shutdown` stops.
    pub fn start(pool: DbPool, metrics: Arc<Metrics>, settings: Settings) -> App {
        let spool = settings
            .spool_dir
            .as_deref()
            .and_then(|dir| match ClickSpool::open(dir) {
                Ok(spool) => Some(Arc::new(spool)),
                Err(error) => {
                    tracing::error!(%error, dir = %dir.display(), "cannot open the click spool; clicks are lost while the database is away");
                    None
                }
            });
        let payouts = payout_providers(settings.paypal);
        let sends_email = settings.mailer.is_some();
        let tracking_pool = settings.tracking_pool.unwrap_or_else(|| pool.clone());
        let live = KpiChanges::start(tracking_pool.clone(), settings.listen_url);
        let jobs = JobRunner::new(pool.clone(), settings.jobs);
        match settings.mailer {
            Some(mailer) => {
                jobs.start(super::email::OutboxJob {
                    pool: pool.clone(),
                    mailer: mailer.clone(),
                });
                jobs.start(super::webhooks::AlertEmailJob { mailer });
            }
            None => tracing::warn!("no SMTP server configured (--smtp-url): emails wait in the outbox"),
        }
        jobs.start(super::payments::ReconcileJob {
            pool: pool.clone(),
            live: live.clone(),
            providers: payouts.clone(),
            every: settings.reconcile_every,
        });
        jobs.start(super::maturity::MaturityJob {
            pool: pool.clone(),
            every: settings.mature_every,
        });
        jobs.start(super::clicks::partitions::PartitionsJob {
            pool: pool.clone(),
            keep_months: settings.click_retention_months,
        });
        // Deliveries use the tracking connections: a storm of reports cannot hold them up.
        jobs.start(super::webhooks::DispatchJob {
            pool: tracking_pool.clone(),
            every: settings.jobs.poll,
            runner: jobs.clone(),
        });
        let endpoints: Arc<dyn EndpointClient> = Arc::new(providers::webhook_http::WebhookSender::new(
            settings.webhooks.targets,
            settings.webhooks.timeout,
        ));
        jobs.start(super::webhooks::DeliveryJob {
            pool: tracking_pool.clone(),
            client: endpoints.clone(),
            settings: settings.webhooks,
        });
        let shops: Arc<dyn ShopClient> =
            Arc::new(providers::shopify::ShopifyAdmin::new(&settings.shopify_admin_base_url));
        jobs.start(super::shopify::SetupJob {
            pool: pool.clone(),
            client: shops.clone(),
            secrets: settings.secrets_keys.clone(),
            public_url: settings.public_url.clone(),
        });
        // Without a secrets key no store can be connected: nothing to keep in step.
        if let Some(secrets) = &settings.secrets_keys {
            jobs.start(super::shop_codes::CodeSyncJob {
                pool: pool.clone(),
                client: shops.clone(),
                secrets: secrets.clone(),
                every: settings.shopify_reconcile_every,
            });
            jobs.start(super::shop_import::ImportJob {
                runner: super::shop_import::ImportRunner {
                    pool: pool.clone(),
                    client: shops.clone(),
                    secrets: secrets.clone(),
                    live: live.clone(),
                },
            });
        }
        if let Some(url) = &settings.rates_url {
            jobs.start(super::exchange_rates::RatesJob {
                pool: pool.clone(),
                live: live.clone(),
                source: Arc::new(providers::ecb::EcbRates::new(url)),
                every: settings.rates_every,
            });
        }
        jobs.report_to(metrics.clone());
        let clicks = ClickWriter::start(
            tracking_pool.clone(),
            settings.click_rules,
            metrics.clone(),
            spool,
            settings.journal_clicks_from,
            live.clone(),
        );
        if let Some(replay) = clicks.spool_replay() {
            jobs.start_local(replay);
        }
        jobs.start_local(clicks.tally_fold());
        let orders = match settings.order_writer_pool {
            Some(own) => OrderWriter::start_on_own_thread(own, metrics.clone(), live.clone()),
            None => OrderWriter::start(tracking_pool.clone(), metrics.clone(), live.clone()),
        };
        jobs.start_local(OrderWriter::tally_fold(tracking_pool.clone(), live.clone()));
        let report_pool = settings.report_pool.unwrap_or_else(|| pool.clone());
        App(Arc::new(Parts {
            reports: ReportPool::new(report_pool, settings.replica),
            api_pool: pool,
            tracking_pool,
            metrics,
            payouts,
            endpoints,
            shops,
            shopify_app: settings.shopify_app,
            secrets: settings.secrets_keys,
            jobs,
            clicks,
            orders,
            webhook_signers: WebhookSigners::new(),
            live,
            sends_email,
            public_url: settings.public_url,
            ip_hash_key: settings.ip_hash_key,
        }))
    }

    /// A connection from the API's pool.
    pub async fn conn(&self) -> AppResult<Conn> {
        Ok(self.0.api_pool.get().await.map_err(DbError::from)?)
    }

    /// A connection from the tracking pool (redirects, order webhooks), which
    /// reports and API traffic cannot starve.
    pub async fn tracking_conn(&self) -> AppResult<Conn> {
        Ok(self.0.tracking_pool.get().await.map_err(DbError::from)?)
    }

    /// The API's pool, for workflows that take and give back connections as they go.
    pub(super) fn pool(&self) -> &DbPool {
        &self.0.api_pool
    }

    /// The tracking pool, for workflows on tracking's side that do the same.
    pub(super) fn tracking_pool(&self) -> &DbPool {
        &self.0.tracking_pool
    }

    /// KPI reads for one brand: the replica's while it is fresh enough for them.
    pub fn report_reads(&self, brand_id: BrandId) -> ReportReads {
        ReportReads::new(self.0.reports.clone(), brand_id)
    }

    /// Whether the database answers a trivial query within `within`.
    pub async fn database_answers(&self, within: Duration) -> bool {
        let ping = async {
            match self.0.api_pool.get().await {
                Ok(mut conn) => db::ping(&mut conn).await.is_ok(),
                Err(_) => false,
            }
        };
        tokio::time::timeout(within, ping).await.unwrap_or(false)
    }

    /// Notes the pools' use, the replica's lag and the writers' queues in the
    /// metrics (just before they are read).
    pub fn refresh_gauges(&self) {
        let parts = &self.0;
        let pools = [
            ("api", &parts.api_pool),
            ("tracking", &parts.tracking_pool),
            ("reports", parts.reports.primary()),
        ];
        let replica = parts.reports.replica().map(|replica| ("replica", replica.pool()));
        for (name, pool) in pools.into_iter().chain(replica) {
            let status = pool.status();
            parts
                .metrics
                .pool_status(name, status.size, status.available, status.waiting);
        }
        if let Some(replica) = parts.reports.replica() {
            parts.metrics.replica_lag(replica.lag().ok());
        }
        parts.metrics.writer_queue("clicks", parts.clicks.queued());
        parts.metrics.writer_queue("orders", parts.orders.queued());
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.0.metrics
    }

    /// Who can pay payments out on this server.
    pub fn payouts(&self) -> &PayoutProviders {
        &self.0.payouts
    }

    /// Reaches brands' webhook endpoints (and checks them at registration).
    pub fn endpoint_client(&self) -> &dyn EndpointClient {
        self.0.endpoints.as_ref()
    }

    /// The connected stores' Admin API.
    pub(super) fn shops(&self) -> &dyn ShopClient {
        self.0.shops.as_ref()
    }

    /// The connected stores' Admin API, shared with a workflow that outlives the call.
    pub(super) fn shops_client(&self) -> Arc<dyn ShopClient> {
        self.0.shops.clone()
    }

    /// This server's Shopify app (none without `--shopify-api-key` and secret).
    pub(super) fn shopify_app(&self) -> Option<&ShopifyApp> {
        self.0.shopify_app.as_ref()
    }

    /// Seals and opens shops' tokens (none without `--secrets-key`).
    pub(super) fn secrets(&self) -> Option<&SecretsKeys> {
        self.0.secrets.as_ref()
    }

    /// Clicks are recorded through it, in batches.
    pub fn clicks(&self) -> &ClickWriter {
        &self.0.clicks
    }

    /// Webhook orders are recorded through it, in groups.
    pub fn orders(&self) -> &OrderWriter {
        &self.0.orders
    }

    /// The brands order webhooks named lately, with their secrets.
    pub fn webhook_signers(&self) -> &WebhookSigners {
        &self.0.webhook_signers
    }

    /// Where shoppers reach this server, for tracking links.
    pub fn public_url(&self) -> &str {
        &self.0.public_url
    }

    /// Key for hashing shoppers' IP addresses.
    pub fn ip_hash_key(&self) -> &[u8] {
        &self.0.ip_hash_key
    }

    /// Tells the runner `kind` has work now.
    pub fn wake(&self, kind: JobKind) {
        self.0.jobs.wake(kind);
    }

    /// The brand's KPIs may have changed: its live subscriptions, here and on
    /// the other servers, look again.
    pub fn kpis_changed(&self, brand_id: BrandId) {
        self.0.live.touch(brand_id);
    }

    /// Whether queued emails are sent (a mailer is configured) or wait in the outbox.
    pub fn sends_email(&self) -> bool {
        self.0.sends_email
    }

    /// What workflows tell of KPI changes.
    pub(crate) fn live_changes(&self) -> KpiChanges {
        self.0.live.clone()
    }

    /// The brand's KPI changes from now on, this server's and the others'.
    pub fn kpi_changes(&self, brand_id: BrandId) -> KpiWatch {
        self.0.live.subscribe(brand_id)
    }

    /// Stops the background jobs, releasing their leases (within the runner's
    /// grace), closes the click journal (its clicks stored, or left for the next
    /// start), and tells the other servers of the last KPI changes.
    pub async fn shutdown(&self) {
        // Side by side: the journal's clicks are stored as the jobs finish.
        tokio::join!(
            self.0.jobs.shutdown(),
            self.0.clicks.close_journal(JOURNAL_CLOSE_WITHIN)
        );
        if let Err(error) = self.0.live.send_marked().await {
            tracing::warn!(%error, "cannot tell the other servers of the last KPI changes");
        }
    }
}

/// `MANUAL` always; `PAYPAL` when configured and its client can be built.
fn payout_providers(paypal: Option<providers::paypal::PayPalConfig>) -> PayoutProviders {
    let paypal = paypal.and_then(|paypal| match providers::paypal::PayPal::new(paypal) {
        Ok(paypal) => Some(Arc::new(paypal) as Arc<dyn super::ports::PayoutProvider>),
        Err(error) => {
            tracing::error!(%error, "PayPal is configured but cannot be reached: PAYPAL payments are refused");
            None
        }
    });
    PayoutProviders::new(Arc::new(providers::manual::ManualProvider), paypal)
}
