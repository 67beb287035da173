//! Counters served at `/metrics` in Prometheus text format.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub reason: &'static str,
}

#[derive(Default)]
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
    pub clicks_replayed: Counter,
    pub throttled: Counter,
    pub webhook_failures: Family<FailureLabels, Counter>,
    registry: Registry,
}

impl Metrics {
    pub fn new() -> Self {
        let metrics = Metrics::default();
        let mut registry = Registry::with_prefix("sales_tracking");
        let counters: [(&str, &str, &Counter); 13] = [
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
                "clicks_replayed",
                "Spooled clicks offered to the database again (stored once whatever happened before)",
                &metrics.clicks_replayed,
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
        Metrics { registry, ..metrics }
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
