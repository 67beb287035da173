//! Rate limits as a budget of points per caller: a leaky bucket that holds at
//! most `burst` points and refills at `points_per_second`. A request takes its
//! cost up front and gives back what it did not use, the way Shopify's GraphQL
//! limits work. Zero points per second turns the limit off.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

/// By default a key regains 5,000 points a second: the dashboard's home page
/// costs 226 over its default range (a test measures it), so it can load twenty
/// times a second.
pub const DEFAULT_POINTS_PER_SECOND: u64 = 5_000;
/// A full bucket runs one query of the largest allowed cost.
pub const DEFAULT_BURST: u64 = 10_000;
/// Order webhooks per brand per second: a flash sale passes.
pub const DEFAULT_WEBHOOKS_PER_SECOND: u64 = 2_000;

/// Failed API keys or webhook signatures per client address per second (ten at
/// once): a person who mistypes a key never meets it; a key-guessing flood does.
pub const DEFAULT_FAILED_AUTH_PER_SECOND: u64 = 10;

/// Callers tracked at once; beyond it, full buckets are forgotten first.
const MAX_TRACKED: usize = 100_000;

/// The budget of one caller after a request, for `extensions.cost`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetStatus {
    pub maximum_available: u64,
    pub currently_available: u64,
    pub restore_rate: u64,
}

/// Over budget: when the cost will be available again.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Throttled {
    pub retry_after: Duration,
    pub status: BudgetStatus,
}

impl Throttled {
    /// Whole seconds, at least one, for a `Retry-After` header.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }
}

#[derive(Clone, Copy)]
struct Bucket {
    available: f64,
    updated: Instant,
}

pub struct RateLimiter {
    points_per_second: u64,
    burst: u64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(points_per_second: u64, burst: u64) -> Self {
        RateLimiter {
            points_per_second,
            burst: burst.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn is_off(&self) -> bool {
        self.points_per_second == 0
    }

    fn status(&self, available: f64) -> BudgetStatus {
        BudgetStatus {
            maximum_available: self.burst,
            currently_available: available.max(0.0) as u64,
            restore_rate: self.points_per_second,
        }
    }

    /// Refills `subject`'s bucket up to now and hands it to `change`.
    fn with_bucket<T>(&self, subject: &str, change: impl FnOnce(&mut Bucket) -> T) -> T {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(subject) {
            let (rate, burst) = (self.points_per_second as f64, self.burst as f64);
            buckets.retain(|_, b| b.available + now.duration_since(b.updated).as_secs_f64() * rate < burst);
            if buckets.len() >= MAX_TRACKED {
                // Every tracked caller is spending: newcomers share one bucket.
                return self.with_bucket_in(&mut buckets, "overflow", now, change);
            }
        }
        self.with_bucket_in(&mut buckets, subject, now, change)
    }

    fn with_bucket_in<T>(
        &self,
        buckets: &mut HashMap<String, Bucket>,
        subject: &str,
        now: Instant,
        change: impl FnOnce(&mut Bucket) -> T,
    ) -> T {
        let burst = self.burst as f64;
        let bucket = buckets.entry(subject.to_string()).or_insert(Bucket {
            available: burst,
            updated: now,
        });
        let refill = now.duration_since(bucket.updated).as_secs_f64() * self.points_per_second as f64;
        bucket.available = (bucket.available + refill).min(burst);
        bucket.updated = now;
        change(bucket)
    }

    /// Takes `cost` points from `subject`, or says when they will be there.
    pub fn take(&self, subject: &str, cost: u64) -> Result<BudgetStatus, Throttled> {
        if self.is_off() {
            return Ok(self.status(self.burst as f64));
        }
        let cost = cost as f64;
        self.with_bucket(subject, |bucket| match self.short_of(bucket, cost) {
            Some(throttled) => Err(throttled),
            None => {
                bucket.available -= cost;
                Ok(self.status(bucket.available))
            }
        })
    }

    /// When `bucket` holds less than `cost`: how long until it will.
    fn short_of(&self, bucket: &Bucket, cost: f64) -> Option<Throttled> {
        if bucket.available >= cost {
            return None;
        }
        // A cost above the burst waits as if the bucket could hold it.
        let missing = cost.min(self.burst as f64) - bucket.available;
        let wait = missing.max(0.0) / self.points_per_second as f64;
        Some(Throttled {
            retry_after: Duration::from_secs_f64(wait.max(0.001)),
            status: self.status(bucket.available),
        })
    }

    /// Whether `subject` has `cost` points now, without taking them: for budgets
    /// charged only after the fact (failures), checked before the work.
    pub fn check(&self, subject: &str, cost: u64) -> Result<(), Throttled> {
        if self.is_off() {
            return Ok(());
        }
        self.with_bucket(subject, |bucket| self.short_of(bucket, cost as f64).map_or(Ok(()), Err))
    }

    /// Returns points a request took but did not use.
    pub fn give_back(&self, subject: &str, points: u64) -> BudgetStatus {
        if self.is_off() {
            return self.status(self.burst as f64);
        }
        let burst = self.burst as f64;
        self.with_bucket(subject, |bucket| {
            bucket.available = (bucket.available + points as f64).min(burst);
            self.status(bucket.available)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_until_empty_then_says_when() {
        let limiter = RateLimiter::new(100, 300);
        assert_eq!(limiter.take("a", 200).unwrap().currently_available, 100);
        let throttled = limiter.take("a", 150).unwrap_err();
        // 50 points missing at 100 per second.
        assert!(
            throttled.retry_after >= Duration::from_millis(490) && throttled.retry_after <= Duration::from_millis(510)
        );
        assert_eq!(throttled.retry_after_secs(), 1);
        // Another caller has a bucket of its own.
        assert!(limiter.take("b", 300).is_ok());
    }

    #[test]
    fn refills_over_time_and_takes_back_unused_points() {
        let limiter = RateLimiter::new(1_000, 1_000);
        limiter.take("a", 1_000).unwrap();
        assert_eq!(limiter.give_back("a", 400).currently_available, 400);
        std::thread::sleep(Duration::from_millis(200));
        let available = limiter.take("a", 0).unwrap().currently_available;
        assert!((590..=1_000).contains(&available), "{available}");
        assert_eq!(limiter.give_back("a", 5_000).currently_available, 1_000);
    }

    #[test]
    fn zero_rate_is_off() {
        let limiter = RateLimiter::new(0, 10);
        for _ in 0..100 {
            assert!(limiter.take("a", 1_000_000).is_ok());
        }
    }
}
