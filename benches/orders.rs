//! Order-ingest benchmark: signed order webhooks from many connections against a
//! running server, in two shapes: orders spread over many creators' promo codes,
//! and a flash sale where every order carries one creator's code (one hot
//! membership). Prints orders acknowledged per second and latency percentiles;
//! `bench/orders.sh` starts the server and checks every acknowledged order was
//! stored once.
//!
//! Settings (environment): `BENCH_URL` (e.g. `http://127.0.0.1:18090`),
//! `BENCH_BRAND` (slug), `BENCH_SECRET` (the brand's webhook secret), `BENCH_CODES`
//! (comma-separated promo codes: one for a flash sale), `BENCH_SECONDS` (20),
//! `BENCH_CONNECTIONS` (64), `BENCH_RUN` (a tag that keeps order ids apart between runs).

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

fn setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set (run bench/orders.sh)"))
}

/// What one connection saw.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    refused: usize,
}

#[tokio::main]
async fn main() {
    let url = setting("BENCH_URL");
    let brand = setting("BENCH_BRAND");
    let secret = setting("BENCH_SECRET");
    let codes: Arc<Vec<String>> = Arc::new(setting("BENCH_CODES").split(',').map(str::to_string).collect());
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let connections: usize = std::env::var("BENCH_CONNECTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let run = std::env::var("BENCH_RUN").unwrap_or_else(|_| "run".into());
    let endpoint = format!("{url}/webhooks/{brand}/orders/bench");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|worker| {
            let (endpoint, secret, codes, run) = (endpoint.clone(), secret.clone(), codes.clone(), run.clone());
            tokio::spawn(async move {
                // One keep-alive connection per worker, as a shop's webhook sender would hold.
                let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
                let mut tally = Tally::default();
                let mut n = 0usize;
                while Instant::now() < deadline {
                    let code = &codes[(worker + n * connections) % codes.len()];
                    let body = serde_json::json!({
                        "event": "order.created",
                        "order_id": format!("{run}-{worker}-{n}"),
                        "amount": "50.00",
                        "promo_code": code,
                    })
                    .to_string();
                    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
                    mac.update(body.as_bytes());
                    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
                    let sent = Instant::now();
                    let answer = client
                        .post(&endpoint)
                        .header("content-type", "application/json")
                        .header("x-shopify-hmac-sha256", signature)
                        .body(body)
                        .send()
                        .await;
                    match answer {
                        Ok(response) if response.status().is_success() => {
                            let _ = response.bytes().await;
                            tally.latencies.push(sent.elapsed());
                        }
                        _ => tally.refused += 1,
                    }
                    n += 1;
                }
                tally
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut refused = 0;
    for worker in workers {
        let tally = worker.await.unwrap();
        latencies.extend(tally.latencies);
        refused += tally.refused;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{} codes, {connections} connections, {seconds} s: {} orders acknowledged ({:.0}/s), {refused} refused; p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        codes.len(),
        latencies.len(),
        latencies.len() as f64 / elapsed,
        at(0.50),
        at(0.90),
        at(0.99),
        at(1.0),
    );
    println!("acknowledged={}", latencies.len());
}
