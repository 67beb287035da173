//! emailMembers through a real SMTP server started by the test.

use std::io;
use std::net::{IpAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use mailin_embedded::{Handler, Response, Server, response};
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::tracking::shop;
use sales_tracking::app::email::{self, Mailer};

/// A message as the SMTP server received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub to: Vec<String>,
    pub data: String,
}

#[derive(Clone, Default)]
struct Inbox {
    messages: Arc<Mutex<Vec<Received>>>,
    to: Vec<String>,
    data: Vec<u8>,
    /// How long the server takes to accept each message.
    delay: Duration,
}

impl Handler for Inbox {
    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        response::OK
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        std::thread::sleep(self.delay);
        self.messages.lock().unwrap().push(Received {
            to: std::mem::take(&mut self.to),
            data: String::from_utf8_lossy(&std::mem::take(&mut self.data)).into_owned(),
        });
        response::OK
    }
}

/// Starts an SMTP server on a free port; returns its URL and what it receives.
/// The SMTP client the server sends through, pointed at `url`.
fn smtp_mailer(url: &str, from: &str) -> Mailer {
    Arc::new(sales_tracking::providers::smtp::SmtpMailer::new(url, from).unwrap())
}

pub fn smtp_server() -> (String, Arc<Mutex<Vec<Received>>>) {
    slow_smtp_server(Duration::ZERO)
}

/// An SMTP server that takes `delay` to accept each message.
fn slow_smtp_server(delay: Duration) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox = Inbox {
        delay,
        ..Inbox::default()
    };
    let messages = inbox.messages.clone();
    let mut server = Server::new(inbox);
    server
        .with_name("smtp.test")
        .with_num_threads(2)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    (format!("smtp://127.0.0.1:{port}"), messages)
}

/// A URL where nothing listens.
fn dead_smtp_url() -> String {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    format!("smtp://127.0.0.1:{port}")
}

const EMAIL: &str = "mutation($ids: [ID!]!, $t: EmailTemplateInput!) { emailMembers(input: { membershipIds: $ids, template: $t }) { emails { id to subject body status } } }";
const LOG: &str =
    "query($id: ID!) { membership(id: $id) { emails { status sentAt nextAttemptAt attempts { succeeded error } } } }";

fn template() -> Value {
    json!({ "subject": "Your {{offerName}} code", "body": "Hi {{memberName}}, share {{promoCode}} with your followers. {{brandName}}" })
}

/// Decodes quoted-printable soft line breaks so the body can be searched.
fn unfolded(data: &str) -> String {
    data.replace("=\r\n", "").replace("=3D", "=")
}

#[tokio::test]
async fn an_emailed_member_receives_their_code_over_smtp() {
    let (url, inbox) = smtp_server();
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let queued = app
        .ok(
            &shop.brand.admin,
            EMAIL,
            json!({ "ids": [shop.code_membership], "t": template() }),
        )
        .await;
    let email = &queued["emailMembers"]["emails"][0];
    assert_eq!(email["to"], "ana@example.com");
    assert_eq!(email["subject"], "Your Codes code");
    assert_eq!(
        email["body"],
        format!("Hi Ana Rivera, share {} with your followers. Trail Co", shop.promo_code)
    );
    assert_eq!(email["status"], "PENDING");

    let mailer = smtp_mailer(&url, "Trail Co <team@trail.example>");
    let round = email::deliver_due(&app.pool, &mailer, Utc::now()).await.unwrap();
    assert_eq!(round.sent, 1);
    let received = inbox.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].to, ["ana@example.com"]);
    let data = unfolded(&received[0].data);
    assert!(data.contains("Subject: Your Codes code"), "{data}");
    assert!(data.contains(&format!("share {} with", shop.promo_code)), "{data}");
    assert!(
        data.contains("From: \"Trail Co\" <team@trail.example>")
            || data.contains("From: Trail Co <team@trail.example>"),
        "{data}"
    );

    let log = app
        .ok(&shop.brand.analyst, LOG, json!({ "id": shop.code_membership }))
        .await;
    let sent = &log["membership"]["emails"][0];
    assert_eq!(sent["status"], "SENT");
    assert!(sent["sentAt"].is_string());
    assert_eq!(sent["attempts"], json!([{ "succeeded": true, "error": null }]));
    // Nothing is sent twice.
    let round = email::deliver_due(&app.pool, &mailer, Utc::now()).await.unwrap();
    assert_eq!(round, email::Round::default());
    assert_eq!(inbox.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn failed_deliveries_are_logged_and_retried_with_backoff() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let link_template = json!({ "subject": "Your link", "body": "{{memberName}}: {{link}}" });
    app.ok(
        &shop.brand.admin,
        EMAIL,
        json!({ "ids": [shop.link_membership], "t": link_template }),
    )
    .await;
    let down = smtp_mailer(&dead_smtp_url(), "team@trail.example");
    let start = Utc::now();
    let round = email::deliver_due(&app.pool, &down, start).await.unwrap();
    assert_eq!(round.retrying, 1);
    // Not due again until its backoff has passed.
    let round = email::deliver_due(&app.pool, &down, start + chrono::Duration::seconds(10))
        .await
        .unwrap();
    assert_eq!(round, email::Round::default());
    let log = app
        .ok(&shop.brand.admin, LOG, json!({ "id": shop.link_membership }))
        .await;
    let pending = &log["membership"]["emails"][0];
    assert_eq!(pending["status"], "PENDING");
    assert!(pending["nextAttemptAt"].is_string());
    assert_eq!(pending["attempts"][0]["succeeded"], false);
    assert!(pending["attempts"][0]["error"].as_str().is_some_and(|e| !e.is_empty()));

    let (url, inbox) = smtp_server();
    let up = smtp_mailer(&url, "team@trail.example");
    let round = email::deliver_due(&app.pool, &up, start + email::backoff(1))
        .await
        .unwrap();
    assert_eq!(round.sent, 1);
    let data = unfolded(&inbox.lock().unwrap()[0].data);
    assert!(data.contains(&format!("/r/{}", shop.link_code)), "{data}");
    let log = app
        .ok(&shop.brand.admin, LOG, json!({ "id": shop.link_membership }))
        .await;
    let attempts: Vec<bool> = log["membership"]["emails"][0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["succeeded"].as_bool().unwrap())
        .collect();
    assert_eq!(attempts, [false, true]);

    // After the last attempt the message is given up on.
    app.ok(
        &shop.brand.admin,
        EMAIL,
        json!({ "ids": [shop.link_membership], "t": { "subject": "Again", "body": "{{link}}" } }),
    )
    .await;
    let mut at = start;
    for _ in 0..email::MAX_ATTEMPTS {
        at += chrono::Duration::hours(2);
        email::deliver_due(&app.pool, &down, at).await.unwrap();
    }
    let log = app
        .ok(&shop.brand.admin, LOG, json!({ "id": shop.link_membership }))
        .await;
    let given_up = &log["membership"]["emails"][0];
    assert_eq!(given_up["status"], "FAILED");
    assert_eq!(
        given_up["attempts"].as_array().unwrap().len(),
        email::MAX_ATTEMPTS as usize
    );
}

#[tokio::test]
async fn the_server_sends_queued_emails_by_itself() {
    let (url, inbox) = smtp_server();
    let app = TestApp::with_config(sales_tracking::AppConfig {
        mailer: Some(smtp_mailer(&url, "team@trail.example")),
        ..Default::default()
    })
    .await;
    let shop = shop(&app).await;
    app.ok(
        &shop.brand.admin,
        EMAIL,
        json!({ "ids": [shop.code_membership], "t": template() }),
    )
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while inbox.lock().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the email never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(unfolded(&inbox.lock().unwrap()[0].data).contains(&shop.promo_code));
}

#[tokio::test]
async fn bad_email_requests_queue_nothing() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let cases = [
        (
            json!({ "ids": [shop.code_membership], "t": { "subject": "Hi", "body": "{{name}}" } }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "ids": [shop.code_membership], "t": { "subject": "Hi", "body": "{{link}}" } }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "ids": [shop.code_membership], "t": { "subject": "Hi", "body": "{{memberName" } }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "ids": [shop.code_membership], "t": { "subject": "a\nb", "body": "x" } }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "ids": [shop.code_membership], "t": { "subject": "Hi", "body": " " } }),
            "BAD_USER_INPUT",
        ),
        (json!({ "ids": [], "t": template() }), "BAD_USER_INPUT"),
        (
            json!({ "ids": [shop.code_membership, "membership_999999"], "t": template() }),
            "NOT_FOUND",
        ),
    ];
    for (variables, code) in cases {
        assert_eq!(
            app.error_code(Some(&shop.brand.admin), EMAIL, variables.clone()).await,
            code,
            "{variables}"
        );
    }
    let analyst = json!({ "ids": [shop.code_membership], "t": template() });
    assert_eq!(
        app.error_code(Some(&shop.brand.analyst), EMAIL, analyst).await,
        "FORBIDDEN"
    );
    assert_eq!(app.rows("email_outbox").await, 0);
}

#[tokio::test]
async fn a_sender_whose_lease_passed_to_another_records_nothing() {
    let (url, inbox) = smtp_server();
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    app.ok(
        &shop.brand.admin,
        EMAIL,
        json!({ "ids": [shop.code_membership], "t": template() }),
    )
    .await;
    // Sender A claims the message, then stalls past its lease…
    let start = Utc::now();
    let mut conn = app.pool.get().await.unwrap();
    let stale_token = uuid::Uuid::now_v7();
    let claimed =
        sales_tracking::db::emails::claim_due(&mut conn, start, start + chrono::Duration::minutes(1), 10, stale_token)
            .await
            .unwrap();
    assert_eq!(claimed.len(), 1);
    // …so sender B takes it over once the lease lapsed, and sends it.
    let mailer = smtp_mailer(&url, "team@trail.example");
    let later = start + chrono::Duration::minutes(2);
    let round = email::deliver_due(&app.pool, &mailer, later).await.unwrap();
    assert_eq!(round.sent, 1);
    // A wakes up and tries to record its own (say, failed) attempt: refused, nothing changes.
    let stale = sales_tracking::db::emails::Attempt {
        at: later,
        status: sales_tracking::domain::enums::EmailStatus::Pending,
        attempts: 1,
        next_attempt_at: later + chrono::Duration::minutes(1),
        error: Some("timed out".into()),
    };
    let recorded = sales_tracking::db::emails::record_attempt(&mut conn, &claimed[0], stale_token, stale)
        .await
        .unwrap();
    assert!(!recorded, "a lapsed lease records nothing");
    let log = app
        .ok(&shop.brand.analyst, LOG, json!({ "id": shop.code_membership }))
        .await;
    let sent = &log["membership"]["emails"][0];
    assert_eq!(sent["status"], "SENT");
    assert_eq!(sent["attempts"], json!([{ "succeeded": true, "error": null }]));
    assert_eq!(inbox.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_slow_batch_stops_before_its_lease_ends_and_sends_each_message_once() {
    let (url, inbox) = slow_smtp_server(Duration::from_millis(400));
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    for n in 0..10 {
        let template = json!({ "subject": format!("Message {n}"), "body": "Hi {{memberName}}" });
        app.ok(
            &shop.brand.admin,
            EMAIL,
            json!({ "ids": [shop.code_membership], "t": template }),
        )
        .await;
    }
    let mailer = smtp_mailer(&url, "team@trail.example");
    let lease = Duration::from_secs(3);
    let mut now = Utc::now();
    let started = std::time::Instant::now();
    let first = email::deliver_due_within(&app.pool, &mailer, now, lease).await.unwrap();
    assert!(
        started.elapsed() < lease,
        "the round took {:?}, past its lease",
        started.elapsed()
    );
    assert!(first.sent >= 1 && first.left_for_later >= 1, "{first:?}");
    assert_eq!(first.sent + first.left_for_later, 10);
    // What was left comes back once the lease lapses, and nothing goes twice.
    let mut sent = first.sent;
    for _ in 0..10 {
        if sent == 10 {
            break;
        }
        now += chrono::Duration::seconds(4);
        sent += email::deliver_due_within(&app.pool, &mailer, now, lease)
            .await
            .unwrap()
            .sent;
    }
    assert_eq!(sent, 10);
    let mut subjects: Vec<String> = inbox
        .lock()
        .unwrap()
        .iter()
        .filter_map(|m| {
            unfolded(&m.data)
                .lines()
                .find(|l| l.starts_with("Subject: "))
                .map(str::to_string)
        })
        .collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), 10);
    assert_eq!(inbox.lock().unwrap().len(), 10, "each message once");
}
