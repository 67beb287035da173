//! The database hanging (accepting connections, never answering) while shoppers
//! click: redirects answer in time, clicks go to the spool, and once the
//! database is back every answered click is stored exactly once, also across a
//! restart of the server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use sales_tracking::domain::ids::{BrandId, MembershipId};

use crate::common::{TestApp, count};

/// A TCP proxy to PostgreSQL that can freeze: while frozen it accepts
/// connections and holds every byte, like a database that hangs.
pub struct FreezableProxy {
    port: u16,
    frozen: Arc<AtomicBool>,
}

impl FreezableProxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen = Arc::new(AtomicBool::new(false));
        let flag = frozen.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (flag, upstream) = (flag.clone(), upstream.clone());
                tokio::spawn(async move {
                    wait_while(&flag).await;
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::spawn(pipe(client_read, server_write, flag.clone()));
                    pipe(server_read, client_write, flag).await;
                });
            }
        });
        FreezableProxy { port, frozen }
    }

    pub fn freeze(&self, frozen: bool) {
        self.frozen.store(frozen, Ordering::SeqCst);
    }
}

/// A test database and a pool (checkouts giving up after 2 s) that reaches it
/// through a proxy that can freeze.
async fn behind_a_proxy() -> (crate::common::TestDb, sales_tracking::db::DbPool, FreezableProxy) {
    let direct = TestApp::new().await;
    let url = url::Url::parse(&direct.db.url()).unwrap();
    let proxy = FreezableProxy::start(format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432))).await;
    let mut proxied_url = url.clone();
    proxied_url.set_port(Some(proxy.port)).unwrap();
    let pool = sales_tracking::db::connect_pool_with_timeout(proxied_url.as_str(), 4, Duration::from_secs(2)).unwrap();
    (direct.db, pool, proxy)
}

/// A server on a test database it reaches through a proxy that can freeze.
pub async fn app_behind_a_proxy(config: sales_tracking::AppConfig) -> (TestApp, FreezableProxy) {
    let (db, pool, proxy) = behind_a_proxy().await;
    let app = TestApp {
        router: sales_tracking::router(pool.clone(), config),
        pool,
        db,
    };
    (app, proxy)
}

/// A new server on the database a stopped one used.
pub fn restart(db: crate::common::TestDb, config: sales_tracking::AppConfig) -> TestApp {
    TestApp {
        router: sales_tracking::router(sales_tracking::db::connect_pool(&db.url(), 4).unwrap(), config),
        pool: sales_tracking::db::connect_pool(&db.url(), 4).unwrap(),
        db,
    }
}

/// Every stored click, as the writer was handed it (without the visitor's address hash).
pub async fn stored_click_list(
    conn: &mut diesel_async::AsyncPgConnection,
) -> Vec<sales_tracking::db::clicks::NewClick> {
    use diesel::prelude::*;
    use diesel_async::RunQueryDsl;
    use sales_tracking::db::schema::clicks;
    let rows: Vec<(
        BrandId,
        MembershipId,
        uuid::Uuid,
        chrono::DateTime<chrono::Utc>,
        String,
        bool,
    )> = clicks::table
        .select((
            clicks::brand_id,
            clicks::membership_id,
            clicks::id,
            clicks::clicked_at,
            clicks::user_agent,
            clicks::is_bot,
        ))
        .load(conn)
        .await
        .unwrap();
    rows.into_iter()
        .map(
            |(brand_id, membership_id, id, clicked_at, user_agent, is_bot)| sales_tracking::db::clicks::NewClick {
                brand_id,
                membership_id,
                id,
                clicked_at,
                ip_hash: None,
                user_agent,
                is_bot,
            },
        )
        .collect()
}

async fn wait_while(flag: &AtomicBool) {
    while flag.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let Ok(n) = from.read(&mut buffer).await else { return };
        if n == 0 {
            return;
        }
        wait_while(&frozen).await;
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

pub async fn stored_clicks(app: &TestApp, brand_id: BrandId) -> i64 {
    let mut conn = app.db.connect().await;
    count(
        &mut conn,
        &format!("SELECT count(*) AS n FROM clicks WHERE brand_id = {}", brand_id.0),
    )
    .await
}

/// Waits (at most 30 s) until the brand has `count` clicks stored, as the spool replays.
async fn until_stored(app: &TestApp, brand_id: BrandId, count: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while stored_clicks(app, brand_id).await < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_answer_in_time_while_the_database_hangs_and_no_click_is_lost() {
    let spool = tempfile::tempdir().unwrap();
    // The test's own database, reached through the proxy.
    let config = || sales_tracking::AppConfig {
        spool_dir: Some(spool.path().to_path_buf()),
        ..Default::default()
    };
    let (app, proxy) = app_behind_a_proxy(config()).await;
    let shop = crate::tracking::shop(&app).await;
    // Cached while the database answers.
    assert_eq!(
        crate::tracking::click(&app, &shop.link_code, "Mozilla/5.0").await.0,
        StatusCode::FOUND
    );

    proxy.freeze(true);
    for _ in 0..10 {
        let started = Instant::now();
        let (status, location) = crate::tracking::click(&app, &shop.link_code, "Mozilla/5.0").await;
        let took = started.elapsed();
        assert_eq!(status, StatusCode::FOUND);
        assert!(location.contains("st_click="), "{location}");
        // 200 ms of waiting for the batch plus an fsync; generous for a busy test machine.
        assert!(took < Duration::from_millis(1_000), "a redirect took {took:?}");
    }
    // A code never looked up cannot be answered without the database: 503, in time.
    let started = Instant::now();
    let (status, _) = app.get("/r/never-seen-code").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_millis(1_000));
    // Five more answered clicks, then the server stops before the database is back.
    for _ in 0..5 {
        assert_eq!(
            crate::tracking::click(&app, &shop.link_code, "Mozilla/5.0").await.0,
            StatusCode::FOUND
        );
    }
    let TestApp { db, .. } = app;
    proxy.freeze(false);

    // A new server on the same spool stores what the old one spooled, once.
    let restarted = restart(db, config());
    until_stored(&restarted, shop.brand.id, 16).await;
    // Give a late batch of the old server time to commit too: still once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(stored_clicks(&restarted, shop.brand.id).await, 16);
    let kpis = restarted
        .ok(&shop.brand.analyst, "{ kpis { clicks } }", json!({}))
        .await;
    assert_eq!(kpis["kpis"]["clicks"], 16, "every answered click counted once");
    let leftover: Vec<_> = std::fs::read_dir(spool.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        leftover
            .iter()
            .all(|name| !name.to_string_lossy().starts_with("replay-")),
        "replayed files are removed: {leftover:?}"
    );
}

#[tokio::test]
async fn storing_a_click_twice_stores_and_counts_it_once() {
    let app = TestApp::new().await;
    let shop = crate::tracking::shop(&app).await;
    assert_eq!(
        crate::tracking::click(&app, &shop.link_code, "Mozilla/5.0").await.0,
        StatusCode::FOUND
    );
    let mut conn = app.pool.get().await.unwrap();
    let stored = stored_click_list(&mut conn).await;
    assert_eq!(stored.len(), 1);
    let again = sales_tracking::app::clicks::store_batch(&mut conn, stored, Default::default())
        .await
        .unwrap();
    assert_eq!((again.counted, again.duplicates), (0, 1));
    assert_eq!(stored_clicks(&app, shop.brand.id).await, 1);
    let kpis = app.ok(&shop.brand.analyst, "{ kpis { clicks } }", json!({})).await;
    assert_eq!(kpis["kpis"]["clicks"], 1);
}

/// A database outage many times longer than the link refresh interval (here one
/// second, 30 s by default): every redirect of a known code is a 302 from
/// memory all along, a code never seen is a 503, and once the database is back
/// every answered click is stored and counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_links_redirect_through_an_outage_of_any_length() {
    let spool = tempfile::tempdir().unwrap();
    let (db, pool, proxy) = behind_a_proxy().await;
    let refresh_every = Duration::from_secs(1);
    let app = TestApp {
        router: sales_tracking::router(
            pool.clone(),
            sales_tracking::AppConfig {
                spool_dir: Some(spool.path().to_path_buf()),
                link_refresh_every: refresh_every,
                ..Default::default()
            },
        ),
        pool,
        db,
    };
    let shop = crate::tracking::shop(&app).await;
    assert_eq!(
        crate::tracking::click(&app, &shop.link_code, "Mozilla/5.0").await.0,
        StatusCode::FOUND
    );

    proxy.freeze(true);
    let outage = Instant::now();
    let mut answered = 1;
    while outage.elapsed() < refresh_every * 8 {
        let (status, location) = crate::tracking::click(&app, &shop.link_code, "Mozilla/5.0").await;
        assert_eq!(
            status,
            StatusCode::FOUND,
            "a known code failed {:?} into the outage",
            outage.elapsed()
        );
        assert!(location.contains("st_click="), "{location}");
        answered += 1;
    }
    assert_eq!(app.get("/r/never-seen-code").await.0, StatusCode::SERVICE_UNAVAILABLE);
    proxy.freeze(false);

    until_stored(&app, shop.brand.id, answered).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stored_clicks(&app, shop.brand.id).await, answered);
    let kpis = app.ok(&shop.brand.analyst, "{ kpis { clicks } }", json!({})).await;
    assert_eq!(kpis["kpis"]["clicks"], answered, "every answered click counted once");
}

/// While the database hangs, GraphQL answers UNAVAILABLE within its 5 s deadline
/// (the key lookup included), not the request timeout's 408 after 30 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_answers_unavailable_within_five_seconds_while_the_database_hangs() {
    let (db, pool, proxy) = behind_a_proxy().await;
    let app = TestApp {
        router: sales_tracking::router(pool.clone(), Default::default()),
        pool,
        db,
    };
    let brand = app.brand("Hang Co").await;
    // Connections open and idle, as on a server that was serving.
    let warm = app.ok(&brand.analyst, "{ kpis { clicks } }", json!({})).await;
    assert_eq!(warm["kpis"]["clicks"], 0);

    proxy.freeze(true);
    let started = Instant::now();
    let (status, body) = app
        .graphql(Some(&brand.analyst), "{ kpis { clicks } }", json!({}))
        .await;
    let took = started.elapsed();
    proxy.freeze(false);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAVAILABLE", "{body}");
    // The deadline is 5 s; the rest is slack for a loaded test machine.
    assert!(took < Duration::from_millis(6_500), "answered after {took:?}");
}
