//! Redirects at a fixed rate: `GET /r/{code}` from many keep-alive connections on a
//! schedule, as shoppers arrive whatever the server's pace, with each latency counted
//! from when its request was due (a slow answer also charges the requests queued
//! behind it: no coordinated omission). `wrk` measures the most the server takes
//! (closed loop); this measures what a shopper waits at a given rate.
//! `bench/redirect.sh` starts the servers and runs it beside `wrk`.
//!
//! It shares the two cores with the server and PostgreSQL, so it is kept as lean as
//! `wrk`: one thread, and requests written as bytes (`support/http1.rs`). It also
//! reports the CPU time the host took from this virtual machine meanwhile
//! (`support/stolen.rs`): seconds the host stole from are the host's, not the server's.
//!
//! Settings (environment): `BENCH_URL` (e.g. `http://127.0.0.1:18080`),
//! `BENCH_SHAPE` (`livez`: the same stack doing no work; `shopper`: one visitor on
//! the first link; `shoppers`: a new visitor every request, through a trusted
//! proxy's `X-Forwarded-For`, over every link), `BENCH_LINKS` (a file of link codes,
//! one a line), `BENCH_RATE` (requests/s in all), `BENCH_CONNECTIONS` (64),
//! `BENCH_SECONDS` (10). `BENCH_BY_SECOND` also prints each second's p99;
//! `BENCH_TIMELINE` names a file to write each tenth of a second's p99 and slowest
//! to, by Unix time, to line the tail up with what else the machine did then.

use std::io::Write as _;
use std::time::{Duration, Instant};

#[path = "support/http1.rs"]
mod http1;
#[path = "support/latencies.rs"]
mod latencies;
#[path = "support/stolen.rs"]
mod stolen;
use http1::Connection;
use latencies::Latencies;
use stolen::CpuTimes;

fn setting<T: std::str::FromStr>(name: &str, default: Option<T>) -> T {
    match std::env::var(name).ok().and_then(|s| s.parse().ok()) {
        Some(value) => value,
        None => default.unwrap_or_else(|| panic!("{name} is not set (run bench/redirect.sh)")),
    }
}

/// What one connection saw.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    /// When each request was due, in milliseconds into the run.
    due_ms: Vec<u64>,
    failed: usize,
}

/// Writes the request numbered `serial` of `shape` into `out`.
fn write_request(out: &mut Vec<u8>, shape: &str, serial: usize, links: &[String], host: &str) {
    out.clear();
    match shape {
        "livez" => write!(out, "GET /livez HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        "shopper" => write!(
            out,
            "GET /r/{} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Mozilla/5.0 (bench)\r\n\r\n",
            links[0]
        ),
        "shoppers" => write!(
            out,
            "GET /r/{} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Mozilla/5.0 (bench)\r\nX-Forwarded-For: 10.{}.{}.{}\r\n\r\n",
            links[serial % links.len()],
            (serial >> 16) & 255,
            (serial >> 8) & 255,
            serial & 255
        ),
        other => panic!("BENCH_SHAPE {other} is not livez, shopper or shoppers"),
    }
    .expect("writing to a Vec");
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let url: String = setting("BENCH_URL", None);
    let shape: String = setting("BENCH_SHAPE", None);
    let rate: f64 = setting("BENCH_RATE", None);
    let connections: usize = setting("BENCH_CONNECTIONS", Some(64));
    let seconds: u64 = setting("BENCH_SECONDS", Some(10));
    let links: Vec<String> = std::fs::read_to_string(setting::<String>("BENCH_LINKS", None))
        .expect("BENCH_LINKS names a readable file")
        .lines()
        .map(str::to_string)
        .collect();
    let address = url.trim_start_matches("http://").to_string();

    let started = Instant::now() + Duration::from_millis(100);
    let deadline = started + Duration::from_secs(seconds);
    // Each connection's requests are `gap` apart, offset so the connections take turns.
    let gap = Duration::from_secs_f64(connections as f64 / rate);
    let workers: Vec<_> = (0..connections)
        .map(|worker| {
            let (address, shape, links) = (address.clone(), shape.clone(), links.clone());
            tokio::spawn(async move {
                let mut connection = Connection::open(&address).await.expect("the server answers");
                let phase = gap.mul_f64(worker as f64 / connections as f64);
                let mut request = Vec::new();
                let mut tally = Tally::default();
                for n in 0.. {
                    let due = started + phase + gap * n;
                    if due >= deadline {
                        break;
                    }
                    tokio::time::sleep_until(due.into()).await;
                    write_request(
                        &mut request,
                        &shape,
                        worker + n as usize * connections,
                        &links,
                        &address,
                    );
                    match connection.send(&request).await {
                        Ok(200..=399) => {
                            tally.latencies.push(due.elapsed());
                            tally.due_ms.push((due - started).as_millis() as u64);
                        }
                        Ok(_) => tally.failed += 1,
                        Err(_) => {
                            tally.failed += 1;
                            break;
                        }
                    }
                }
                tally
            })
        })
        .collect();
    // The host's share of the run and of each second, read beside the requests.
    let stolen = tokio::spawn(async move {
        tokio::time::sleep_until(started.into()).await;
        let first = CpuTimes::now();
        let (mut previous, mut by_second) = (first, Vec::new());
        for second in 1..=seconds {
            tokio::time::sleep_until((started + Duration::from_secs(second)).into()).await;
            let now = CpuTimes::now();
            if let (Some(now), Some(previous)) = (now, previous) {
                by_second.push(now.stolen_since(&previous));
            }
            previous = now;
        }
        first
            .zip(previous)
            .map(|(first, last)| (last.stolen_since(&first), by_second))
    });
    let mut latencies = Vec::new();
    let mut by_second: Vec<Vec<Duration>> = vec![Vec::new(); seconds as usize];
    let mut by_tenth: Vec<Vec<Duration>> = vec![Vec::new(); seconds as usize * 10];
    let mut failed = 0;
    for worker in workers {
        let tally = worker.await.expect("a connection's task finished");
        for (latency, due_ms) in tally.latencies.iter().zip(&tally.due_ms) {
            by_second[(*due_ms / 1000) as usize].push(*latency);
            by_tenth[(*due_ms / 100) as usize].push(*latency);
        }
        latencies.extend(tally.latencies);
        failed += tally.failed;
    }
    let stolen = stolen.await.expect("the CPU times were read");
    // To line the tail up with what else the machine did: each tenth of a second's
    // p99 and slowest, by the wall clock's time when it began.
    if let Ok(path) = std::env::var("BENCH_TIMELINE") {
        let began = std::time::SystemTime::now() - started.elapsed();
        let began = began.duration_since(std::time::UNIX_EPOCH).expect("after 1970");
        let mut timeline = String::new();
        for (tenth, latencies) in by_tenth.into_iter().enumerate() {
            let at = began + Duration::from_millis(tenth as u64 * 100);
            let latencies = Latencies::new(latencies);
            let line = format!(
                "{:.1} {:.1} {:.1}\n",
                at.as_secs_f64(),
                latencies.ms(0.99),
                latencies.ms(1.0)
            );
            timeline.push_str(&line);
        }
        std::fs::write(path, timeline).expect("BENCH_TIMELINE names a writable file");
    }
    // Where the tail fell: a start-up transient, the host, or all along.
    if std::env::var("BENCH_BY_SECOND").is_ok() {
        let p99s: Vec<String> = by_second
            .into_iter()
            .map(|second| format!("{:.1}", Latencies::new(second).ms(0.99)))
            .collect();
        eprintln!("p99 by second (ms): {}", p99s.join(" "));
        if let Some((_, by_second)) = &stolen {
            let shares: Vec<String> = by_second.iter().map(|share| format!("{share:.0}")).collect();
            eprintln!("CPU time stolen by the host by second (%): {}", shares.join(" "));
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let latencies = Latencies::new(latencies);
    println!(
        "{:.0} answered/s of {rate:.0}/s offered; p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} answered, {failed} failed{}",
        latencies.count() as f64 / elapsed,
        latencies.ms(0.50),
        latencies.ms(0.90),
        latencies.ms(0.99),
        latencies.ms(1.0),
        latencies.count(),
        stolen.map_or(String::new(), |(share, _)| format!(
            "; {share:.1}% of the CPU time stolen by the host"
        )),
    );
}
