//! Reports from a streaming replica: a private primary, a replica made from it with
//! `pg_basebackup -R`, and the server reading figures from one or the other.

use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};

use crate::common::{TestApp, TestDb};
use crate::tracking::shop;
use sales_tracking::db::{self, replica::Replica};
use sales_tracking::dev::local_postgres::{PrivateCluster, create_database_if_missing};

/// Past this, reports stop reading the replica (short, so the test sees it happen).
const MAX_LAG: Duration = Duration::from_secs(2);

const KPIS: &str = "{ kpis { conversions } }";

/// The brand-wide conversion count and the answer's `extensions.freshness`.
async fn conversions(app: &TestApp, key: &str) -> (i64, Value) {
    let (_, body) = app.graphql(Some(key), KPIS, json!({})).await;
    assert!(body.get("errors").is_none(), "reports keep answering: {body}");
    let count = body["data"]["kpis"]["conversions"].as_i64().expect("a count");
    (count, body["extensions"]["freshness"].clone())
}

/// Asks until the answer's freshness passes `wanted`, for at most ten seconds.
async fn until_freshness(app: &TestApp, key: &str, wanted: impl Fn(&Value) -> bool) -> (i64, Value) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (count, freshness) = conversions(app, key).await;
        if wanted(&freshness) {
            return (count, freshness);
        }
        assert!(Instant::now() < deadline, "freshness never came: last {freshness}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn sql(conn: &mut AsyncPgConnection, statement: &str) {
    diesel::sql_query(statement).execute(conn).await.unwrap();
}

async fn replica_conversions(conn: &mut AsyncPgConnection) -> i64 {
    crate::common::count(conn, "SELECT count(*) AS n FROM conversions").await
}

#[tokio::test]
async fn reports_read_a_fresh_replica_mutations_read_their_writes_and_a_lost_replica_falls_back() {
    let dir = tempfile::Builder::new()
        .prefix("st-replica-")
        .tempdir_in("/tmp")
        .unwrap();
    let (primary_dir, replica_dir) = (dir.path().join("primary"), dir.path().join("replica"));
    let primary = tokio::task::spawn_blocking(move || PrivateCluster::start(&primary_dir))
        .await
        .unwrap()
        .unwrap();
    create_database_if_missing(&primary.server_url(), "sales_tracking")
        .await
        .unwrap();
    let url = format!("{}/sales_tracking", primary.server_url());
    db::run_migrations(&url).await.unwrap();
    let (primary, replica) = tokio::task::spawn_blocking(move || {
        let replica = primary.start_replica(&replica_dir);
        (primary, replica)
    })
    .await
    .unwrap();
    let replica = replica.unwrap();
    let replica_url = format!("{}/sales_tracking", replica.server_url());

    let pool = db::connect_pool(&url, 4).unwrap();
    let watched = Replica::watch(&replica_url, 2, MAX_LAG, &url).unwrap();
    let config = sales_tracking::AppConfig {
        replica: Some(watched),
        ..Default::default()
    };
    let app = TestApp {
        router: sales_tracking::router(pool.clone(), config),
        pool,
        db: TestDb {
            server: primary.server_url(),
            name: "sales_tracking".into(),
        },
    };
    let shop = shop(&app).await;
    let other = app.brand("Quiet Co").await;
    let key = &shop.brand.admin;

    // Once the replica has replayed the shop's setup, its reports read the replica.
    let (count, freshness) = until_freshness(&app, key, |f| f["source"] == "REPLICA").await;
    assert_eq!(count, 0);
    let lag = freshness["replicationLagSeconds"].as_f64().unwrap();
    assert!((0.0..MAX_LAG.as_secs_f64()).contains(&lag), "{freshness}");
    assert!(
        freshness["asOf"].as_str().is_some_and(|at| at.ends_with('Z')),
        "{freshness}"
    );

    // The replica stops replaying: whatever is written now, it does not have.
    let mut on_replica = AsyncPgConnection::establish(&replica_url).await.unwrap();
    sql(&mut on_replica, "SELECT pg_wal_replay_pause()").await;
    let record = "mutation($code: String!) { recordConversion(input: { externalOrderId: \"R-1\", saleAmount: \"80.00\", promoCode: $code }) { conversion { membership { kpis { conversions } } } } }";
    let (_, body) = app.graphql(Some(key), record, json!({ "code": shop.promo_code })).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"]["recordConversion"]["conversion"]["membership"]["kpis"]["conversions"], 1,
        "a mutation's payload reads what it wrote"
    );
    assert_eq!(body["extensions"]["freshness"]["source"], "PRIMARY", "{body}");
    assert_eq!(body["extensions"]["freshness"]["reason"], "MUTATION", "{body}");
    assert_eq!(replica_conversions(&mut on_replica).await, 0, "the replica is behind");

    // The brand that wrote reads its write; another brand still reads the replica.
    let (count, freshness) = conversions(&app, key).await;
    assert_eq!(count, 1, "read-your-writes: {freshness}");
    assert_eq!(freshness["source"], "PRIMARY");
    assert_eq!(freshness["reason"], "RECENT_WRITE");
    let (_, freshness) = conversions(&app, &other.admin).await;
    assert_eq!(freshness["source"], "REPLICA", "{freshness}");

    // Past the bound, every report reads the primary, and /metrics says so.
    let (_, freshness) = until_freshness(&app, &other.admin, |f| f["source"] == "PRIMARY").await;
    assert_eq!(freshness["reason"], "REPLICA_BEHIND", "{freshness}");
    assert_eq!(freshness["replicationLagSeconds"], 0.0);
    let (_, metrics) = app.get("/metrics").await;
    assert!(metrics.contains("sales_tracking_replica_usable 0"), "{metrics}");
    assert!(metrics.contains("pool=\"replica\""), "{metrics}");

    // Replaying again, the replica catches up and serves the writer's reports too.
    sql(&mut on_replica, "SELECT pg_wal_replay_resume()").await;
    let (count, _) = until_freshness(&app, key, |f| f["source"] == "REPLICA").await;
    assert_eq!(count, 1, "the replica has the write now");
    assert_eq!(replica_conversions(&mut on_replica).await, 1);
    drop(on_replica);

    // The replica goes away: reports keep answering, from the primary.
    tokio::task::spawn_blocking(move || drop(replica)).await.unwrap();
    let (count, freshness) = until_freshness(&app, key, |f| f["source"] == "PRIMARY").await;
    assert_eq!(count, 1);
    assert_eq!(freshness["reason"], "REPLICA_DOWN", "{freshness}");

    drop(app);
    tokio::task::spawn_blocking(move || drop(primary)).await.unwrap();
}

#[tokio::test]
async fn without_a_replica_answers_carry_no_freshness() {
    let app = TestApp::new().await;
    let brand = app.brand("Solo Co").await;
    let (_, body) = app.graphql(Some(&brand.admin), KPIS, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert!(body["extensions"].get("freshness").is_none(), "{body}");
}
