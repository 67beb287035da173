use axum::http::StatusCode;

use crate::common::TestApp;

#[tokio::test]
async fn health_checks_the_database() {
    let app = TestApp::new().await;
    let (status, body) = app.get("/health").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"database\":\"ok\""), "{body}");
    assert_eq!(app.get("/readyz").await.0, StatusCode::OK);
    assert_eq!(app.get("/livez").await.0, StatusCode::OK);
}

#[tokio::test]
async fn not_ready_while_the_database_is_unreachable_but_alive() {
    // A port nobody listens on: connections are refused at once.
    let pool = sales_tracking::db::connect_pool("postgres://postgres@127.0.0.1:1/none", 1).unwrap();
    let router = sales_tracking::router(pool, Default::default());
    let get = |uri: &'static str| {
        let router = router.clone();
        async move {
            let request = axum::http::Request::get(uri).body(axum::body::Body::empty()).unwrap();
            tower::ServiceExt::oneshot(router, request).await.unwrap().status()
        }
    };
    let started = std::time::Instant::now();
    assert_eq!(get("/readyz").await, StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(get("/livez").await, StatusCode::OK);
}

#[tokio::test]
async fn graphiql_is_served_from_shipped_files_with_no_cdn() {
    let app = TestApp::new().await;
    let (status, page) = app.get("/graphiql").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("GraphiQL"));
    for line in page.lines().filter(|l| l.contains("src=") || l.contains("href=")) {
        assert!(
            !line.contains("http://") && !line.contains("https://"),
            "external asset: {line}"
        );
    }
    for asset in [
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
    ] {
        let (status, body) = app.get(&format!("/graphiql/vendor/{asset}")).await;
        assert_eq!(status, StatusCode::OK, "{asset}");
        assert!(body.len() > 5_000, "{asset} is too small to be real");
    }
    assert_eq!(app.get("/graphiql/vendor/secret.txt").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn queries_work_over_get_too() {
    let app = TestApp::new().await;
    let (status, body) = app.get("/graphql?query=%7B__typename%7D").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"Query\""), "{body}");
}

/// The accept loop with one connection allowed and a one-second header deadline:
/// a second client waits for the first to leave, and a client that never finishes
/// its headers is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_and_slow_headers_time_out() {
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = TestApp::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let options = sales_tracking::http::server::ServeOptions {
        max_connections: 1,
        header_read_timeout: Duration::from_secs(1),
        shutdown_deadline: Duration::from_secs(1),
        ..Default::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(sales_tracking::http::server::serve(
        listener,
        app.router.clone(),
        options,
        async {
            let _ = stopped.await;
        },
    ));

    // The only slot, taken by a client that sends half its headers.
    let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
    slow.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut waiting = tokio::net::TcpStream::connect(address).await.unwrap();
    waiting
        .write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let early = tokio::time::timeout(Duration::from_millis(500), waiting.read_to_end(&mut answer)).await;
    assert!(early.is_err(), "answered while the only slot was taken");
    // The slow client is closed at its header deadline; then the other is served.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(3), slow.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the slow client was not closed");
    tokio::time::timeout(Duration::from_secs(3), waiting.read_to_end(&mut answer))
        .await
        .expect("served once the slot was free")
        .unwrap();
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("shut down")
        .unwrap()
        .unwrap();
    // That server drained; others in the process (here the same router, served
    // anew) are still ready.
    assert_eq!(app.get("/readyz").await.0, StatusCode::OK);
}
