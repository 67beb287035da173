//! Test harness: every test gets its own database, cloned from a migrated
//! template, on the PostgreSQL the binary itself would use.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use tower::ServiceExt;

use sales_tracking::db::{self, DbPool};
use sales_tracking::dev::local_postgres as local;
use sales_tracking::domain::enums::Role;
use sales_tracking::domain::ids::BrandId;

/// The server URL (without a database) and the migrated template's name.
struct Template {
    server: String,
    name: String,
}

static TEMPLATE: OnceCell<Template> = OnceCell::const_new();

/// `TEST_DATABASE_SERVER` (e.g. `postgres://postgres@127.0.0.1:5432`) if set; otherwise
/// found or started like the binary does.
async fn server() -> String {
    if let Ok(server) = std::env::var("TEST_DATABASE_SERVER") {
        return server;
    }
    let dir = local::default_data_dir().join("test");
    let found = local::find_or_start(&dir, "postgres")
        .await
        .expect("no PostgreSQL for tests");
    if let Some(cluster) = found.cluster {
        let server = cluster.server_url();
        cluster.keep_running();
        return server;
    }
    found.url.trim_end_matches("/postgres").to_string()
}

/// A digest of the migrations, so a changed migration gets a new template.
fn migrations_digest() -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<_> = walk(&dir);
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(file.to_string_lossy().as_bytes());
        hasher.update(std::fs::read(&file).unwrap());
    }
    hex::encode(&hasher.finalize()[..6])
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .flat_map(|entry| {
            if entry.path().is_dir() {
                walk(&entry.path())
            } else {
                vec![entry.path()]
            }
        })
        .collect()
}

async fn template() -> &'static Template {
    TEMPLATE
        .get_or_init(|| async {
            let server = server().await;
            let name = format!("st_template_{}", migrations_digest());
            let mut admin = AsyncPgConnection::establish(&format!("{server}/postgres"))
                .await
                .unwrap();
            // Test binaries may run at once; one builds the template, the others wait.
            diesel::sql_query("SELECT pg_advisory_lock(7031)")
                .execute(&mut admin)
                .await
                .unwrap();
            let exists: i64 = count(
                &mut admin,
                &format!("SELECT count(*) AS n FROM pg_database WHERE datname = '{name}'"),
            )
            .await;
            if exists == 0 {
                let building = format!("{name}_building");
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {building}"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                diesel::sql_query(format!("CREATE DATABASE {building}"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                db::run_migrations(&format!("{server}/{building}")).await.unwrap();
                diesel::sql_query(format!("ALTER DATABASE {building} RENAME TO {name}"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
            }
            diesel::sql_query("SELECT pg_advisory_unlock(7031)")
                .execute(&mut admin)
                .await
                .unwrap();
            Template { server, name }
        })
        .await
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Runs a `SELECT count(*) AS n ...` query.
/// A port nothing listens on yet, for a server binary a test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (at most a minute) until a started server accepts connections at `address`.
pub async fn until_listening(address: &str) {
    let started = std::time::Instant::now();
    while tokio::net::TcpStream::connect(address).await.is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the server at {address} did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

pub async fn count(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Count>(conn).await.unwrap().n
}

/// Every rollup and summary equals a rebuild from what it sums, and no row names a
/// membership or conversion that is not there (`sales-tracking check`).
pub async fn assert_summaries_rebuild(conn: &mut AsyncPgConnection) {
    let rollups = sales_tracking::db::stats::mismatches_with_raw_events(conn)
        .await
        .unwrap();
    let summaries = sales_tracking::db::stats::summary_mismatches(conn).await.unwrap();
    let dangling = sales_tracking::db::stats::dangling_references(conn).await.unwrap();
    assert_eq!(
        (rollups, summaries, dangling),
        (0, 0, 0),
        "rows differing from a rebuild (rollups, summaries), or naming what is not there"
    );
}

/// A database of one test's own, dropped when the test ends.
pub struct TestDb {
    pub server: String,
    pub name: String,
}

static NEXT_DB: AtomicU64 = AtomicU64::new(0);

impl TestDb {
    /// A fresh, migrated database.
    pub async fn new() -> Self {
        let template = template().await;
        let name = Self::unique_name();
        let mut admin = AsyncPgConnection::establish(&format!("{}/postgres", template.server))
            .await
            .unwrap();
        diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {}", template.name))
            .execute(&mut admin)
            .await
            .unwrap();
        TestDb {
            server: template.server.clone(),
            name,
        }
    }

    /// A fresh database with no tables at all.
    pub async fn empty() -> Self {
        let server = template().await.server.clone();
        let name = Self::unique_name();
        let mut admin = AsyncPgConnection::establish(&format!("{server}/postgres"))
            .await
            .unwrap();
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        TestDb { server, name }
    }

    fn unique_name() -> String {
        format!(
            "st_test_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed)
        )
    }

    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    pub async fn connect(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url()).await.unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin_url = format!("{}/postgres", self.server);
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop runs outside async; a short-lived runtime on its own thread does the work.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut admin) = AsyncPgConnection::establish(&admin_url).await {
                    let _ = diesel::sql_query(sql).execute(&mut admin).await;
                }
            });
        })
        .join();
    }
}

/// A brand with an admin and an analyst key.
pub struct TestBrand {
    pub id: BrandId,
    pub slug: String,
    pub admin: String,
    pub analyst: String,
}

/// The whole application on a fresh database, called through its router.
pub struct TestApp {
    pub pool: DbPool,
    pub router: sales_tracking::http::Routes,
    pub db: TestDb,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_config(Default::default()).await
    }

    /// As the server runs: the order writer on a thread of its own, with its own connections.
    pub async fn with_order_writer_thread() -> Self {
        Self::with_config_for(|url| sales_tracking::AppConfig {
            order_writer_pool: Some(
                db::connect_pool(url, sales_tracking::app::orders::OrderWriter::CONNECTIONS).unwrap(),
            ),
            ..Default::default()
        })
        .await
    }

    pub async fn with_config(config: sales_tracking::AppConfig) -> Self {
        Self::with_config_for(|_| config).await
    }

    /// With the configuration `config` makes for the test database's URL.
    async fn with_config_for(config: impl FnOnce(&str) -> sales_tracking::AppConfig) -> Self {
        // Logs show up under a failing test's output (set RUST_LOG to see more).
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .try_init();
        let db = TestDb::new().await;
        let pool = db::connect_pool(&db.url(), 4).unwrap();
        TestApp {
            router: sales_tracking::router(pool.clone(), config(&db.url())),
            pool,
            db,
        }
    }

    pub async fn brand(&self, name: &str) -> TestBrand {
        let mut conn = self.pool.get().await.unwrap();
        let slug = sales_tracking::domain::validate::slugify(name);
        let brand = db::brands::create(&mut conn, name, &slug, "America/New_York")
            .await
            .unwrap();
        let (_, admin) = db::api_keys::create(&mut conn, brand.id, Role::Admin, "test admin")
            .await
            .unwrap();
        let (_, analyst) = db::api_keys::create(&mut conn, brand.id, Role::Analyst, "test analyst")
            .await
            .unwrap();
        TestBrand {
            id: brand.id,
            slug: brand.slug,
            admin,
            analyst,
        }
    }

    /// Sends a GraphQL request over HTTP; returns the status and the JSON body.
    pub async fn graphql(&self, key: Option<&str>, query: &str, variables: Value) -> (StatusCode, Value) {
        let mut request = Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
        if let Some(key) = key {
            request = request.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let body = json!({ "query": query, "variables": variables }).to_string();
        let (status, bytes) = self.send(request.body(Body::from(body)).unwrap()).await;
        (status, serde_json::from_slice(&bytes).expect("GraphQL answers JSON"))
    }

    /// A GraphQL request that must succeed; returns `data`.
    pub async fn ok(&self, key: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.graphql(Some(key), query, variables).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// A GraphQL request that must fail; returns the first error's code.
    pub async fn error_code(&self, key: Option<&str>, query: &str, variables: Value) -> String {
        let (_, body) = self.graphql(key, query, variables).await;
        let error = &body["errors"][0];
        assert!(error.is_object(), "expected an error: {body}");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error without a message: {body}"
        );
        error["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("error without a code: {body}"))
            .to_string()
    }

    /// A GET with an API key; returns the status, the content type and the body.
    pub async fn get_as(&self, key: &str, uri: &str) -> (StatusCode, String, String) {
        let request = Request::get(uri)
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = response.into_body().collect().await.unwrap().to_bytes().to_vec();
        (status, content_type, String::from_utf8(bytes).unwrap())
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, String) {
        let (status, bytes) = self.send(Request::get(uri).body(Body::empty()).unwrap()).await;
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Any request through the router, answered whole.
    pub async fn respond(&self, request: Request<Body>) -> axum::response::Response {
        self.router.clone().oneshot(request).await.unwrap()
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, Vec<u8>) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes().to_vec();
        (status, bytes)
    }

    /// Counts rows of a table across all brands.
    pub async fn rows(&self, table: &str) -> i64 {
        let mut conn = self.db.connect().await;
        count(&mut conn, &format!("SELECT count(*) AS n FROM {table}")).await
    }
}

/// The checked-in schema's type definitions (a test keeps the file equal to the code).
pub fn schema_types() -> Vec<async_graphql::parser::types::TypeDefinition> {
    let sdl = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    async_graphql::parser::parse_schema(&sdl)
        .unwrap()
        .definitions
        .into_iter()
        .filter_map(|definition| match definition {
            async_graphql::parser::types::TypeSystemDefinition::Type(t) => Some(t.node),
            _ => None,
        })
        .collect()
}

/// The named type inside any list and non-null wrappers.
pub fn named_type(ty: &async_graphql::parser::types::Type) -> &str {
    match &ty.base {
        async_graphql::parser::types::BaseType::Named(name) => name.as_str(),
        async_graphql::parser::types::BaseType::List(inner) => named_type(inner),
    }
}
