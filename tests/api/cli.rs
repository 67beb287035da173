//! The binary's brand and key commands, run for real against a test database.

use std::process::Command;

use serde_json::json;

use crate::common::TestApp;

fn run(database_url: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_sales-tracking"))
        .env("FX_RATES_URL", "none")
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
        .env("FX_RATES_URL", "none")
        .args(["brand", "create", "--name", "X", "--time-zone", "Mars/Base"])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("IANA time zone"));
    let output = Command::new(env!("CARGO_BIN_EXE_sales-tracking"))
        .env("FX_RATES_URL", "none")
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
            .env("FX_RATES_URL", "none")
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

/// The real binary, a client that never finishes its request, and SIGTERM: the
/// server ends within its shutdown deadline, with the click it answered stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_within_the_deadline_whatever_clients_do() {
    use tokio::io::AsyncWriteExt;

    let app = TestApp::new().await;
    let shop = crate::tracking::shop(&app).await;
    let port = crate::common::free_port();
    let spool = tempfile::tempdir().unwrap();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_sales-tracking"))
        .env("FX_RATES_URL", "none")
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--shutdown-deadline",
            "3",
        ])
        .args(["--header-read-timeout", "60"])
        .arg("--spool-dir")
        .arg(spool.path())
        .env("DATABASE_URL", app.db.url())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("127.0.0.1:{port}");
    crate::common::until_listening(&base).await;
    // One real redirect, answered before the signal.
    let mut redirect = tokio::net::TcpStream::connect(&base).await.unwrap();
    redirect
        .write_all(
            format!(
                "GET /r/{} HTTP/1.1\r\nHost: x\r\nUser-Agent: Mozilla/5.0\r\nConnection: close\r\n\r\n",
                shop.link_code
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut redirect, &mut answer)
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 302"), "{answer}");
    // Two clients that never finish: one mid-headers, one mid-body.
    let mut half_headers = tokio::net::TcpStream::connect(&base).await.unwrap();
    half_headers
        .write_all(b"GET /graphql HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut half_body = tokio::net::TcpStream::connect(&base).await.unwrap();
    half_body
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"query\":")
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let signalled = std::time::Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(15), server.wait())
        .await
        .expect("the server ends within its deadline")
        .unwrap();
    let took = signalled.elapsed();
    assert!(status.success(), "{status}");
    assert!(took < std::time::Duration::from_secs(8), "shutdown took {took:?}");
    let stored = app.ok(&shop.brand.analyst, "{ kpis { clicks } }", json!({})).await;
    assert_eq!(stored["kpis"]["clicks"], 1, "the answered click is stored");
    drop((half_headers, half_body));
}
