//! Counters served at `/metrics` in Prometheus text format.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub reason: &'static str,
}

/// A request's route (the pattern it matched, e.g. `/r/{code}`), method and status class.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub method: &'static str,
    pub status: &'static str,
}

/// A connection pool and one of its counts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub pool: &'static str,
    pub state: &'static str,
}

/// A batch writer (`clicks`, `orders`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriterLabels {
    pub writer: &'static str,
}

/// A job kind (`WEBHOOK_DELIVERY`...) and one of its counts.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub kind: &'static str,
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

type LatencyHistogram = Family<RouteLabels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

pub struct Metrics {
    pub clicks: Counter,
    pub bot_clicks: Counter,
    pub ignored_clicks: Counter,
    pub click_write_failures: Counter,
    pub orders_accepted: Counter,
    pub orders_unattributed: Counter,
    pub orders_duplicate: Counter,
    pub orders_rejected: Counter,
    pub orders_refunded: Counter,
    pub panics: Counter,
    pub clicks_spooled: Counter,
    pub clicks_journaled: Counter,
    pub clicks_replayed: Counter,
    pub clicks_tallied: Counter,
    pub order_groups_tallied: Counter,
    pub throttled: Counter,
    pub webhook_failures: Family<FailureLabels, Counter>,
    pub request_seconds: LatencyHistogram,
    pub pool_connections: Family<PoolLabels, Gauge>,
    pub writer_queued: Family<WriterLabels, Gauge>,
    pub click_batch_size: Histogram,
    pub click_batch_seconds: Histogram,
    pub click_journal_sync_seconds: Histogram,
    pub order_group_size: Histogram,
    pub order_group_seconds: Histogram,
    pub replica_lag_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    pub replica_usable: Gauge,
    pub jobs: Family<JobLabels, Gauge>,
    pub job_oldest_seconds: Family<KindLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            clicks: Counter::default(),
            bot_clicks: Counter::default(),
            ignored_clicks: Counter::default(),
            click_write_failures: Counter::default(),
            orders_accepted: Counter::default(),
            orders_unattributed: Counter::default(),
            orders_duplicate: Counter::default(),
            orders_rejected: Counter::default(),
            orders_refunded: Counter::default(),
            panics: Counter::default(),
            clicks_spooled: Counter::default(),
            clicks_journaled: Counter::default(),
            clicks_replayed: Counter::default(),
            clicks_tallied: Counter::default(),
            order_groups_tallied: Counter::default(),
            throttled: Counter::default(),
            webhook_failures: Family::default(),
            request_seconds: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            pool_connections: Family::default(),
            writer_queued: Family::default(),
            // 1 to 4,096 clicks.
            click_batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 13)),
            // 0.1 ms to about 0.8 s.
            click_batch_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 14)),
            // 50 µs to about 0.4 s.
            click_journal_sync_seconds: Histogram::new(exponential_buckets(0.00005, 2.0, 14)),
            // 1 to 256 orders (a group's most).
            order_group_size: Histogram::new(exponential_buckets(1.0, 2.0, 9)),
            // 0.1 ms to about 0.8 s.
            order_group_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 14)),
            replica_lag_seconds: Gauge::default(),
            replica_usable: Gauge::default(),
            jobs: Family::default(),
            job_oldest_seconds: Family::default(),
            registry: Registry::default(),
        }
    }
}

impl Metrics {
    pub fn new() -> Self {
        let metrics = Metrics::default();
        let mut registry = Registry::with_prefix("sales_tracking");
        let counters: [(&str, &str, &Counter); 16] = [
            ("clicks", "Clicks stored and counted", &metrics.clicks),
            (
                "bot_clicks",
                "Clicks stored as bots, never counted",
                &metrics.bot_clicks,
            ),
            (
                "ignored_clicks",
                "Clicks on inactive memberships or offers, redirected but not stored",
                &metrics.ignored_clicks,
            ),
            (
                "click_write_failures",
                "Clicks whose batch failed to store",
                &metrics.click_write_failures,
            ),
            (
                "orders_accepted",
                "Orders recorded as accepted conversions of a membership",
                &metrics.orders_accepted,
            ),
            (
                "orders_unattributed",
                "Orders kept with no membership",
                &metrics.orders_unattributed,
            ),
            (
                "orders_duplicate",
                "Replayed orders that changed nothing",
                &metrics.orders_duplicate,
            ),
            ("orders_rejected", "Conversions rejected", &metrics.orders_rejected),
            (
                "orders_refunded",
                "Refunds applied to conversions",
                &metrics.orders_refunded,
            ),
            (
                "clicks_spooled",
                "Answered clicks written to the local spool because their batch did not commit in time",
                &metrics.clicks_spooled,
            ),
            (
                "clicks_journaled",
                "Answered clicks synced to the local journal under load, stored by a later batch",
                &metrics.clicks_journaled,
            ),
            (
                "clicks_replayed",
                "Spooled clicks offered to the database again (stored once whatever happened before)",
                &metrics.clicks_replayed,
            ),
            (
                "clicks_tallied",
                "Counted clicks whose batch, written beside another, tallied them for a later fold into the rollups",
                &metrics.clicks_tallied,
            ),
            (
                "order_groups_tallied",
                "Order groups that, written beside another, tallied their balances and rollups for a later fold",
                &metrics.order_groups_tallied,
            ),
            (
                "panics",
                "Requests that panicked and were answered 500",
                &metrics.panics,
            ),
            (
                "throttled",
                "Requests refused for being over their rate limit",
                &metrics.throttled,
            ),
        ];
        for (name, help, counter) in counters {
            registry.register(name, help, counter.clone());
        }
        registry.register(
            "webhook_failures",
            "Order webhooks refused, by reason",
            metrics.webhook_failures.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to answer a request, by route, method and status class",
            metrics.request_seconds.clone(),
        );
        registry.register(
            "pool_connections",
            "Database connections of each pool: open, idle, and requests waiting for one",
            metrics.pool_connections.clone(),
        );
        registry.register(
            "writer_queued",
            "Clicks or orders waiting for their batch writer",
            metrics.writer_queued.clone(),
        );
        registry.register(
            "click_batch_size",
            "Clicks stored together by one batch of the click writer",
            metrics.click_batch_size.clone(),
        );
        registry.register(
            "click_batch_seconds",
            "Time to store one batch of clicks, from taking it off the queue to its commit",
            metrics.click_batch_seconds.clone(),
        );
        registry.register(
            "click_journal_sync_seconds",
            "Time to write and sync one append of the click journal (under load)",
            metrics.click_journal_sync_seconds.clone(),
        );
        registry.register(
            "order_group_size",
            "Webhook orders recorded together by one group of the order writer",
            metrics.order_group_size.clone(),
        );
        registry.register(
            "order_group_seconds",
            "Time to record one group of orders, from taking it off the queue to its last commit",
            metrics.order_group_seconds.clone(),
        );
        registry.register(
            "replica_lag_seconds",
            "How long ago the primary had committed everything the report replica has replayed",
            metrics.replica_lag_seconds.clone(),
        );
        registry.register(
            "replica_usable",
            "1 while reports can read the replica, 0 while it is down or too far behind",
            metrics.replica_usable.clone(),
        );
        registry.register(
            "jobs",
            "Background jobs by kind: queued (due or waiting for a retry), running (leased) and failed (out of attempts)",
            metrics.jobs.clone(),
        );
        registry.register(
            "job_oldest_due_seconds",
            "How long the oldest due job of each kind has waited",
            metrics.job_oldest_seconds.clone(),
        );
        Metrics { registry, ..metrics }
    }

    /// Counts a request's answer time under its route.
    pub fn observe_request(&self, route: &str, method: &'static str, status: u16, seconds: f64) {
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        let labels = RouteLabels {
            route: route.to_string(),
            method,
            status,
        };
        self.request_seconds.get_or_create(&labels).observe(seconds);
    }

    /// Sets a pool's gauges from its status (read when `/metrics` is scraped).
    pub fn pool_status(&self, pool: &'static str, size: usize, idle: usize, waiting: usize) {
        for (state, value) in [("open", size), ("idle", idle), ("waiting", waiting)] {
            let labels = PoolLabels { pool, state };
            self.pool_connections
                .get_or_create(&labels)
                .set(i64::try_from(value).unwrap_or(i64::MAX));
        }
    }

    /// The replica's lag, or None while reports cannot read it.
    pub fn replica_lag(&self, lag: Option<std::time::Duration>) {
        self.replica_usable.set(i64::from(lag.is_some()));
        if let Some(lag) = lag {
            self.replica_lag_seconds.set(lag.as_secs_f64());
        }
    }

    pub fn writer_queue(&self, writer: &'static str, queued: usize) {
        self.writer_queued
            .get_or_create(&WriterLabels { writer })
            .set(i64::try_from(queued).unwrap_or(i64::MAX));
    }

    /// Sets a job kind's gauges (refreshed by the job runner).
    pub fn job_stats(&self, kind: &'static str, queued: i64, running: i64, failed: i64, oldest_seconds: f64) {
        for (state, value) in [("queued", queued), ("running", running), ("failed", failed)] {
            self.jobs.get_or_create(&JobLabels { kind, state }).set(value);
        }
        self.job_oldest_seconds
            .get_or_create(&KindLabels { kind })
            .set(oldest_seconds);
    }

    pub fn webhook_failure(&self, reason: &'static str) {
        self.webhook_failures.get_or_create(&FailureLabels { reason }).inc();
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}
