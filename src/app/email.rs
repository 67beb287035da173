//! "Email members their link or promo code": one message per membership goes
//! into the outbox with the request that asked for it; the sender delivers the
//! outbox over SMTP.
//!
//! The sender claims due messages with a lease (so two senders never send one
//! message at once, and a crashed sender's claims come back), sends each, and
//! logs every attempt. A batch never outlives its lease: no send starts with less
//! than a quarter of the lease left, each send is cut off before the lease ends,
//! and the final update only lands while the claim's token still holds the
//! message (a sender paused past its lease records nothing). Failures are
//! retried with exponential backoff; permanent SMTP rejections and the last
//! attempt end as `FAILED`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use diesel_async::AsyncPgConnection;
use diesel_async::scoped_futures::ScopedFutureExt;

use super::audit::audited;
use super::jobs::{Handler, Job, Lease, Outcome};
use super::members::memberships_of;
pub use super::ports::Mailer;
use super::ports::SendFailure;
use super::{AppError, AppResult, Caller};
use crate::db::emails::{self, Attempt, EmailRow, NewEmail};
use crate::db::models::MembershipRow;
use crate::db::{DbError, DbPool, DbResult, brands, members, memberships, offers};
pub use crate::domain::email::{MAX_ATTEMPTS, backoff};
use crate::domain::email::{TemplateError, TemplateValues, render};
use crate::domain::enums::{EmailStatus, JobKind};
use crate::domain::ids::{BrandId, MemberId, MembershipId, OfferId};
use crate::domain::reward::{RewardSpec, default_message};

/// How long a claimed message stays with its sender before another may take it.
pub const LEASE: Duration = Duration::from_secs(5 * 60);
/// Messages claimed at once.
const BATCH: i64 = 50;
/// How often the outbox is looked at for due retries when nobody wakes it.
const POLL: Duration = Duration::from_secs(5);

/// A message to members, with `{{placeholder}}`s filled per member.
#[derive(Clone, Debug)]
pub struct Template {
    pub subject: String,
    pub body: String,
}

impl Template {
    /// A one-line subject of 1 to 200 characters and a body of 1 to 20,000 (trimmed subject).
    pub fn checked(self) -> AppResult<Template> {
        let subject = self.subject.trim().to_string();
        if subject.is_empty() || subject.len() > 200 || subject.contains(['\r', '\n']) {
            return Err(AppError::bad_input("subject must be one line of 1 to 200 characters"));
        }
        if self.body.trim().is_empty() || self.body.len() > 20_000 {
            return Err(AppError::bad_input("body must be 1 to 20000 characters"));
        }
        Ok(Template {
            subject,
            body: self.body,
        })
    }
}

/// Queues one message per membership from `template`, with the request's audit
/// event; `public_url` starts the members' tracking links. Wake the sender after.
pub async fn email_members(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    public_url: &str,
    membership_ids: Vec<MembershipId>,
    template: Template,
    details: serde_json::Value,
) -> AppResult<Vec<EmailRow>> {
    let Template { subject, body } = template.checked()?;
    let base_url = public_url.trim_end_matches('/').to_string();
    audited(conn, caller, "emailMembers", details, move |conn, caller| {
        async move {
            let ids = membership_ids;
            let rows = memberships_of(conn, caller.brand_id, &ids).await?;
            if rows.iter().any(|m| m.removed_at.is_some()) {
                return Err(AppError::bad_input("removed members cannot be emailed about the offer"));
            }
            let brand = brands::find(conn, caller.brand_id).await?;
            let offer_ids: Vec<OfferId> = rows.iter().map(|m| m.offer_id).collect();
            let member_ids: Vec<MemberId> = rows.iter().map(|m| m.member_id).collect();
            let offers = offers::by_ids(conn, caller.brand_id, &offer_ids).await?;
            let people = members::by_ids(conn, caller.brand_id, &member_ids).await?;
            let codes = memberships::current_promo_codes(conn, caller.brand_id, &ids).await?;
            let mut emails = Vec::with_capacity(rows.len());
            for row in &rows {
                let offer = offers
                    .iter()
                    .find(|o| o.id == row.offer_id)
                    .ok_or(AppError::NotFound("offer"))?;
                let member = people
                    .iter()
                    .find(|p| p.id == row.member_id)
                    .ok_or(AppError::NotFound("member"))?;
                let link = row.link_code.as_ref().map(|code| format!("{base_url}/r/{code}"));
                let values = TemplateValues {
                    member_name: &member.name,
                    offer_name: &offer.name,
                    brand_name: &brand.name,
                    link: link.as_deref(),
                    promo_code: codes.get(&row.id).map(String::as_str),
                    discount_code: None,
                    reward_description: None,
                };
                let fill = |text: &str| render(text, &values).map_err(|e| AppError::bad_input(e.to_string()));
                emails.push(NewEmail {
                    brand_id: caller.brand_id,
                    membership_id: row.id,
                    to_address: member.email.clone(),
                    subject: fill(&subject)?,
                    body: fill(&body)?,
                    reward_id: None,
                });
            }
            Ok(emails::enqueue(conn, &emails).await?)
        }
        .scope_boxed()
    })
    .await
}

/// The message announcing a non-cash reward to its member (`None` for a cash
/// bonus): `custom` when given, else the default for the reward's kind. Reward
/// messages know no `{{link}}`: they are written where no public address is known.
pub async fn reward_email(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    membership: &MembershipRow,
    reward: &RewardSpec,
    custom: Option<&Template>,
) -> DbResult<Option<Result<NewEmail, TemplateError>>> {
    let Some((default_subject, default_body)) = default_message(reward.kind) else {
        return Ok(None);
    };
    let (subject, body) = custom.map_or((default_subject, default_body), |t| {
        (t.subject.as_str(), t.body.as_str())
    });
    let brand = brands::find(conn, brand_id).await?;
    let offer = offers::find(conn, brand_id, membership.offer_id)
        .await?
        .ok_or(DbError::NotFound)?;
    let member = members::find(conn, brand_id, membership.member_id)
        .await?
        .ok_or(DbError::NotFound)?;
    let codes = memberships::current_promo_codes(conn, brand_id, &[membership.id]).await?;
    let values = TemplateValues {
        member_name: &member.name,
        offer_name: &offer.name,
        brand_name: &brand.name,
        link: None,
        promo_code: codes.get(&membership.id).map(String::as_str),
        discount_code: reward.discount_code.as_deref(),
        reward_description: Some(reward.description.as_str()).filter(|d| !d.is_empty()),
    };
    let rendered = render(subject, &values).and_then(|subject| Ok((subject, render(body, &values)?)));
    Ok(Some(rendered.map(|(subject, body)| NewEmail {
        brand_id,
        membership_id: membership.id,
        to_address: member.email.clone(),
        subject,
        body,
        reward_id: None,
    })))
}

/// What one sending round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
    /// Claimed but not tried before the lease ran short: due again when it lapses.
    pub left_for_later: usize,
}

/// Claims the messages due at `now` and tries each once.
pub async fn deliver_due(pool: &DbPool, mailer: &Mailer, now: DateTime<Utc>) -> DbResult<Round> {
    deliver_due_within(pool, mailer, now, LEASE).await
}

/// `deliver_due` with a lease of `lease`: what is not sent in time is left to
/// come back when the lease lapses.
pub async fn deliver_due_within(
    pool: &DbPool,
    mailer: &Mailer,
    now: DateTime<Utc>,
    lease: Duration,
) -> DbResult<Round> {
    let started = tokio::time::Instant::now();
    // A fifth of the lease is kept for the final update; a send needs a quarter.
    let deadline = started + lease * 4 / 5;
    let least_for_a_send = lease / 4;
    let mut conn = pool.get().await.map_err(DbError::from)?;
    let token = Uuid::now_v7();
    let lease_until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
    let claimed = emails::claim_due(&mut conn, now, lease_until, BATCH, token).await?;
    let mut round = Round::default();
    for email in claimed {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left < least_for_a_send {
            round.left_for_later += 1;
            continue;
        }
        let send = mailer.send(&email.to_address, &email.subject, &email.body);
        let outcome = match tokio::time::timeout(left, send).await {
            Ok(outcome) => outcome,
            Err(_) => Err(SendFailure {
                message: "the SMTP server did not answer within the lease".into(),
                permanent: false,
            }),
        };
        let attempts = email.attempts + 1;
        let (status, next_attempt_at, error) = match outcome {
            Ok(()) => (EmailStatus::Sent, now, None),
            Err(failure) if failure.permanent || attempts >= MAX_ATTEMPTS => {
                (EmailStatus::Failed, now, Some(failure.message))
            }
            Err(failure) => (EmailStatus::Pending, now + backoff(attempts), Some(failure.message)),
        };
        match status {
            EmailStatus::Sent => round.sent += 1,
            EmailStatus::Failed => round.failed += 1,
            EmailStatus::Pending => round.retrying += 1,
        }
        if let Some(message) = &error {
            tracing::warn!(email_id = %email.id, attempts, %message, "email not delivered");
        }
        let attempt = Attempt {
            at: now,
            status,
            attempts,
            next_attempt_at,
            error,
        };
        if !emails::record_attempt(&mut conn, &email, token, attempt).await? {
            tracing::warn!(email_id = %email.id, "email lease lost before its attempt was recorded");
        }
    }
    Ok(round)
}

/// The recurring job that sends the outbox: every few seconds, and at once when
/// messages are queued (`JobRunner::wake`). A round sends until nothing is due.
pub struct OutboxJob {
    pub pool: DbPool,
    pub mailer: Mailer,
}

#[async_trait::async_trait]
impl Handler for OutboxJob {
    fn kind(&self) -> JobKind {
        JobKind::EmailOutbox
    }

    fn every(&self) -> Option<Duration> {
        Some(POLL)
    }

    async fn run(&self, job: &Job, _: &Lease) -> Outcome {
        loop {
            match deliver_due(&self.pool, &self.mailer, Utc::now()).await {
                Ok(round) if round.sent + round.retrying + round.failed > 0 => {
                    tracing::info!(?round, "email round");
                }
                Ok(_) => return Outcome::Done,
                Err(error) => {
                    return Outcome::Retry {
                        after: super::jobs::backoff(job.attempts),
                        error: error.to_string(),
                    };
                }
            }
        }
    }
}
