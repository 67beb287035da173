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
    let router = sales_tracking::app(pool, Default::default());
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
