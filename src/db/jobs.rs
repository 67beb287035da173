//! The job queue: rows leased by one server at a time under a token.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Interval, Text, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::DbResult;
use super::schema::jobs;
use crate::domain::enums::{JobKind, JobStatus};
use crate::domain::ids::{BrandId, JobId, WebhookDeliveryId};

#[derive(Queryable, Selectable, QueryableByName, Clone, Debug)]
#[diesel(table_name = jobs, check_for_backend(diesel::pg::Pg))]
pub struct JobRow {
    pub id: JobId,
    pub kind: JobKind,
    pub brand_id: Option<BrandId>,
    pub delivery_id: Option<WebhookDeliveryId>,
    pub payload: serde_json::Value,
    pub attempts: i32,
    pub lease_token: Option<Uuid>,
    /// When it was due as claimed: a later `run_at` means it was woken while it ran.
    pub run_at: DateTime<Utc>,
}

/// A one-off job to insert.
pub struct NewJob {
    pub kind: JobKind,
    pub brand_id: Option<BrandId>,
    pub delivery_id: Option<WebhookDeliveryId>,
    pub ordering_key: Option<String>,
    pub payload: serde_json::Value,
}

pub async fn insert(conn: &mut AsyncPgConnection, new: &NewJob) -> DbResult<()> {
    diesel::insert_into(jobs::table)
        .values((
            jobs::kind.eq(new.kind),
            jobs::brand_id.eq(new.brand_id),
            jobs::delivery_id.eq(new.delivery_id),
            jobs::ordering_key.eq(&new.ordering_key),
            jobs::payload.eq(&new.payload),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Makes sure a recurring kind has its one row (due now when it is new).
pub async fn ensure_recurring(conn: &mut AsyncPgConnection, kind: JobKind) -> DbResult<()> {
    diesel::sql_query(
        "INSERT INTO jobs (kind, recurring) VALUES ($1, true)
         ON CONFLICT (kind) WHERE recurring DO NOTHING",
    )
    .bind::<Text, _>(kind)
    .execute(conn)
    .await?;
    Ok(())
}

/// Makes a recurring kind due now (someone queued work for it).
pub async fn run_recurring_now(conn: &mut AsyncPgConnection, kind: JobKind) -> DbResult<()> {
    diesel::update(jobs::table.filter(jobs::kind.eq(kind).and(jobs::recurring)))
        .set(jobs::run_at.eq(diesel::dsl::now))
        .execute(conn)
        .await?;
    Ok(())
}

/// Leases up to `limit` due jobs of `kind` for `lease` under `token`. A job whose
/// lease lapsed is due again; a job waits while an earlier one with its ordering
/// key is queued (running, or waiting for a retry).
pub async fn claim(
    conn: &mut AsyncPgConnection,
    kind: JobKind,
    limit: i64,
    lease: std::time::Duration,
    token: Uuid,
) -> DbResult<Vec<JobRow>> {
    Ok(diesel::sql_query(
        "UPDATE jobs SET lease_token = $3, leased_until = now() + $4, attempts = jobs.attempts + 1
         FROM (SELECT j.id FROM jobs j
               WHERE j.kind = $1 AND j.status = 'QUEUED' AND j.run_at <= now()
                 AND (j.leased_until IS NULL OR j.leased_until < now())
                 AND (j.ordering_key IS NULL OR NOT EXISTS (
                     SELECT 1 FROM jobs e
                     WHERE e.ordering_key = j.ordering_key AND e.status = 'QUEUED' AND e.id < j.id))
               ORDER BY j.run_at, j.id LIMIT $2
               FOR UPDATE SKIP LOCKED) due
         WHERE jobs.id = due.id
         RETURNING jobs.id, jobs.kind, jobs.brand_id, jobs.delivery_id, jobs.payload,
                   jobs.attempts, jobs.lease_token, jobs.run_at",
    )
    .bind::<Text, _>(kind)
    .bind::<BigInt, _>(limit)
    .bind::<SqlUuid, _>(token)
    .bind::<Interval, _>(interval(lease))
    .load(conn)
    .await?)
}

fn interval(duration: std::time::Duration) -> diesel::pg::data_types::PgInterval {
    diesel::pg::data_types::PgInterval::from_microseconds(i64::try_from(duration.as_micros()).unwrap_or(i64::MAX))
}

/// The lease still held by `token`, as a filter: a holder whose lease lapsed and
/// was taken over changes nothing.
macro_rules! leased {
    ($job:expr, $token:expr) => {
        jobs::table.filter(jobs::id.eq($job).and(jobs::lease_token.eq($token)))
    };
}

/// Extends a held lease by `lease` from now (a running job's heartbeat). False
/// when the lease was lost: another server may be running the job.
pub async fn extend(
    conn: &mut AsyncPgConnection,
    job: JobId,
    token: Uuid,
    lease: std::time::Duration,
) -> DbResult<bool> {
    Ok(diesel::update(leased!(job, token))
        .set(
            jobs::leased_until
                .eq((diesel::dsl::now.into_sql::<diesel::sql_types::Timestamptz>() + interval(lease)).nullable()),
        )
        .execute(conn)
        .await?
        == 1)
}

/// A one-off job done: removed. False when the lease was lost.
pub async fn complete(conn: &mut AsyncPgConnection, job: JobId, token: Uuid) -> DbResult<bool> {
    Ok(diesel::delete(leased!(job, token)).execute(conn).await? == 1)
}

/// Runs the job again at `run_at` (a retry, or a recurring job's next round).
/// `reset_attempts` starts the count again (a recurring job that succeeded).
pub async fn reschedule(
    conn: &mut AsyncPgConnection,
    job: &JobRow,
    token: Uuid,
    run_at: DateTime<Utc>,
    error: Option<&str>,
    reset_attempts: bool,
) -> DbResult<bool> {
    let attempts = if reset_attempts {
        diesel::dsl::sql::<diesel::sql_types::Integer>("0")
    } else {
        diesel::dsl::sql::<diesel::sql_types::Integer>("attempts")
    };
    // Woken while it ran (`run_at` moved past the claimed one): it stays due then.
    let next = diesel::dsl::sql::<diesel::sql_types::Timestamptz>("CASE WHEN run_at > ")
        .bind::<diesel::sql_types::Timestamptz, _>(job.run_at)
        .sql(" THEN run_at ELSE ")
        .bind::<diesel::sql_types::Timestamptz, _>(run_at)
        .sql(" END");
    Ok(diesel::update(leased!(job.id, token))
        .set((
            jobs::run_at.eq(next),
            jobs::lease_token.eq(None::<Uuid>),
            jobs::leased_until.eq(None::<DateTime<Utc>>),
            jobs::last_error.eq(error),
            jobs::attempts.eq(attempts),
        ))
        .execute(conn)
        .await?
        == 1)
}

/// Out of attempts: kept as `FAILED` (counted in the metrics) with its last error.
pub async fn fail(conn: &mut AsyncPgConnection, job: JobId, token: Uuid, error: &str) -> DbResult<bool> {
    Ok(diesel::update(leased!(job, token))
        .set((
            jobs::status.eq(JobStatus::Failed),
            jobs::lease_token.eq(None::<Uuid>),
            jobs::leased_until.eq(None::<DateTime<Utc>>),
            jobs::last_error.eq(error),
        ))
        .execute(conn)
        .await?
        == 1)
}

/// Hands a leased job back at shutdown, due at once for any server; the attempt
/// cut short does not count. False when the lease was lost.
pub async fn release(conn: &mut AsyncPgConnection, job: JobId, token: Uuid) -> DbResult<bool> {
    Ok(diesel::update(leased!(job, token))
        .set((
            jobs::lease_token.eq(None::<Uuid>),
            jobs::leased_until.eq(None::<DateTime<Utc>>),
            jobs::attempts.eq(jobs::attempts - 1),
        ))
        .execute(conn)
        .await?
        == 1)
}

/// What `/metrics` shows of one kind.
#[derive(QueryableByName, Clone, Debug)]
pub struct KindStats {
    #[diesel(sql_type = Text)]
    pub kind: JobKind,
    #[diesel(sql_type = BigInt)]
    pub queued: i64,
    #[diesel(sql_type = BigInt)]
    pub running: i64,
    #[diesel(sql_type = BigInt)]
    pub failed: i64,
    /// Seconds the oldest due job has waited (0 when none is due).
    #[diesel(sql_type = diesel::sql_types::Double)]
    pub oldest_seconds: f64,
}

pub async fn stats(conn: &mut AsyncPgConnection) -> DbResult<Vec<KindStats>> {
    Ok(diesel::sql_query(
        "SELECT kind,
                count(*) FILTER (WHERE status = 'QUEUED' AND (leased_until IS NULL OR leased_until < now())) AS queued,
                count(*) FILTER (WHERE status = 'QUEUED' AND leased_until >= now()) AS running,
                count(*) FILTER (WHERE status = 'FAILED') AS failed,
                COALESCE(extract(epoch FROM now() - min(run_at) FILTER (
                    WHERE status = 'QUEUED' AND run_at <= now())), 0)::float8 AS oldest_seconds
         FROM jobs GROUP BY kind",
    )
    .load(conn)
    .await?)
}
