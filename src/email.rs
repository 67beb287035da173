//! "Email members their link or promo code": templates, and the sender that
//! delivers the outbox over SMTP.
//!
//! `emailMembers` renders one message per membership into `email_outbox` in its
//! own transaction. The sender claims due messages with a lease (so two senders
//! never send one message at once, and a crashed sender's claims come back),
//! sends each, and logs every attempt. Failures are retried with exponential
//! backoff; permanent SMTP rejections and the last attempt end as `FAILED`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamptz};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::Notify;

use crate::db::schema::{email_attempts, email_outbox};
use crate::db::{DbError, DbPool, DbResult};

/// Attempts before a message is given up on.
pub const MAX_ATTEMPTS: i32 = 6;
/// How long a claimed message stays with its sender before another may take it.
const LEASE: chrono::Duration = chrono::Duration::minutes(5);
/// Messages claimed at once.
const BATCH: i64 = 50;
/// How often the sender looks for due retries when nobody wakes it.
const POLL: Duration = Duration::from_secs(5);

/// The wait before retry number `attempts` (1 after the first failure): 30 s,
/// doubling each time, at most an hour.
pub fn backoff(attempts: i32) -> chrono::Duration {
    let doublings = attempts.clamp(1, 8) - 1;
    chrono::Duration::seconds((30_i64 << doublings).min(3_600))
}

/// What one member's message is filled with.
pub struct TemplateValues<'a> {
    pub member_name: &'a str,
    pub offer_name: &'a str,
    pub brand_name: &'a str,
    pub link: Option<&'a str>,
    pub promo_code: Option<&'a str>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("unknown placeholder {{{{{0}}}}}; use one of memberName, offerName, brandName, link, promoCode")]
    Unknown(String),
    #[error("a {{{{ is not closed by }}}}")]
    Unclosed,
    #[error("{{{{{0}}}}} has no value for {1}")]
    Missing(&'static str, String),
}

/// Fills `{{placeholder}}`s. A placeholder the member has no value for (a link
/// in a promo-code offer) is an error rather than a hole in the message.
pub fn render(template: &str, values: &TemplateValues<'_>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(TemplateError::Unclosed)?;
        let name = after[..end].trim();
        let missing = |which: &'static str| TemplateError::Missing(which, values.member_name.to_string());
        let value = match name {
            "memberName" => values.member_name,
            "offerName" => values.offer_name,
            "brandName" => values.brand_name,
            "link" => values.link.ok_or_else(|| missing("link"))?,
            "promoCode" => values.promo_code.ok_or_else(|| missing("promoCode"))?,
            other => return Err(TemplateError::Unknown(other.to_string())),
        };
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// One rendered message for the outbox.
#[derive(Clone, Debug)]
pub struct NewEmail {
    pub brand_id: i64,
    pub membership_id: i64,
    pub to_address: String,
    pub subject: String,
    pub body: String,
}

/// Queues messages. Call inside the request's transaction.
pub async fn enqueue(conn: &mut AsyncPgConnection, emails: &[NewEmail]) -> DbResult<Vec<EmailRow>> {
    let rows: Vec<_> = emails
        .iter()
        .map(|e| {
            (
                email_outbox::brand_id.eq(e.brand_id),
                email_outbox::membership_id.eq(e.membership_id),
                email_outbox::to_address.eq(&e.to_address),
                email_outbox::subject.eq(&e.subject),
                email_outbox::body.eq(&e.body),
            )
        })
        .collect();
    Ok(diesel::insert_into(email_outbox::table)
        .values(rows)
        .returning(EmailRow::as_returning())
        .get_results(conn)
        .await?)
}

#[derive(Queryable, Selectable, QueryableByName, Clone, Debug)]
#[diesel(table_name = email_outbox, check_for_backend(diesel::pg::Pg))]
pub struct EmailRow {
    pub brand_id: i64,
    pub id: i64,
    pub membership_id: i64,
    pub to_address: String,
    pub subject: String,
    pub body: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = email_attempts, check_for_backend(diesel::pg::Pg))]
pub struct AttemptRow {
    pub brand_id: i64,
    pub id: i64,
    pub outbox_id: i64,
    pub attempted_at: DateTime<Utc>,
    pub succeeded: bool,
    pub error: Option<String>,
}

pub async fn for_memberships(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    membership_ids: &[i64],
) -> DbResult<Vec<EmailRow>> {
    Ok(email_outbox::table
        .filter(
            email_outbox::brand_id
                .eq(brand_id)
                .and(email_outbox::membership_id.eq_any(membership_ids)),
        )
        .order(email_outbox::id.desc())
        .select(EmailRow::as_select())
        .load(conn)
        .await?)
}

pub async fn attempts_for(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    outbox_ids: &[i64],
) -> DbResult<Vec<AttemptRow>> {
    Ok(email_attempts::table
        .filter(
            email_attempts::brand_id
                .eq(brand_id)
                .and(email_attempts::outbox_id.eq_any(outbox_ids)),
        )
        .order(email_attempts::id)
        .select(AttemptRow::as_select())
        .load(conn)
        .await?)
}

/// Where and as whom messages are sent.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

#[derive(Debug, thiserror::Error)]
pub enum MailerConfigError {
    #[error("SMTP URL: {0}")]
    Url(#[from] lettre::transport::smtp::Error),
    #[error("sender address: {0}")]
    From(#[from] lettre::address::AddressError),
}

impl Mailer {
    /// `url` as lettre reads it: `smtp://host:25` (plain), `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS) or `smtps://user:pass@host:465`; `from` like `Brand <team@brand.com>`.
    pub fn new(url: &str, from: &str) -> Result<Self, MailerConfigError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        Ok(Mailer {
            transport,
            from: from.parse()?,
        })
    }
}

/// What one sending round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
}

/// Claims the messages due at `now` and tries each once.
pub async fn deliver_due(pool: &DbPool, mailer: &Mailer, now: DateTime<Utc>) -> DbResult<Round> {
    let mut conn = pool.get().await.map_err(DbError::from)?;
    let claimed: Vec<EmailRow> = diesel::sql_query(
        "UPDATE email_outbox SET next_attempt_at = $2
         WHERE (brand_id, id) IN (
             SELECT brand_id, id FROM email_outbox
             WHERE status = 'PENDING' AND next_attempt_at <= $1
             ORDER BY next_attempt_at LIMIT $3
             FOR UPDATE SKIP LOCKED)
         RETURNING *",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(now + LEASE)
    .bind::<BigInt, _>(BATCH)
    .load(&mut conn)
    .await?;
    let mut round = Round::default();
    for email in claimed {
        let outcome = send(mailer, &email).await;
        let attempts = email.attempts + 1;
        let succeeded = outcome.is_ok();
        let (status, next_attempt_at, error) = match outcome {
            Ok(()) => ("SENT", now, None),
            Err(failure) if failure.permanent || attempts >= MAX_ATTEMPTS => ("FAILED", now, Some(failure.message)),
            Err(failure) => ("PENDING", now + backoff(attempts), Some(failure.message)),
        };
        match status {
            "SENT" => round.sent += 1,
            "FAILED" => round.failed += 1,
            _ => round.retrying += 1,
        }
        if let Some(message) = &error {
            tracing::warn!(email_id = email.id, attempts, %message, "email not delivered");
        }
        conn.transaction::<_, DbError, _>(|conn| {
            async move {
                diesel::update(email_outbox::table.find((email.brand_id, email.id)))
                    .set((
                        email_outbox::status.eq(status),
                        email_outbox::attempts.eq(attempts),
                        email_outbox::next_attempt_at.eq(next_attempt_at),
                        email_outbox::sent_at.eq(succeeded.then_some(now)),
                    ))
                    .execute(conn)
                    .await?;
                diesel::insert_into(email_attempts::table)
                    .values((
                        email_attempts::brand_id.eq(email.brand_id),
                        email_attempts::outbox_id.eq(email.id),
                        email_attempts::attempted_at.eq(now),
                        email_attempts::succeeded.eq(succeeded),
                        email_attempts::error.eq(error),
                    ))
                    .execute(conn)
                    .await?;
                Ok(())
            }
            .scope_boxed()
        })
        .await?;
    }
    Ok(round)
}

struct SendFailure {
    message: String,
    /// The server refused for good (a bad address): retrying cannot help.
    permanent: bool,
}

async fn send(mailer: &Mailer, email: &EmailRow) -> Result<(), SendFailure> {
    let invalid = |message: String| SendFailure {
        message,
        permanent: true,
    };
    let to: Mailbox = email
        .to_address
        .parse()
        .map_err(|e| invalid(format!("recipient {}: {e}", email.to_address)))?;
    let message = Message::builder()
        .from(mailer.from.clone())
        .to(to)
        .subject(&email.subject)
        .body(email.body.clone())
        .map_err(|e| invalid(format!("message: {e}")))?;
    mailer
        .transport
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| SendFailure {
            permanent: e.is_permanent(),
            message: e.to_string(),
        })
}

/// Wakes the sender when messages are queued, so they leave at once.
#[derive(Clone, Default)]
pub struct EmailWake(pub Arc<Notify>);

/// Runs the sender until the process ends: on every wake-up and every few seconds.
pub fn spawn_sender(pool: DbPool, mailer: Mailer, wake: EmailWake) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match deliver_due(&pool, &mailer, Utc::now()).await {
                Ok(round) if round.sent + round.retrying + round.failed > 0 => {
                    tracing::info!(?round, "email round");
                    continue;
                }
                Ok(_) => {}
                Err(error) => tracing::error!(%error, "email round failed"),
            }
            tokio::select! {
                _ = wake.0.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(link: Option<&'static str>, code: Option<&'static str>) -> TemplateValues<'static> {
        TemplateValues {
            member_name: "Ana",
            offer_name: "Spring",
            brand_name: "Trail Co",
            link,
            promo_code: code,
        }
    }

    #[test]
    fn renders_every_placeholder() {
        let text = render(
            "Hi {{memberName}}, {{ brandName }}'s {{offerName}}: {{promoCode}} / {{link}}",
            &values(Some("https://t.example/r/ana"), Some("SPRING-ANA")),
        );
        assert_eq!(
            text.unwrap(),
            "Hi Ana, Trail Co's Spring: SPRING-ANA / https://t.example/r/ana"
        );
    }

    #[test]
    fn refuses_unknown_unclosed_and_missing_placeholders() {
        assert_eq!(
            render("{{name}}", &values(None, None)),
            Err(TemplateError::Unknown("name".into()))
        );
        assert_eq!(
            render("Hi {{memberName", &values(None, None)),
            Err(TemplateError::Unclosed)
        );
        assert_eq!(
            render("{{link}}", &values(None, Some("X"))),
            Err(TemplateError::Missing("link", "Ana".into()))
        );
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let waits: Vec<i64> = (1..=9).map(|n| backoff(n).num_seconds()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }
}
