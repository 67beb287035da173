//! Under load, redirects answer once their click is synced to the local journal
//! and the clicks are stored by later, larger batches: every answered click is
//! still stored and counted once, also when the server stopped before storing it.

use std::path::Path;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;

use sales_tracking::db::clicks::NewClick;

use crate::common::TestApp;
use crate::outage::{restart, stored_click_list, stored_clicks};

/// Every redirect through the journal, as under load.
fn journaling(spool: &Path) -> sales_tracking::AppConfig {
    sales_tracking::AppConfig {
        spool_dir: Some(spool.to_path_buf()),
        journal_clicks_from: 0,
        ..Default::default()
    }
}

/// Waits (at most 30 s) for `done`.
async fn until(mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done().await && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The spool directory's files whose names start with `prefix`.
fn files(spool: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(spool)
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(prefix))
        .collect()
}

/// 200 redirects at once on the shop's link: each answered 302 from the journal.
async fn burst_of_200_journaled(app: &TestApp, shop: &crate::tracking::Shop) {
    let answers =
        futures_util::future::join_all((0..200).map(|_| crate::tracking::click(app, &shop.link_code, "Mozilla/5.0")))
            .await;
    assert!(answers.iter().all(|(status, _)| *status == StatusCode::FOUND));
    let (_, metrics) = app.get("/metrics").await;
    assert!(
        metrics.contains("sales_tracking_clicks_journaled_total 200\n"),
        "every redirect answered from the journal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_load_redirects_answer_from_the_journal_and_every_click_is_counted_once() {
    let spool = tempfile::tempdir().unwrap();
    let app = TestApp::with_config(journaling(spool.path())).await;
    let shop = crate::tracking::shop(&app).await;
    burst_of_200_journaled(&app, &shop).await;
    assert_eq!(files(spool.path(), "journal-").len(), 2, "a segment and a spare");
    // Stored by batches nobody waited for, moments later, each once.
    until(async || stored_clicks(&app, shop.brand.id).await >= 200).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stored_clicks(&app, shop.brand.id).await, 200);
    let kpis = app.ok(&shop.brand.analyst, "{ kpis { clicks } }", json!({})).await;
    assert_eq!(kpis["kpis"]["clicks"], 200, "counted once");

    // Stopping with every click stored leaves no file behind: nothing to replay.
    drop(app);
    until(async || files(spool.path(), "").is_empty()).await;
    assert_eq!(files(spool.path(), ""), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stopped_right_after_load_leaves_no_stored_click_to_replay() {
    let spool = tempfile::tempdir().unwrap();
    let TestApp { db, pool, .. } = TestApp::new().await;
    // As `serve` runs it: the application's handle is what a stop signal shuts down.
    let (router, application) = sales_tracking::start(pool.clone(), journaling(spool.path()));
    let app = TestApp { router, pool, db };
    let shop = crate::tracking::shop(&app).await;
    burst_of_200_journaled(&app, &shop).await;

    // Stopped at once, while everything still runs (a process exits right after).
    application.shutdown().await;
    assert_eq!(
        files(spool.path(), ""),
        Vec::<String>::new(),
        "every journaled click stored, no segment left for the next start to replay"
    );
    assert_eq!(stored_clicks(&app, shop.brand.id).await, 200);
    // A redirect after the stop waits for its commit instead.
    assert_eq!(
        crate::tracking::click(&app, &shop.link_code, "Mozilla/5.0").await.0,
        StatusCode::FOUND
    );
    assert_eq!(stored_clicks(&app, shop.brand.id).await, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_left_by_a_stopped_server_is_stored_once_when_the_server_starts() {
    let app = TestApp::new().await;
    let shop = crate::tracking::shop(&app).await;
    assert_eq!(
        crate::tracking::click(&app, &shop.link_code, "Mozilla/5.0").await.0,
        StatusCode::FOUND
    );
    let stored = stored_click_list(&mut app.db.connect().await).await.remove(0);
    let answered_never_stored = || NewClick {
        id: uuid::Uuid::now_v7(),
        clicked_at: chrono::Utc::now(),
        ..stored.clone()
    };
    // A segment as the journal leaves it when the server stops mid-way: a click
    // already stored, two answered and never stored, an append torn by the crash,
    // and the zeros the segment was made of.
    let spool = tempfile::tempdir().unwrap();
    let mut segment = Vec::new();
    for click in [stored.clone(), answered_never_stored(), answered_never_stored()] {
        serde_json::to_writer(&mut segment, &click).unwrap();
        segment.push(b'\n');
    }
    segment.extend_from_slice(br#"{"brand_id":"#);
    segment.resize(segment.len() + 64 * 1024, 0);
    std::fs::write(
        spool.path().join(format!("journal-{}.jsonl", uuid::Uuid::now_v7())),
        segment,
    )
    .unwrap();

    let TestApp { db, .. } = app;
    let restarted = restart(db, journaling(spool.path()));
    until(async || stored_clicks(&restarted, shop.brand.id).await >= 3).await;
    until(async || files(spool.path(), "replay-").is_empty()).await;
    assert_eq!(stored_clicks(&restarted, shop.brand.id).await, 3);
    let kpis = restarted
        .ok(&shop.brand.analyst, "{ kpis { clicks } }", json!({}))
        .await;
    assert_eq!(kpis["kpis"]["clicks"], 3, "every answered click counted once");
    assert_eq!(
        files(spool.path(), "replay-"),
        Vec::<String>::new(),
        "the replayed segment is removed"
    );
    // What is left is the new server's spare segment: its header and zeros, no click.
    for spare in files(spool.path(), "journal-") {
        let path = spool.path().join(&spare);
        assert!(
            sales_tracking::app::clicks::spool::read_clicks(&path)
                .unwrap()
                .is_empty()
        );
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(br#"{"journal":""#), "{spare} starts with its header");
        assert!(bytes[31..].iter().all(|b| *b == 0), "{spare} holds only zeros after it");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_hangs_journaled_redirects_answer_at_once_and_are_stored_once_after() {
    let spool = tempfile::tempdir().unwrap();
    let (app, proxy) = crate::outage::app_behind_a_proxy(journaling(spool.path())).await;
    let shop = crate::tracking::shop(&app).await;
    assert_eq!(
        crate::tracking::click(&app, &shop.link_code, "Mozilla/5.0").await.0,
        StatusCode::FOUND
    );
    until(async || stored_clicks(&app, shop.brand.id).await >= 1).await;

    proxy.freeze(true);
    for _ in 0..10 {
        let started = Instant::now();
        let (status, _) = crate::tracking::click(&app, &shop.link_code, "Mozilla/5.0").await;
        assert_eq!(status, StatusCode::FOUND);
        // A sync of the journal, not the database's answer; generous for a busy test machine.
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
    }
    // The server stops with its batch hanging; the database comes back.
    let TestApp { db, .. } = app;
    proxy.freeze(false);
    let restarted = restart(db, journaling(spool.path()));
    until(async || stored_clicks(&restarted, shop.brand.id).await >= 11).await;
    // The old server's late batch, the replay, or both: still once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(stored_clicks(&restarted, shop.brand.id).await, 11);
    let kpis = restarted
        .ok(&shop.brand.analyst, "{ kpis { clicks } }", json!({}))
        .await;
    assert_eq!(kpis["kpis"]["clicks"], 11, "every answered click counted once");
}
