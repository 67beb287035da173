//! What an operator sees: a request id in the response and in every JSON log line
//! the request causes, answer times by route, and pool and writer gauges.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};

use crate::common::TestApp;

async fn request_id(app: &TestApp, given: Option<&str>) -> String {
    let mut request = Request::get("/health");
    if let Some(id) = given {
        request = request.header("x-request-id", id);
    }
    let response = app.respond(request.body(Body::empty()).unwrap()).await;
    response.headers()["x-request-id"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_only_a_plain_one_is_kept() {
    let app = TestApp::new().await;
    let made = request_id(&app, None).await;
    assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");
    assert_ne!(request_id(&app, None).await, made, "each request its own");
    assert_eq!(request_id(&app, Some("lb-7f3a_01")).await, "lb-7f3a_01");
    for hostile in ["has space", "a\"quote", &"x".repeat(65), "{\"json\":1}"] {
        let kept = request_id(&app, Some(hostile)).await;
        assert!(
            uuid::Uuid::parse_str(&kept).is_ok(),
            "{hostile:?} was replaced, not kept"
        );
    }
}

#[tokio::test]
async fn metrics_time_each_route_and_show_pools_and_writer_queues() {
    let app = TestApp::new().await;
    let brand = app.brand("Trail Co").await;
    app.ok(&brand.admin, "{ viewer { role } }", json!({})).await;
    app.get("/r/nobody-xxxxxx").await;
    for method in ["BREW", "PROPFIND", "X-ANYTHING"] {
        let request = Request::builder()
            .method(method)
            .uri("/graphql")
            .body(Body::empty())
            .unwrap();
        app.respond(request).await;
    }
    let (_, text) = app.get("/metrics").await;
    assert!(
        text.contains(
            r#"sales_tracking_request_duration_seconds_count{route="/graphql",method="POST",status="2xx"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/r/{code}",method="GET",status="4xx""#),
        "the pattern, not the code"
    );
    assert!(!text.contains("nobody-xxxxxx"));
    assert!(
        text.contains(r#"route="/graphql",method="OTHER",status="4xx"} 3"#),
        "made-up methods share one label"
    );
    for gauge in [
        r#"sales_tracking_pool_connections{pool="api",state="open"}"#,
        r#"sales_tracking_pool_connections{pool="reports",state="waiting"}"#,
        r#"sales_tracking_writer_queued{writer="clicks"}"#,
        r#"sales_tracking_writer_queued{writer="orders"}"#,
    ] {
        assert!(text.contains(gauge), "{gauge} in {text}");
    }
}

#[tokio::test]
async fn json_logs_name_the_request_and_the_demo_key_is_the_last_line_of_output() {
    let app = TestApp::new().await;
    let port = crate::common::free_port();
    let spool = tempfile::tempdir().unwrap();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_sales-tracking"))
        .env("FX_RATES_URL", "none")
        .args(["serve", "--demo", "--bind", &format!("127.0.0.1:{port}")])
        .arg("--spool-dir")
        .arg(spool.path())
        .env("DATABASE_URL", app.db.url())
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info,tower_http=debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = server.stdout.take().unwrap();
    let stderr = server.stderr.take().unwrap();
    let printed = std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).collect::<Vec<_>>());
    let logged = std::thread::spawn(move || BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>());
    let base = format!("127.0.0.1:{port}");
    crate::common::until_listening(&base).await;
    let response = reqwest::Client::new()
        .get(format!("http://{base}/health"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop(&mut server);
    let printed = printed.join().unwrap();
    let logged = logged.join().unwrap();

    let key = printed.last().unwrap();
    assert!(key.starts_with("stk_"), "the key alone on the last line: {printed:?}");
    let lines: Vec<Value> = logged
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("a log line that is not JSON: {line}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|line| line["timestamp"].is_string() && line["level"].is_string())
    );
    let of_request: Vec<&Value> = lines
        .iter()
        .filter(|line| {
            line["spans"]
                .as_array()
                .is_some_and(|spans| spans.iter().any(|span| span["request_id"] == "trace-me-42"))
        })
        .collect();
    assert!(
        !of_request.is_empty(),
        "the request's log lines carry its id: {logged:?}"
    );
}

/// Stops the server (SIGKILL) so its output ends.
fn stop(server: &mut std::process::Child) {
    server.kill().unwrap();
    server.wait().unwrap();
}
