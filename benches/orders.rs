//! Order-ingest benchmark: signed order webhooks from many connections against a
//! running server, in two shapes: orders spread over many creators' promo codes,
//! and a flash sale where every order carries one creator's code (one hot
//! membership). Prints orders acknowledged per second and latency percentiles;
//! `bench/orders.sh` starts the server and checks every acknowledged order was
//! stored once.
//!
//! Without `BENCH_RATE` each connection sends its next order as soon as the last is
//! answered (closed loop: the most the server takes). With `BENCH_RATE` (orders/s in
//! all) the connections send on a fixed schedule, as shops do whatever the server's
//! pace, and each latency counts from when its order was due, so a slow answer also
//! charges the orders queued behind it (no coordinated omission).
//!
//! Settings (environment): `BENCH_URL` (e.g. `http://127.0.0.1:18090`; several,
//! comma-separated, spread the connections over several servers),
//! `BENCH_BRAND` (slug), `BENCH_SECRET` (the brand's webhook secret), `BENCH_CODES`
//! (comma-separated promo codes: one for a flash sale), `BENCH_SECONDS` (20),
//! `BENCH_CONNECTIONS` (64), `BENCH_RATE` (unset: closed loop), `BENCH_RUN` (a tag
//! that keeps order ids apart between runs).
//!
//! It shares the two cores with the server and PostgreSQL, so it is kept as lean as
//! `wrk`: one thread, and requests written as bytes (`support/http1.rs`).

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "support/http1.rs"]
mod http1;
#[path = "support/latencies.rs"]
mod latencies;
use http1::Connection;
use latencies::Latencies;

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

#[tokio::main(flavor = "current_thread")]
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
    let rate: Option<f64> = std::env::var("BENCH_RATE").ok().and_then(|s| s.parse().ok());
    let run = std::env::var("BENCH_RUN").unwrap_or_else(|_| "run".into());
    // Each server's address, as `host:port`.
    let servers: Vec<String> = url
        .split(',')
        .map(|url| url.trim_start_matches("http://").to_string())
        .collect();
    let path = format!("/webhooks/{brand}/orders/bench");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|worker| {
            let server = servers[worker % servers.len()].clone();
            let (secret, codes, run, path) = (secret.clone(), codes.clone(), run.clone(), path.clone());
            tokio::spawn(async move {
                // One keep-alive connection per worker, as a shop's webhook sender would hold.
                let mut connection = Connection::open(&server).await.expect("the server answers");
                let mut request = Vec::new();
                let mut tally = Tally::default();
                let mut n = 0usize;
                // On a schedule, this connection's orders are `gap` apart, offset so the
                // connections take turns.
                let gap = rate.map(|rate| Duration::from_secs_f64(connections as f64 / rate));
                let phase = gap.map(|gap| gap.mul_f64(worker as f64 / connections as f64));
                while Instant::now() < deadline {
                    let due = match (gap, phase) {
                        (Some(gap), Some(phase)) => {
                            let due = started + phase + gap.mul_f64(n as f64);
                            if due >= deadline {
                                break;
                            }
                            tokio::time::sleep_until(due.into()).await;
                            due
                        }
                        _ => Instant::now(),
                    };
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
                    request.clear();
                    write!(
                        request,
                        "POST {path} HTTP/1.1\r\nHost: {server}\r\nContent-Type: application/json\r\n\
                         X-Shopify-Hmac-Sha256: {signature}\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                    .expect("writing to a Vec");
                    match connection.send(&request).await {
                        Ok(200..=299) => tally.latencies.push(due.elapsed()),
                        Ok(_) => tally.refused += 1,
                        Err(_) => {
                            tally.refused += 1;
                            connection = Connection::open(&server).await.expect("the server answers");
                        }
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
    let latencies = Latencies::new(latencies);
    let load = match rate {
        Some(rate) => format!("{rate:.0}/s offered"),
        None => "closed loop".to_string(),
    };
    println!(
        "{} codes, {connections} connections, {load}, {seconds} s: {} orders acknowledged ({:.0}/s), {refused} refused; p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        codes.len(),
        latencies.count(),
        latencies.count() as f64 / elapsed,
        latencies.ms(0.50),
        latencies.ms(0.90),
        latencies.ms(0.99),
        latencies.ms(1.0),
    );
    println!("acknowledged={}", latencies.count());
}
