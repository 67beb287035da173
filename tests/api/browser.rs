//! The dashboard in a real browser: Debian's Chromium driven by playwright-core
//! (`playground/tests/dashboard.mjs`) against this server with the demo brand.
//! `playground/tests/setup.sh` installs Chromium and playwright-core when missing.

use std::path::Path;

use crate::common::TestDb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_works_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tests = root.join("playground/tests");
    let setup = tokio::process::Command::new(tests.join("setup.sh"))
        .status()
        .await
        .unwrap();
    assert!(setup.success(), "playground/tests/setup.sh failed");

    let db = TestDb::new().await;
    let pool = sales_tracking::db::connect_pool(&db.url(), 8).unwrap();
    let key = sales_tracking::fixtures::demo::ensure_demo_brand(&pool).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shopify = crate::shopify::ShopifyStandIn::start().await;
    // The store's history the page imports.
    for n in 0..3 {
        shopify.add_order(crate::shopify::order_node(
            5000 + n,
            crate::shopify::days_ago(20),
            "40.00",
            &[],
        ));
    }
    let config = sales_tracking::AppConfig {
        public_url: format!("http://{address}"),
        secrets_keys: Some(sales_tracking::app::secrets::SecretsKeys::parse(&crate::shopify::secrets_key()).unwrap()),
        shopify_admin_base_url: shopify.url.clone(),
        // The page registers a receiver the test runs on loopback.
        webhooks: sales_tracking::app::webhooks::WebhookSettings {
            targets: sales_tracking::app::ports::Targets::AllowPrivate,
            ..Default::default()
        },
        ..Default::default()
    };
    let routes = sales_tracking::router(pool, config);
    let server = tokio::spawn(sales_tracking::http::server::serve(
        listener,
        routes,
        Default::default(),
        std::future::pending(),
    ));

    // Under target/, so `cargo test` leaves the work tree clean; refreshing the
    // README's pictures is an explicit step: SCREENSHOT_DIR=playground/screenshots.
    let screenshots = std::env::var_os("SCREENSHOT_DIR").map_or_else(
        || {
            std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| root.join("target"), std::path::PathBuf::from)
                .join("screenshots")
        },
        std::path::PathBuf::from,
    );
    std::fs::create_dir_all(&screenshots).unwrap();
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let output = tokio::process::Command::new("node")
        .arg(tests.join("dashboard.mjs"))
        .current_dir(&tests)
        .env("BASE_URL", format!("http://{address}"))
        .env("API_KEY", &key)
        .env("CHROMIUM", chromium)
        .env("SCREENSHOT_DIR", &screenshots)
        .env("SHOP_TOKEN", crate::shopify::TOKEN)
        .output()
        .await
        .expect("node runs");
    server.abort();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "browser tests failed\n{stdout}\n{stderr}");
    assert!(stdout.contains("browser tests passed"), "{stdout}");
    for shot in [
        "home.png",
        "offer.png",
        "offer-manage.png",
        "orders.png",
        "settings.png",
        "webhooks.png",
        "shopify.png",
        "home-phone.png",
    ] {
        assert!(
            screenshots.join(shot).metadata().unwrap().len() > 10_000,
            "{shot} was taken"
        );
    }
}
