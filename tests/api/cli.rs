//! The binary's brand and key commands, run for real against a test database.

use std::process::Command;

use serde_json::json;

use crate::common::TestApp;

fn run(database_url: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_sales-tracking"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn brand_create_then_api_key_create_gives_a_working_key() {
    let app = TestApp::new().await;
    let url = app.db.url();
    let slug = run(
        &url,
        &["brand", "create", "--name", "Nord Bikes", "--time-zone", "Europe/Oslo"],
    );
    assert_eq!(slug.trim(), "nord-bikes");
    let again = run(&url, &["brand", "create", "--name", "Nord Bikes", "--time-zone", "UTC"]);
    assert_eq!(again.trim(), "nord-bikes-2", "slugs stay unique");

    let output = run(
        &url,
        &["api-key", "create", "--brand", "nord-bikes", "--role", "ANALYST"],
    );
    let key = output.lines().last().unwrap().trim();
    assert!(key.starts_with("stk_"), "{output}");
    let data = app
        .ok(key, "{ viewer { role brand { slug timeZone } } }", json!({}))
        .await;
    assert_eq!(data["viewer"]["role"], "ANALYST");
    assert_eq!(data["viewer"]["brand"]["slug"], "nord-bikes");
    assert_eq!(data["viewer"]["brand"]["timeZone"], "Europe/Oslo");
}

#[tokio::test]
async fn bad_cli_input_fails_with_a_message() {
    let app = TestApp::new().await;
    let url = app.db.url();
    let output = Command::new(env!("CARGO_BIN_EXE_sales-tracking"))
        .args(["brand", "create", "--name", "X", "--time-zone", "Mars/Base"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("IANA time zone"));
    let output = Command::new(env!("CARGO_BIN_EXE_sales-tracking"))
        .args(["api-key", "create", "--brand", "missing", "--role", "ADMIN"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no brand with slug 'missing'"));
    assert_eq!(app.rows("brands").await, 0);
}

#[test]
fn help_never_prints_secrets_from_the_environment() {
    for args in [&["--help"][..], &["serve", "--help"][..]] {
        let output = Command::new(env!("CARGO_BIN_EXE_sales-tracking"))
            .args(args)
            .env("DATABASE_URL", "postgres://app:db-password-123@db.internal/sales")
            .env("SMTP_URL", "smtp://mailer:smtp-password-456@mail.internal:587")
            .env("IP_HASH_SECRET", "ip-secret-789")
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(help.contains("--database-url"), "{help}");
        for secret in ["db-password-123", "smtp-password-456", "ip-secret-789"] {
            assert!(!help.contains(secret), "{args:?} printed {secret}:\n{help}");
        }
    }
}
