//! The job runner across processes: a server killed mid-job leaves it to another,
//! which finishes it once; a server shut down hands its leases back and exits
//! within its deadline; `/metrics` shows each kind's queue.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::TestApp;
use crate::hardening::ServerProcess;
use crate::outgoing_webhooks::{Behaviour, Receiver, config, subscribe};
use crate::tracking::shop;

#[derive(diesel::QueryableByName, Debug)]
struct JobState {
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    attempts: i32,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    leased: bool,
}

async fn delivery_jobs(app: &TestApp) -> Vec<JobState> {
    let mut conn = app.db.connect().await;
    diesel_async::RunQueryDsl::load(
        diesel::sql_query(
            "SELECT status, attempts, lease_token IS NOT NULL AS leased FROM jobs WHERE kind = 'WEBHOOK_DELIVERY'",
        ),
        &mut conn,
    )
    .await
    .unwrap()
}

/// An app whose own runner stays still: the servers under test run the jobs.
async fn app_without_jobs() -> TestApp {
    let mut settings = config();
    settings.jobs.run_jobs = false;
    TestApp::with_config(settings).await
}

async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < Duration::from_secs(60), "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const SERVER: [&str; 3] = ["--allow-private-webhook-targets", "--job-lease", "3"];

#[tokio::test]
async fn a_job_of_a_killed_server_is_finished_once_by_another() {
    let app = app_without_jobs().await;
    let shop = shop(&app).await;
    let receiver = Receiver::start(Behaviour::Hang).await;
    subscribe(&app, &shop.brand, &receiver, &["offer.updated"]).await;

    let mut first = ServerProcess::start(&app, &SERVER).await;
    crate::payments::no_hold(&app, &shop).await;
    until("the first server sends the event", async || {
        !receiver.received().is_empty()
    })
    .await;
    first.process.kill().await.unwrap();
    receiver.behave(Behaviour::Accept);

    let _second = ServerProcess::start(&app, &SERVER).await;
    // Its lease lapses 3 s after its last heartbeat; then the second server takes the job.
    until("the second server delivers it", async || {
        receiver.received().iter().any(|r| r.accepted)
    })
    .await;
    until("the job is done", async || delivery_jobs(&app).await.is_empty()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received = receiver.received();
    assert_eq!(
        received.len(),
        2,
        "sent by the killed server, then once by the other: {received:?}"
    );
    assert_eq!(received[0].id, received[1].id, "the same event");
    assert!(received[1].accepted);
    let endpoints = app
        .ok(
            &shop.brand.admin,
            "{ webhookEndpoints { recentDeliveries { status attempts lastStatusCode } } }",
            json!({}),
        )
        .await;
    let delivery = &endpoints["webhookEndpoints"][0]["recentDeliveries"][0];
    assert_eq!(delivery["status"], "SUCCEEDED", "{delivery}");
    // The killed server's attempt was never recorded.
    assert_eq!(delivery["attempts"], 1, "{delivery}");
}

#[tokio::test]
async fn shutdown_hands_leases_back_and_exits_within_its_deadline() {
    let app = app_without_jobs().await;
    let shop = shop(&app).await;
    let receiver = Receiver::start(Behaviour::Hang).await;
    subscribe(&app, &shop.brand, &receiver, &["offer.updated"]).await;
    // A lease far longer than the test: the next server can only take the job
    // at once if this one hands it back.
    let long_lease = ["--allow-private-webhook-targets", "--job-lease", "60"];
    let server = ServerProcess::start(&app, &[&long_lease[..], &["--shutdown-deadline", "4"]].concat()).await;
    crate::payments::no_hold(&app, &shop).await;
    until("the server sends the event", async || !receiver.received().is_empty()).await;
    let leased = delivery_jobs(&app).await;
    assert!(leased[0].leased, "{leased:?}");

    let mut process = server.process;
    let stopping = Instant::now();
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &process.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let exit = tokio::time::timeout(Duration::from_secs(8), process.wait())
        .await
        .expect("the server exits within its deadline")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(stopping.elapsed() < Duration::from_secs(6), "{:?}", stopping.elapsed());
    // Handed back: due at once for another server, the cut attempt not counted.
    let released = delivery_jobs(&app).await;
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].status, "QUEUED");
    assert!(!released[0].leased, "{released:?}");
    assert_eq!(released[0].attempts, 0, "{released:?}");

    receiver.behave(Behaviour::Accept);
    let started = Instant::now();
    let _next = ServerProcess::start(&app, &long_lease).await;
    until("another server delivers it", async || {
        receiver.received().iter().any(|r| r.accepted)
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "picked up without waiting for the lease: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn metrics_show_each_job_kind() {
    let app = app_without_jobs().await;
    // Nothing runs jobs here: one due a minute ago waits, and its age shows.
    let mut conn = app.db.connect().await;
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query("INSERT INTO jobs (kind, run_at) VALUES ('WEBHOOK_DELIVERY', now() - interval '1 minute')"),
        &mut conn,
    )
    .await
    .unwrap();
    let started = Instant::now();
    loop {
        let (_, text) = app.get("/metrics").await;
        if text.contains(r#"sales_tracking_jobs{kind="WEBHOOK_DELIVERY",state="queued"} 1"#) {
            for kind in [
                "EMAIL_OUTBOX",
                "PAYMENT_RECONCILIATION",
                "LEDGER_MATURITY",
                "CLICK_PARTITIONS",
            ] {
                for state in ["queued", "running", "failed"] {
                    assert!(
                        text.contains(&format!(r#"sales_tracking_jobs{{kind="{kind}",state="{state}"}}"#)),
                        "{kind} {state}: {text}"
                    );
                }
            }
            let oldest: f64 = text
                .lines()
                .find_map(|l| l.strip_prefix(r#"sales_tracking_job_oldest_due_seconds{kind="WEBHOOK_DELIVERY"} "#))
                .unwrap()
                .parse()
                .unwrap();
            // About a minute: the database's clock (the job's `run_at`) and the
            // gauge's are read microseconds apart (59.99991 was seen).
            assert!((59.0..120.0).contains(&oldest), "{oldest}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn recurring_jobs_are_one_row_each_whatever_the_number_of_servers() {
    let app = TestApp::with_config(config()).await;
    let second = sales_tracking::router(app.pool.clone(), config());
    drop(second);
    #[derive(diesel::QueryableByName, Debug)]
    struct Kind {
        #[diesel(sql_type = diesel::sql_types::Text)]
        kind: String,
    }
    let mut kinds: Vec<String> = Vec::new();
    until("the recurring jobs are registered", async || {
        let mut conn = app.db.connect().await;
        let rows: Vec<Kind> = diesel_async::RunQueryDsl::load(
            diesel::sql_query("SELECT kind FROM jobs WHERE recurring ORDER BY kind"),
            &mut conn,
        )
        .await
        .unwrap();
        kinds = rows.into_iter().map(|k| k.kind).collect();
        kinds.len() >= 4
    })
    .await;
    assert_eq!(
        kinds,
        [
            "CLICK_PARTITIONS",
            "EVENT_DISPATCH",
            "LEDGER_MATURITY",
            "PAYMENT_RECONCILIATION"
        ],
        "one row per kind (no mailer: no outbox job)"
    );
}

/// A recurring kind that, on its first round, waits until the test lets it finish.
struct SlowFirstRound {
    rounds: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    release: std::sync::Arc<tokio::sync::Notify>,
}

#[async_trait::async_trait]
impl sales_tracking::app::jobs::Handler for SlowFirstRound {
    fn kind(&self) -> sales_tracking::domain::enums::JobKind {
        sales_tracking::domain::enums::JobKind::LedgerMaturity
    }

    fn every(&self) -> Option<Duration> {
        Some(Duration::from_secs(3600))
    }

    async fn run(
        &self,
        _: &sales_tracking::app::jobs::Job,
        _: &sales_tracking::app::jobs::Lease,
    ) -> sales_tracking::app::jobs::Outcome {
        if self.rounds.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            self.release.notified().await;
        }
        sales_tracking::app::jobs::Outcome::Done
    }
}

#[tokio::test]
async fn a_recurring_job_woken_while_it_runs_runs_again_at_once() {
    let app = app_without_jobs().await;
    let rounds = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let runner = sales_tracking::app::jobs::JobRunner::new(
        app.pool.clone(),
        sales_tracking::app::jobs::RunnerSettings {
            poll: Duration::from_millis(50),
            ..Default::default()
        },
    );
    runner.start(SlowFirstRound {
        rounds: rounds.clone(),
        release: release.clone(),
    });
    let kind = sales_tracking::domain::enums::JobKind::LedgerMaturity;
    runner.wake(kind);
    until("the first round starts", async || {
        rounds.load(std::sync::atomic::Ordering::SeqCst) == 1
    })
    .await;
    // A change arrives while the round runs: it must not wait for the next hour.
    runner.wake(kind);
    tokio::time::sleep(Duration::from_millis(200)).await;
    release.notify_one();
    until("a second round follows the wake", async || {
        rounds.load(std::sync::atomic::Ordering::SeqCst) >= 2
    })
    .await;
    runner.shutdown().await;
}
