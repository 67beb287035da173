//! The email outbox and its delivery attempts.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamptz};
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::{email_attempts, email_outbox};
use super::{DbError, DbResult};
use crate::domain::enums::EmailStatus;
use crate::domain::ids::{BrandId, EmailId, MembershipId, RewardId};

/// One rendered message for the outbox.
#[derive(Clone, Debug)]
pub struct NewEmail {
    pub brand_id: BrandId,
    pub membership_id: MembershipId,
    pub to_address: String,
    pub subject: String,
    pub body: String,
    pub reward_id: Option<RewardId>,
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
                email_outbox::reward_id.eq(e.reward_id),
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
    pub brand_id: BrandId,
    pub id: EmailId,
    pub membership_id: MembershipId,
    pub to_address: String,
    pub subject: String,
    pub body: String,
    pub status: EmailStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// The reward the message announces, if it announces one.
    pub reward_id: Option<RewardId>,
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = email_attempts, check_for_backend(diesel::pg::Pg))]
pub struct AttemptRow {
    pub brand_id: BrandId,
    pub id: EmailId,
    pub outbox_id: EmailId,
    pub attempted_at: DateTime<Utc>,
    pub succeeded: bool,
    pub error: Option<String>,
}

pub async fn for_memberships(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    membership_ids: &[MembershipId],
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
    brand_id: BrandId,
    outbox_ids: &[EmailId],
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

/// Claims up to `batch` pending messages due at `now` until `lease_until` under
/// `lease_token`; a claim skips rows another sender holds, and a lapsed lease makes
/// a message due again (to be claimed under another token).
pub async fn claim_due(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    batch: i64,
    lease_token: Uuid,
) -> DbResult<Vec<EmailRow>> {
    Ok(diesel::sql_query(
        "UPDATE email_outbox SET next_attempt_at = $2, lease_token = $4
         WHERE (brand_id, id) IN (
             SELECT brand_id, id FROM email_outbox
             WHERE status = 'PENDING' AND next_attempt_at <= $1
             ORDER BY next_attempt_at LIMIT $3
             FOR UPDATE SKIP LOCKED)
         RETURNING *",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(lease_until)
    .bind::<BigInt, _>(batch)
    .bind::<diesel::sql_types::Uuid, _>(lease_token)
    .load(conn)
    .await?)
}

/// How one delivery attempt ended, as stored.
pub struct Attempt {
    pub at: DateTime<Utc>,
    pub status: EmailStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub error: Option<String>,
}

/// Stores an attempt on the message and in its log, together, if `lease_token`
/// still holds the message; false (and nothing stored) when its lease passed to
/// another sender.
pub async fn record_attempt(
    conn: &mut AsyncPgConnection,
    email: &EmailRow,
    lease_token: Uuid,
    attempt: Attempt,
) -> DbResult<bool> {
    let succeeded = attempt.error.is_none();
    conn.transaction::<_, DbError, _>(|conn| {
        async move {
            let held = email_outbox::table
                .find((email.brand_id, email.id))
                .filter(email_outbox::lease_token.eq(lease_token))
                .filter(email_outbox::status.eq(EmailStatus::Pending.as_str()));
            let updated = diesel::update(held)
                .set((
                    email_outbox::status.eq(attempt.status.as_str()),
                    email_outbox::attempts.eq(attempt.attempts),
                    email_outbox::next_attempt_at.eq(attempt.next_attempt_at),
                    email_outbox::sent_at.eq(succeeded.then_some(attempt.at)),
                    email_outbox::lease_token.eq(None::<Uuid>),
                ))
                .execute(conn)
                .await?;
            if updated == 0 {
                return Ok(false);
            }
            diesel::insert_into(email_attempts::table)
                .values((
                    email_attempts::brand_id.eq(email.brand_id),
                    email_attempts::outbox_id.eq(email.id),
                    email_attempts::attempted_at.eq(attempt.at),
                    email_attempts::succeeded.eq(succeeded),
                    email_attempts::error.eq(attempt.error),
                ))
                .execute(conn)
                .await?;
            Ok(true)
        }
        .scope_boxed()
    })
    .await
}
