//! Latency percentiles for the load generators (`benches/orders.rs`,
//! `benches/redirects.rs`).

use std::time::Duration;

/// Every answer's latency, sorted.
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn new(mut all: Vec<Duration>) -> Self {
        all.sort_unstable();
        Latencies(all)
    }

    pub fn count(&self) -> usize {
        self.0.len()
    }

    /// The `q` quantile (0.5, 0.99, 1.0 for the max) in milliseconds; 0 when none.
    pub fn ms(&self, q: f64) -> f64 {
        self.0
            .get(((self.0.len() as f64 * q) as usize).min(self.0.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    }
}
