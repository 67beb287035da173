use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

use sales_tracking::app;
use sales_tracking::dev::local_postgres as local;
use sales_tracking::domain::enums::Role;

/// Every redirect and order allocates a little; mimalloc's per-thread free lists
/// make that cheaper than the system allocator (measured in bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Sales Tracking: GraphQL API server for influencer and affiliate sales.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    database: DatabaseArgs,
    /// How logs are written to standard error: `json` (one object per line, with the
    /// request's id) or `text`. Default: text on a terminal, JSON otherwise.
    #[arg(long, env = "LOG_FORMAT", global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Logs go to standard error, so standard output carries only what a command
/// prints (its last line is the API key for `serve --demo` and `seed`).
fn init_logs(format: Option<LogFormat>) {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn"));
    let format = format.unwrap_or(if std::io::stderr().is_terminal() {
        LogFormat::Text
    } else {
        LogFormat::Json
    });
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .init(),
        LogFormat::Text => logs.init(),
    }
}

#[derive(Args)]
struct DatabaseArgs {
    /// PostgreSQL URL. Without it, the server on 127.0.0.1:5432 is used if it
    /// answers, or else a private cluster is started in --data-dir.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    /// Where a private PostgreSQL cluster keeps its files (default: /var/lib/sales-tracking
    /// as root, ~/.local/share/sales-tracking otherwise).
    #[arg(long, env = "SALES_TRACKING_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// DATABASE_URL reaches PostgreSQL through PgBouncer (or another pooler) in
    /// transaction mode: queries run as unnamed statements, and migrations, the seed's
    /// COPY and the replica check use --direct-database-url.
    #[arg(long, env = "TRANSACTION_POOLER", global = true)]
    transaction_pooler: bool,
    /// PostgreSQL itself, bypassing the pooler, for migrations (their advisory lock
    /// lives as long as the session). Default: DATABASE_URL.
    #[arg(long, env = "DIRECT_DATABASE_URL", global = true, hide_env_values = true)]
    direct_database_url: Option<String>,
    /// Largest number of pooled database connections.
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 16, global = true)]
    pool_size: usize,
}

// Parsed once at start-up: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Serves the GraphQL API, GraphiQL and the tracking endpoints.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "BIND", default_value = "127.0.0.1:8080")]
        bind: SocketAddr,
        /// Also create a demo brand with a year of data, and print an admin key for it.
        #[arg(long)]
        demo: bool,
        /// Where shoppers reach this server; tracking links start with it (default: http://{bind}).
        #[arg(long, env = "PUBLIC_URL")]
        public_url: Option<String>,
        /// Secret for hashing shoppers' IP addresses (default: random at each start).
        #[arg(long, env = "IP_HASH_SECRET", hide_env_values = true)]
        ip_hash_secret: Option<String>,
        /// SMTP server for member emails, e.g. `smtp://localhost:25`,
        /// `smtp://user:pass@host:587?tls=required` or `smtps://user:pass@host:465`.
        /// Without it, emails wait in the outbox.
        #[arg(long, env = "SMTP_URL", hide_env_values = true)]
        smtp_url: Option<String>,
        /// Who member emails come from.
        #[arg(long, env = "SMTP_FROM", default_value = "Sales Tracking <no-reply@localhost>")]
        smtp_from: String,
        /// Where answered clicks wait, synced to disk, while the database cannot take
        /// them in time (default: `spool` in the data directory).
        #[arg(long, env = "SPOOL_DIR")]
        spool_dir: Option<PathBuf>,
        /// From this many clicks a second, a redirect answers once its click is synced
        /// to the journal in the spool directory, and clicks are stored in large
        /// batches; below it, once its batch is committed.
        #[arg(long, env = "JOURNAL_CLICKS_FROM", default_value_t = 2_000)]
        journal_clicks_from: u64,
        /// A token `/metrics` requires (`Authorization: Bearer <token>`); without it `/metrics` is open.
        #[arg(long, env = "METRICS_TOKEN", hide_env_values = true)]
        metrics_token: Option<String>,
        /// Web origins allowed to call the API from a browser, comma-separated
        /// (e.g. `https://app.example.com`); default: none (same origin only).
        #[arg(long, env = "CORS_ORIGINS", value_delimiter = ',')]
        cors_origins: Vec<String>,
        /// Proxies whose `X-Forwarded-For` names the shopper, comma-separated addresses
        /// or networks (e.g. `10.0.0.0/8,127.0.0.1`); from any other peer the header is
        /// ignored. Default: none (the connection's address is the shopper's).
        #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_network)]
        trusted_proxies: Vec<ipnet::IpNet>,
        /// Seconds within which a visitor's repeat clicks on a link earn one per-click
        /// commission (at least 60).
        #[arg(long, env = "CLICK_REPEAT_WINDOW", default_value_t = 3600)]
        click_repeat_window: u64,
        /// Months of raw clicks to keep: whole UTC months older are dropped, while
        /// the KPIs keep every figure. Default: keep every click.
        #[arg(long, env = "CLICK_RETENTION_MONTHS", value_parser = clap::value_parser!(u32).range(1..=1200))]
        click_retention_months: Option<u32>,
        /// Seconds between runs of the job that moves ledger entries past their hold
        /// period from on hold to due (reports are exact between runs either way).
        #[arg(long, env = "MATURE_EVERY", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        mature_every: u64,
        /// A streaming replica of the database (e.g. made with `pg_basebackup -R`) for
        /// report reads. Mutations, and a brand's reports until its writes are
        /// replayed, read the primary; so does every report while the replica is down
        /// or too far behind. Answers say how fresh their figures are (`extensions.freshness`).
        #[arg(long, env = "REPLICA_URL", hide_env_values = true)]
        replica_url: Option<String>,
        /// Seconds behind the primary past which reports stop reading the replica.
        #[arg(long, env = "REPLICA_MAX_LAG", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3_600))]
        replica_max_lag: u64,
        /// Lets brands' webhook endpoints be `http` and on loopback or private
        /// networks (tests and local setups); otherwise only `https` to public addresses.
        #[arg(long, env = "ALLOW_PRIVATE_WEBHOOK_TARGETS")]
        allow_private_webhook_targets: bool,
        /// Seconds a claimed background job stays with its server between the
        /// heartbeats (every third of it) that running jobs send: a crashed server's
        /// jobs are picked up by another this long after its last beat.
        #[arg(long, env = "JOB_LEASE", default_value_t = 6, value_parser = clap::value_parser!(u64).range(3..=3_600))]
        job_lease: u64,
        /// Whether this server runs background jobs (webhook deliveries, emails,
        /// reconciliation...); `false` makes it answer requests only, while others run them.
        #[arg(long, env = "RUN_JOBS", default_value_t = true, action = clap::ArgAction::Set)]
        run_jobs: bool,
        /// The ECB's euro reference rates (its `eurofxref` XML), fetched at start and
        /// every --fx-refresh-every seconds; `none` fetches nothing.
        #[arg(long, env = "FX_RATES_URL", default_value = sales_tracking::providers::ecb::NINETY_DAYS_URL)]
        fx_rates_url: String,
        #[arg(long, env = "FX_REFRESH_EVERY", default_value_t = 3_600, value_parser = clap::value_parser!(u64).range(60..=604_800))]
        fx_refresh_every: u64,
        #[command(flatten)]
        paypal: PayPalArgs,
        #[command(flatten)]
        shopify: ShopifyArgs,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Re-seals every stored shop token under the first `--secrets-key`, after a
    /// new key is put first; the old key can then be dropped.
    RotateSecrets {
        #[arg(long, env = "SECRETS_KEY", hide_env_values = true, value_parser = parse_secrets_keys)]
        secrets_key: sales_tracking::app::secrets::SecretsKeys,
    },
    /// Imports a brand's Shopify order history, showing its progress: the same as
    /// `importShopifyOrders` (it joins the brand's running import if there is one).
    ImportShopify {
        /// The brand's slug.
        #[arg(long)]
        brand: String,
        /// The first day of orders (YYYY-MM-DD, in the brand's time zone).
        #[arg(long)]
        from: chrono::NaiveDate,
        /// The last day, inclusive (default: today).
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
        /// Leave commissions already past their hold period due, instead of recording
        /// them as paid outside Sales Tracking.
        #[arg(long)]
        payable: bool,
        #[arg(long, env = "SECRETS_KEY", hide_env_values = true, value_parser = parse_secrets_keys)]
        secrets_key: sales_tracking::app::secrets::SecretsKeys,
        /// Where a store's Admin API is, `{shop}` standing for its domain.
        #[arg(long, env = "SHOPIFY_ADMIN_BASE_URL", default_value = sales_tracking::DEFAULT_SHOPIFY_ADMIN_BASE_URL)]
        shopify_admin_base_url: String,
    },
    /// Rebuilds every rollup and balance from the raw events and compares: prints how
    /// many rows differ and fails if any do.
    Check,
    /// Creates a brand full of generated activity (deterministic), for benchmarks.
    Seed {
        #[arg(long, default_value_t = 1_000_000)]
        clicks: usize,
        #[arg(long, default_value_t = 100_000)]
        conversions: usize,
        #[arg(long, default_value_t = 5_000)]
        members: usize,
        #[arg(long, default_value_t = 50)]
        offers: usize,
        /// The random seed: the same seed gives the same data.
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Manages brands.
    Brand {
        #[command(subcommand)]
        command: BrandCommand,
    },
    /// Manages API keys.
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
}

/// An address (`10.0.0.1`) or a network (`10.0.0.0/8`).
fn parse_network(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("'{text}' is neither an address nor a network"))
}

/// Keys as `--secrets-key` takes them (see `SecretsKeys::parse`).
fn parse_secrets_keys(text: &str) -> Result<sales_tracking::app::secrets::SecretsKeys, String> {
    sales_tracking::app::secrets::SecretsKeys::parse(text)
}

/// Brands' Shopify stores.
#[derive(Args)]
struct ShopifyArgs {
    /// Keys that seal shops' access tokens at rest (AES-256-GCM): base64 of 32
    /// random bytes (`openssl rand -base64 32`), comma-separated, the sealing one
    /// first. Without it no store can be connected.
    #[arg(long, env = "SECRETS_KEY", hide_env_values = true, value_parser = parse_secrets_keys)]
    secrets_key: Option<sales_tracking::app::secrets::SecretsKeys>,
    /// Where a store's Admin API is, `{shop}` standing for its domain.
    #[arg(long, env = "SHOPIFY_ADMIN_BASE_URL", default_value = sales_tracking::DEFAULT_SHOPIFY_ADMIN_BASE_URL)]
    shopify_admin_base_url: String,
    /// This server's Shopify app's client id, for installs from Shopify (with the secret).
    #[arg(long, env = "SHOPIFY_API_KEY", requires = "shopify_api_secret")]
    shopify_api_key: Option<String>,
    /// The app's client secret: signs the install callback and the app's webhooks.
    #[arg(
        long,
        env = "SHOPIFY_API_SECRET",
        hide_env_values = true,
        requires = "shopify_api_key"
    )]
    shopify_api_secret: Option<String>,
    /// Seconds between rounds that compare connected stores' promo codes with ours
    /// and repair drift (every change also syncs at once).
    #[arg(long, env = "SHOPIFY_RECONCILE_EVERY", default_value_t = 600, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    shopify_reconcile_every: u64,
}

/// The PayPal account `PAYPAL` payments are paid from (PayPal Payouts).
#[derive(Args)]
struct PayPalArgs {
    /// PayPal's REST API, e.g. `https://api-m.paypal.com` or `https://api-m.sandbox.paypal.com`.
    #[arg(long, env = "PAYPAL_API_URL")]
    paypal_api_url: Option<String>,
    #[arg(long, env = "PAYPAL_CLIENT_ID", hide_env_values = true)]
    paypal_client_id: Option<String>,
    #[arg(long, env = "PAYPAL_CLIENT_SECRET", hide_env_values = true)]
    paypal_client_secret: Option<String>,
    /// The id PayPal gave this server's webhook (`/webhooks/paypal`), to verify its events.
    #[arg(long, env = "PAYPAL_WEBHOOK_ID")]
    paypal_webhook_id: Option<String>,
    /// Seconds one PayPal call may take.
    #[arg(long, env = "PAYPAL_TIMEOUT", default_value_t = 30)]
    paypal_timeout: u64,
    /// Seconds between rounds that ask providers about unsettled payments (one runs at start).
    #[arg(long, env = "RECONCILE_EVERY", default_value_t = 5)]
    reconcile_every: u64,
}

impl PayPalArgs {
    /// The PayPal settings, when all three of URL, client id and secret are given.
    fn config(&self) -> anyhow::Result<Option<sales_tracking::providers::paypal::PayPalConfig>> {
        match (&self.paypal_api_url, &self.paypal_client_id, &self.paypal_client_secret) {
            (None, None, None) => Ok(None),
            (Some(api_url), Some(client_id), Some(client_secret)) => {
                Ok(Some(sales_tracking::providers::paypal::PayPalConfig {
                    api_url: api_url.clone(),
                    client_id: client_id.clone(),
                    client_secret: client_secret.clone(),
                    webhook_id: self.paypal_webhook_id.clone(),
                    timeout: std::time::Duration::from_secs(self.paypal_timeout.max(1)),
                }))
            }
            _ => anyhow::bail!("PayPal needs all of --paypal-api-url, --paypal-client-id and --paypal-client-secret"),
        }
    }
}

/// What callers may ask of the server; each has a documented default.
#[derive(Args)]
struct LimitArgs {
    /// Query cost points an API key (or a client IP without one) regains per second; 0 turns the limit off.
    #[arg(long, env = "RATE_LIMIT_POINTS_PER_SECOND", default_value_t = sales_tracking::rate_limit::DEFAULT_POINTS_PER_SECOND)]
    rate_limit_points_per_second: u64,
    /// The most query cost points a key can hold (and so spend at once).
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = sales_tracking::rate_limit::DEFAULT_BURST)]
    rate_limit_burst: u64,
    /// Order webhooks each brand may send per second; 0 turns the limit off.
    #[arg(long, env = "WEBHOOK_RATE_LIMIT_PER_SECOND", default_value_t = sales_tracking::rate_limit::DEFAULT_WEBHOOKS_PER_SECOND)]
    webhook_rate_limit_per_second: u64,
    /// Failed API keys, and apart failed webhook signatures, a client address may send per
    /// second (ten times that at once) before it is refused without a lookup; 0 turns it off.
    #[arg(long, env = "FAILED_AUTH_PER_SECOND", default_value_t = sales_tracking::rate_limit::DEFAULT_FAILED_AUTH_PER_SECOND)]
    failed_auth_per_second: u64,
    /// Whether the schema can be introspected (GraphiQL's docs and code generators need it).
    #[arg(long, env = "INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    introspection: bool,
    /// Client connections open at once.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 1_024)]
    max_connections: usize,
    /// Client connections open at once from one address (a trusted proxy's are not capped).
    #[arg(long, env = "MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 64)]
    max_connections_per_address: usize,
    /// Seconds a client may take to send a request's headers, from the moment it connects.
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value_t = 10)]
    header_read_timeout: u64,
    /// Seconds a shutdown waits for requests in flight before it closes them.
    #[arg(long, env = "SHUTDOWN_DEADLINE", default_value_t = 20)]
    shutdown_deadline: u64,
}

#[derive(Subcommand)]
enum BrandCommand {
    /// Creates a brand and prints its slug.
    Create {
        #[arg(long)]
        name: String,
        /// IANA time zone for date ranges and daily figures, e.g. America/New_York.
        #[arg(long, default_value = "UTC")]
        time_zone: String,
    },
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Creates an API key and prints it alone on the last line.
    Create {
        /// The brand's slug.
        #[arg(long)]
        brand: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// A note to tell keys apart.
        #[arg(long, default_value = "")]
        label: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "UPPER")]
enum RoleArg {
    Admin,
    Analyst,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    // Holds a private cluster, if one was started, until main returns.
    let database = open_database(&cli.database).await?;
    let opened = app::database::open(app::database::DatabaseSettings {
        url: database.url.clone(),
        direct_url: cli.database.direct_database_url.clone(),
        transaction_pooler: cli.database.transaction_pooler,
        pool_size: cli.database.pool_size,
    })
    .await?;
    let (pool, direct_url) = (opened.pool, opened.direct_url);

    match cli.command {
        Command::Serve {
            bind,
            demo,
            public_url,
            ip_hash_secret,
            smtp_url,
            smtp_from,
            spool_dir,
            journal_clicks_from,
            metrics_token,
            cors_origins,
            trusted_proxies,
            click_repeat_window,
            click_retention_months,
            mature_every,
            replica_url,
            replica_max_lag,
            allow_private_webhook_targets,
            job_lease,
            run_jobs,
            fx_rates_url,
            fx_refresh_every,
            paypal,
            shopify,
            limits,
        } => {
            let spool_dir = spool_dir.unwrap_or_else(|| {
                cli.database
                    .data_dir
                    .clone()
                    .unwrap_or_else(local::default_data_dir)
                    .join("spool")
            });
            // Held until the server exits: no other server may take its journal. A
            // directory that cannot be written is left to the spool to report, as
            // before: the server runs on without one.
            let _spool_claim = match sales_tracking::app::clicks::spool::claim(&spool_dir) {
                Err(error) if error.kind() == std::io::ErrorKind::ResourceBusy => {
                    return Err(error)
                        .with_context(|| format!("cannot use the spool directory {}", spool_dir.display()));
                }
                claimed => claimed.ok(),
            };
            let mailer = smtp_url
                .map(|url| sales_tracking::providers::smtp::SmtpMailer::new(&url, &smtp_from))
                .transpose()
                .context("bad SMTP settings")?
                .map(|smtp| std::sync::Arc::new(smtp) as sales_tracking::app::email::Mailer);
            let demo_key = if demo {
                Some(sales_tracking::fixtures::demo::ensure_demo_brand(&pool).await?)
            } else {
                None
            };
            let listener =
                sales_tracking::http::server::listen(bind).with_context(|| format!("cannot listen on {bind}"))?;
            println!("Serving on http://{bind}  (GraphiQL: http://{bind}/graphiql)");
            if let Some(key) = demo_key {
                // Last on standard output, alone on its line, for scripts.
                println!("Demo brand ready. Admin API key:\n{key}");
            }
            let config = sales_tracking::AppConfig {
                public_url: public_url.unwrap_or_else(|| format!("http://{bind}")),
                ip_hash_key: ip_hash_secret.map_or_else(|| rand::random::<[u8; 32]>().to_vec(), String::into_bytes),
                mailer,
                limits: sales_tracking::Limits {
                    rate_limit_points_per_second: limits.rate_limit_points_per_second,
                    rate_limit_burst: limits.rate_limit_burst,
                    webhook_rate_limit_per_second: limits.webhook_rate_limit_per_second,
                    failed_auth_per_second: limits.failed_auth_per_second,
                    ..Default::default()
                },
                introspection: limits.introspection,
                tracking_pool: Some(opened.tracking_pool),
                report_pool: Some(opened.report_pool),
                order_writer_pool: Some(opened.order_writer_pool),

                replica: replica_url
                    .map(|url| {
                        let max_lag = std::time::Duration::from_secs(replica_max_lag);
                        app::database::watch_replica(&url, max_lag, &direct_url)
                    })
                    .transpose()
                    .context("bad --replica-url")?,
                spool_dir: Some(spool_dir),
                journal_clicks_from,
                metrics_token,
                cors_origins,
                paypal: paypal.config()?,
                trusted_proxies: trusted_proxies.clone(),
                click_rules: sales_tracking::app::clicks::ClickRules {
                    repeat_window: chrono::Duration::seconds(click_repeat_window.min(365 * 86_400) as i64),
                },
                reconcile_every: std::time::Duration::from_secs(paypal.reconcile_every),
                mature_every: std::time::Duration::from_secs(mature_every),
                click_retention_months,
                webhooks: sales_tracking::app::webhooks::WebhookSettings {
                    targets: if allow_private_webhook_targets {
                        sales_tracking::app::ports::Targets::AllowPrivate
                    } else {
                        sales_tracking::app::ports::Targets::PublicOnly
                    },
                    ..Default::default()
                },
                jobs: sales_tracking::app::jobs::RunnerSettings {
                    lease: std::time::Duration::from_secs(job_lease),
                    // Jobs get half the deadline to finish; the rest hands their leases back.
                    shutdown_grace: std::time::Duration::from_secs(limits.shutdown_deadline) / 2,
                    run_jobs,
                    ..Default::default()
                },
                secrets_keys: shopify.secrets_key,
                shopify_admin_base_url: shopify.shopify_admin_base_url,
                shopify_reconcile_every: std::time::Duration::from_secs(shopify.shopify_reconcile_every),
                listen_url: Some(direct_url.clone()),
                rates_url: (fx_rates_url != "none").then_some(fx_rates_url),
                rates_every: std::time::Duration::from_secs(fx_refresh_every),
                shopify_app: shopify
                    .shopify_api_key
                    .zip(shopify.shopify_api_secret)
                    .map(|(api_key, api_secret)| sales_tracking::app::ports::ShopifyApp { api_key, api_secret }),
                ..Default::default()
            };
            let serving = sales_tracking::http::server::ServeOptions {
                max_connections: limits.max_connections,
                max_connections_per_address: limits.max_connections_per_address,
                uncapped_addresses: trusted_proxies,
                header_read_timeout: std::time::Duration::from_secs(limits.header_read_timeout),
                shutdown_deadline: std::time::Duration::from_secs(limits.shutdown_deadline),
            };
            let (router, application) = sales_tracking::start(pool, config);
            // One signal stops both the HTTP server and the job runner, side by side.
            let signal = futures_util::FutureExt::shared(Box::pin(shutdown_signal()));
            let served = sales_tracking::http::server::serve(listener, router, serving, signal.clone());
            tokio::pin!(served);
            let served = tokio::select! {
                served = &mut served => {
                    application.shutdown().await;
                    served
                }
                () = signal => tokio::join!(served, application.shutdown()).0,
            };
            served?;
        }
        Command::Seed {
            clicks,
            conversions,
            members,
            offers,
            seed,
        } => {
            let size = sales_tracking::fixtures::seed::SeedSize {
                clicks,
                conversions,
                members,
                offers,
                seed,
            };
            let started = std::time::Instant::now();
            let (slug, key) = sales_tracking::fixtures::seed::seed(&pool, &direct_url, size).await?;
            println!(
                "Seeded brand '{slug}' in {:.1} s. Admin API key:",
                started.elapsed().as_secs_f64()
            );
            println!("{key}");
        }
        Command::RotateSecrets { secrets_key } => {
            let mut conn = pool.get().await?;
            let resealed = app::shopify::reseal_tokens(&mut conn, &secrets_key)
                .await
                .map_err(cli_error)?;
            println!("tokens re-sealed under the first key: {resealed}");
        }
        Command::ImportShopify {
            brand,
            from,
            to,
            payable,
            secrets_key,
            shopify_admin_base_url,
        } => {
            let config = sales_tracking::AppConfig {
                secrets_keys: Some(secrets_key),
                shopify_admin_base_url,
                jobs: sales_tracking::app::jobs::RunnerSettings {
                    run_jobs: false,
                    ..Default::default()
                },
                ..Default::default()
            };
            let (_, application) = sales_tracking::start(pool, config);
            let request = app::shop_import::ImportRequest { from, to, payable };
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} orders  {msg}")
                    .expect("the template is valid"),
            );
            let imported = app::shop_import::import_from_command_line(&application, &brand, request, |row| {
                bar.set_length(row.total.unwrap_or(row.processed).max(row.processed) as u64);
                bar.set_position(row.processed as u64);
                bar.set_message(format!("{} new, {} already booked", row.recorded, row.already_recorded));
            })
            .await
            .map_err(cli_error);
            bar.finish();
            application.shutdown().await;
            let imported = imported?;
            println!(
                "import {}: {} orders read, {} recorded, {} already booked, {} skipped",
                imported.state.as_str(),
                imported.processed,
                imported.recorded,
                imported.already_recorded,
                imported.skipped
            );
            if let Some(error) = &imported.error {
                anyhow::bail!("the import stopped: {error}");
            }
        }
        Command::Check => {
            let mut conn = pool.get().await?;
            let (rollups, summaries, dangling) = app::reports::derived_table_mismatches(&mut conn)
                .await
                .map_err(cli_error)?;
            println!("rollups differing from the raw events: {rollups}");
            println!("summaries differing from what they sum: {summaries}");
            println!("rows naming a membership or conversion that is not there: {dangling}");
            anyhow::ensure!(
                rollups == 0 && summaries == 0 && dangling == 0,
                "the derived tables differ from a rebuild, or rows name what is not there"
            );
        }
        Command::Brand {
            command: BrandCommand::Create { name, time_zone },
        } => {
            let mut conn = pool.get().await?;
            let brand = app::brands::create(&mut conn, &name, &time_zone)
                .await
                .map_err(cli_error)?;
            println!("{}", brand.slug);
        }
        Command::ApiKey {
            command: ApiKeyCommand::Create { brand, role, label },
        } => {
            let mut conn = pool.get().await?;
            let role = match role {
                RoleArg::Admin => Role::Admin,
                RoleArg::Analyst => Role::Analyst,
            };
            let (brand, secret) = app::api_keys::create_for_brand(&mut conn, &brand, role, &label)
                .await
                .map_err(|e| match e {
                    app::AppError::NotFound(_) => anyhow::anyhow!("no brand with slug '{brand}'"),
                    other => cli_error(other),
                })?;
            println!("API key for {} ({}), shown once:", brand.slug, role.as_str());
            println!("{secret}");
        }
    }
    Ok(())
}

/// An error of `app` as the command line says it: the message, or the whole chain
/// of an internal error (an operator reads it, not a client).
fn cli_error(error: app::AppError) -> anyhow::Error {
    match error {
        app::AppError::Internal(cause) => anyhow::anyhow!("{cause:?}"),
        other => anyhow::anyhow!(other.message()),
    }
}

async fn open_database(args: &DatabaseArgs) -> anyhow::Result<local::LocalDatabase> {
    if let Some(url) = &args.database_url {
        return Ok(local::LocalDatabase {
            url: url.clone(),
            cluster: None,
        });
    }
    let data_dir = args.data_dir.clone().unwrap_or_else(local::default_data_dir);
    local::find_or_start(&data_dir, "sales_tracking").await
}

/// Ctrl-C or SIGTERM: stop accepting, finish requests in flight, then return.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        if let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            signal.recv().await;
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
