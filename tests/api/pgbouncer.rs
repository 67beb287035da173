//! Through PgBouncer in transaction mode (Debian's 1.18, which tracks no prepared
//! statements): every kind of request works, on far fewer server connections than
//! the server's pools hold.

use std::path::PathBuf;
use std::process::Command;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;
use tower::ServiceExt;

use crate::common::{TestApp, TestDb, count, free_port, until_listening};
use crate::tracking::shop;
use sales_tracking::db::{self, Pooler};

/// Server connections PgBouncer may open to the test's database.
const SERVER_CONNECTIONS: usize = 3;

/// A PgBouncer in transaction mode in front of `server`, stopped when dropped.
pub struct PgBouncer {
    dir: tempfile::TempDir,
    pub port: u16,
}

impl PgBouncer {
    pub fn start(server: &str) -> PgBouncer {
        let installed = || {
            ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
                .into_iter()
                .map(PathBuf::from)
                .find(|path| path.exists())
        };
        let binary = installed()
            .or_else(|| {
                // As root (CI), install Debian's package, as `.ci/run` does.
                let _ = Command::new("apt-get")
                    .args(["install", "-y", "-qq", "pgbouncer"])
                    .env("DEBIAN_FRONTEND", "noninteractive")
                    .status();
                installed()
            })
            .expect("PgBouncer is not installed: apt-get install pgbouncer");
        let address = server.rsplit('@').next().unwrap();
        let (host, server_port) = address.split_once(':').unwrap();
        let dir = tempfile::Builder::new()
            .prefix("st-pgbouncer-")
            .tempdir_in("/tmp")
            .unwrap();
        let port = free_port();
        let path = |name: &str| dir.path().join(name).display().to_string();
        let ini = format!(
            "[databases]\n* = host={host} port={server_port}\n\
             [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = {}\npool_mode = transaction\n\
             default_pool_size = {SERVER_CONNECTIONS}\nmax_client_conn = 500\n\
             logfile = {}\npidfile = {}\n",
            path("users.txt"),
            path("pgbouncer.log"),
            path("pgbouncer.pid"),
        );
        std::fs::write(path("pgbouncer.ini"), ini).unwrap();
        std::fs::write(path("users.txt"), "\"postgres\" \"\"\n").unwrap();
        // PgBouncer refuses to run as root.
        let as_root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
        let mut command = if as_root {
            Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&binary);
            command
        } else {
            Command::new(&binary)
        };
        let status = command.arg("-d").arg(path("pgbouncer.ini")).status().unwrap();
        assert!(status.success(), "PgBouncer did not start");
        PgBouncer { dir, port }
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("pgbouncer.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

#[tokio::test]
async fn every_request_works_through_pgbouncer_in_transaction_mode_on_few_server_connections() {
    let db = TestDb::new().await;
    let bouncer = PgBouncer::start(&db.server);
    until_listening(&format!("127.0.0.1:{}", bouncer.port)).await;
    let url = bouncer.url(&db.name);
    let pool = db::connect_pool_via(&url, 16, Pooler::Transaction).unwrap();
    let config = sales_tracking::AppConfig {
        tracking_pool: Some(db::connect_pool_via(&url, 8, Pooler::Transaction).unwrap()),
        report_pool: Some(db::connect_pool_via(&url, 4, Pooler::Transaction).unwrap()),
        ..Default::default()
    };
    let app = TestApp {
        router: sales_tracking::router(pool.clone(), config),
        pool,
        db,
    };
    let shop = shop(&app).await;
    let key = shop.brand.admin.clone();

    // Reports, mutations and clicks at once, many more than the server connections.
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..120 {
        let router = app.router.clone();
        let key = key.clone();
        let (link_code, promo_code) = (shop.link_code.clone(), shop.promo_code.clone());
        tasks.spawn(async move {
            let graphql = |query: String, variables: serde_json::Value| {
                Request::post("/graphql")
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(header::AUTHORIZATION, format!("Bearer {key}"))
                    .body(Body::from(json!({ "query": query, "variables": variables }).to_string()))
                    .unwrap()
            };
            let request = match n % 3 {
                0 => graphql(
                    "{ kpis { clicks conversions commissionsEarned paymentsDue } offers(first: 5) { nodes { name kpis { clicks } memberships(first: 5) { nodes { promoCode kpis { conversions } } } } } }".into(),
                    json!({}),
                ),
                1 => graphql(
                    "mutation($id: String!, $code: String!) { recordConversion(input: { externalOrderId: $id, saleAmount: \"25.00\", promoCode: $code }) { conversion { id commission } } }".into(),
                    json!({ "id": format!("PGB-{n}"), "code": promo_code }),
                ),
                _ => Request::get(format!("/r/{link_code}"))
                    .header(header::USER_AGENT, "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0")
                    .body(Body::empty())
                    .unwrap(),
            };
            let response = router.oneshot(request).await.unwrap();
            let status = response.status();
            let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
            (n, status, String::from_utf8_lossy(&body).into_owned())
        });
    }
    while let Some(answer) = tasks.join_next().await {
        let (n, status, body) = answer.unwrap();
        match n % 3 {
            2 => assert_eq!(status, StatusCode::FOUND, "redirect {n}: {body}"),
            _ => {
                assert_eq!(status, StatusCode::OK, "request {n}: {body}");
                assert!(!body.contains("\"errors\""), "request {n}: {body}");
            }
        }
    }

    let figures = app.ok(&key, "{ kpis { clicks conversions } }", json!({})).await;
    assert_eq!(figures["kpis"]["conversions"], 40, "{figures}");
    assert_eq!(figures["kpis"]["clicks"], 40, "{figures}");

    // The server held many connections; PostgreSQL saw at most the pooler's few.
    assert!(app.pool.status().size > SERVER_CONNECTIONS, "{:?}", app.pool.status());
    let mut direct = app.db.connect().await;
    let server_side = count(
        &mut direct,
        &format!(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
            app.db.name
        ),
    )
    .await;
    assert!(
        server_side as usize <= SERVER_CONNECTIONS,
        "{server_side} server connections"
    );
}
