//! Outgoing webhooks: brands' endpoints, the events written with the changes they
//! report, and each event's delivery to each subscribed endpoint.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::DbResult;
use super::cached::cached_statement;
use super::schema::{event_deliveries, webhook_endpoints};
use crate::domain::enums::WebhookDeliveryStatus;
use crate::domain::ids::{BrandId, JobId, WebhookDeliveryId, WebhookEndpointId};

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = webhook_endpoints, check_for_backend(diesel::pg::Pg))]
pub struct EndpointRow {
    pub brand_id: BrandId,
    pub id: WebhookEndpointId,
    pub url: String,
    pub description: String,
    pub event_types: Vec<Option<String>>,
    pub secret: String,
    pub alert_email: Option<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl EndpointRow {
    /// The event types it subscribes to.
    pub fn events(&self) -> impl Iterator<Item = &str> {
        self.event_types.iter().flatten().map(String::as_str)
    }
}

/// An endpoint's settings as written.
pub struct EndpointFields<'a> {
    pub url: &'a str,
    pub description: &'a str,
    pub event_types: &'a [&'a str],
    pub alert_email: Option<&'a str>,
}

pub async fn create_endpoint(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    fields: EndpointFields<'_>,
    secret: &str,
) -> DbResult<EndpointRow> {
    Ok(diesel::insert_into(webhook_endpoints::table)
        .values((
            webhook_endpoints::brand_id.eq(brand_id),
            webhook_endpoints::url.eq(fields.url),
            webhook_endpoints::description.eq(fields.description),
            webhook_endpoints::event_types.eq(fields.event_types),
            webhook_endpoints::alert_email.eq(fields.alert_email),
            webhook_endpoints::secret.eq(secret),
        ))
        .returning(EndpointRow::as_returning())
        .get_result(conn)
        .await?)
}

/// Rewrites an endpoint's settings; `enabled` true also clears a disabling.
pub async fn update_endpoint(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    id: WebhookEndpointId,
    fields: EndpointFields<'_>,
    enabled: bool,
) -> DbResult<EndpointRow> {
    let reason: Option<&str> = if enabled { None } else { Some("disabled by an admin") };
    Ok(diesel::update(endpoint(brand_id, id))
        .set((
            webhook_endpoints::url.eq(fields.url),
            webhook_endpoints::description.eq(fields.description),
            webhook_endpoints::event_types.eq(fields.event_types),
            webhook_endpoints::alert_email.eq(fields.alert_email),
            webhook_endpoints::enabled.eq(enabled),
            webhook_endpoints::disabled_reason.eq(reason),
            webhook_endpoints::failing_since.eq(None::<DateTime<Utc>>),
            webhook_endpoints::updated_at.eq(diesel::dsl::now),
        ))
        .returning(EndpointRow::as_returning())
        .get_result(conn)
        .await?)
}

/// One endpoint of one brand, as a filter.
type OneEndpoint = diesel::dsl::Filter<
    webhook_endpoints::table,
    diesel::dsl::And<
        diesel::dsl::Eq<webhook_endpoints::brand_id, BrandId>,
        diesel::dsl::Eq<webhook_endpoints::id, WebhookEndpointId>,
    >,
>;

fn endpoint(brand_id: BrandId, id: WebhookEndpointId) -> OneEndpoint {
    webhook_endpoints::table.filter(
        webhook_endpoints::brand_id
            .eq(brand_id)
            .and(webhook_endpoints::id.eq(id)),
    )
}

pub async fn set_secret(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    id: WebhookEndpointId,
    secret: &str,
) -> DbResult<EndpointRow> {
    Ok(diesel::update(endpoint(brand_id, id))
        .set((
            webhook_endpoints::secret.eq(secret),
            webhook_endpoints::updated_at.eq(diesel::dsl::now),
        ))
        .returning(EndpointRow::as_returning())
        .get_result(conn)
        .await?)
}

/// Deletes an endpoint with its deliveries (their queued jobs then find nothing to send).
pub async fn delete_endpoint(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    id: WebhookEndpointId,
) -> DbResult<EndpointRow> {
    Ok(diesel::delete(endpoint(brand_id, id))
        .returning(EndpointRow::as_returning())
        .get_result(conn)
        .await?)
}

pub async fn endpoints(conn: &mut AsyncPgConnection, brand_id: BrandId) -> DbResult<Vec<EndpointRow>> {
    Ok(webhook_endpoints::table
        .filter(webhook_endpoints::brand_id.eq(brand_id))
        .order(webhook_endpoints::id)
        .select(EndpointRow::as_select())
        .load(conn)
        .await?)
}

/// An event to write with the change it reports.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub brand_id: BrandId,
    pub id: Uuid,
    pub event_type: &'static str,
    pub object_id: String,
    /// The JSON body to send.
    pub payload: String,
}

/// Writes `events`, in order, when an endpoint of their brand is subscribed to
/// their type (an event nobody wants is not written); their deliveries are queued
/// by `dispatch` once the change has committed, so the change's transaction writes
/// one row per event whatever the number of endpoints. The statement is sent at
/// once (so it can share a round trip with others).
pub fn publish(
    conn: &mut AsyncPgConnection,
    events: Vec<NewEvent>,
) -> impl Future<Output = DbResult<usize>> + Send + 'static {
    let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    let brands: Vec<BrandId> = events.iter().map(|e| e.brand_id).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type).collect();
    let objects: Vec<String> = events.iter().map(|e| e.object_id.clone()).collect();
    let payloads: Vec<String> = events.into_iter().map(|e| e.payload).collect();
    let statement = PublishEvents {
        ids,
        brands,
        types,
        objects,
        payloads,
    }
    .execute(conn);
    async move { Ok(statement.await?) }
}

cached_statement! {
    /// The statement of [`publish`], in every transaction that changes an order.
    struct PublishEvents<'a> = "INSERT INTO events (id, brand_id, event_type, object_id, payload)
         SELECT e.id, e.brand_id, e.event_type, e.object_id, e.payload
         FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::text[])
             WITH ORDINALITY AS e (id, brand_id, event_type, object_id, payload, position)
         WHERE EXISTS (
             SELECT 1 FROM webhook_endpoints w
             WHERE w.brand_id = e.brand_id AND w.enabled AND e.event_type = ANY (w.event_types))
         ORDER BY e.position"; {
        ids: Array<SqlUuid> => Vec<Uuid>,
        brands: Array<BigInt> => Vec<BrandId>,
        types: Array<Text> => Vec<&'a str>,
        objects: Array<Text> => Vec<String>,
        payloads: Array<Text> => Vec<String>,
    }
}

/// The event types the enabled endpoints of `brands` subscribe to, as (brand,
/// type): what a change need not build events for is left out before it is built
/// (the events' insert checks again). The statement is made at once, so it shares a
/// round trip with the statement polled beside it.
pub fn subscriptions<'a>(
    conn: &mut AsyncPgConnection,
    brands: &'a [BrandId],
) -> impl Future<Output = DbResult<Vec<(BrandId, String)>>> + Send + 'a {
    #[derive(QueryableByName)]
    struct Subscription {
        #[diesel(sql_type = BigInt)]
        brand_id: BrandId,
        #[diesel(sql_type = Text)]
        event_type: String,
    }
    let statement = Subscriptions { brands }.load::<Subscription>(conn);
    async move {
        Ok(statement
            .await?
            .into_iter()
            .map(|s| (s.brand_id, s.event_type))
            .collect())
    }
}

cached_statement! {
    /// The statement of [`subscriptions`], in every order group.
    struct Subscriptions<'a> = "SELECT DISTINCT w.brand_id, t.event_type
         FROM webhook_endpoints w CROSS JOIN LATERAL unnest(w.event_types) AS t (event_type)
         WHERE w.brand_id = ANY($1) AND w.enabled AND t.event_type IS NOT NULL"; {
        brands: Array<BigInt> => &'a [BrandId],
    }
}

/// Queues a delivery and its job for each endpoint subscribed to each of the
/// oldest `limit` events not dispatched yet, in the order they were written, and
/// marks them dispatched; returns how many events it took. Events of one object
/// are written one transaction after the other, so this order is theirs.
pub async fn dispatch(conn: &mut AsyncPgConnection, limit: i64) -> DbResult<usize> {
    #[derive(QueryableByName)]
    struct Taken {
        #[diesel(sql_type = BigInt)]
        taken: i64,
    }
    let taken: Taken = diesel::sql_query(
        "WITH batch AS (
             SELECT brand_id, id, event_type, object_id, seq FROM events
             WHERE NOT dispatched ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED),
         marked AS (
             UPDATE events e SET dispatched = true FROM batch b WHERE e.brand_id = b.brand_id AND e.id = b.id),
         targets AS (
             SELECT b.id AS event_id, b.brand_id, b.object_id, b.seq, w.id AS endpoint_id
             FROM batch b
             JOIN webhook_endpoints w ON w.brand_id = b.brand_id AND w.enabled AND b.event_type = ANY (w.event_types)),
         deliveries AS (
             INSERT INTO event_deliveries (brand_id, endpoint_id, event_id, next_attempt_at)
             SELECT brand_id, endpoint_id, event_id, now() FROM targets ORDER BY seq, endpoint_id
             RETURNING brand_id, id, endpoint_id, event_id),
         jobs_queued AS (
             INSERT INTO jobs (kind, brand_id, delivery_id, ordering_key)
             SELECT 'WEBHOOK_DELIVERY', d.brand_id, d.id, d.endpoint_id || '/' || t.object_id
             FROM deliveries d
             JOIN targets t ON t.brand_id = d.brand_id AND t.event_id = d.event_id AND t.endpoint_id = d.endpoint_id
             ORDER BY t.seq, d.endpoint_id)
         SELECT count(*) AS taken FROM batch",
    )
    .bind::<BigInt, _>(limit)
    .get_result(conn)
    .await?;
    Ok(usize::try_from(taken.taken).unwrap_or_default())
}

/// One delivery with what sending it needs.
#[derive(QueryableByName, Clone, Debug)]
pub struct Sending {
    #[diesel(sql_type = BigInt)]
    pub brand_id: BrandId,
    #[diesel(sql_type = BigInt)]
    pub id: WebhookDeliveryId,
    #[diesel(sql_type = BigInt)]
    pub endpoint_id: WebhookEndpointId,
    #[diesel(sql_type = Text)]
    pub url: String,
    #[diesel(sql_type = Text)]
    pub secret: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    pub enabled: bool,
    #[diesel(sql_type = Nullable<Text>)]
    pub alert_email: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub failing_since: Option<DateTime<Utc>>,
    #[diesel(sql_type = SqlUuid)]
    pub event_id: Uuid,
    #[diesel(sql_type = Text)]
    pub event_type: String,
    #[diesel(sql_type = Text)]
    pub payload: String,
}

pub async fn sending(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    id: WebhookDeliveryId,
) -> DbResult<Option<Sending>> {
    Ok(diesel::sql_query(
        "SELECT d.brand_id, d.id, d.endpoint_id, w.url, w.secret, w.enabled, w.alert_email, w.failing_since,
                e.id AS event_id, e.event_type, e.payload
         FROM event_deliveries d
         JOIN webhook_endpoints w ON w.brand_id = d.brand_id AND w.id = d.endpoint_id
         JOIN events e ON e.brand_id = d.brand_id AND e.id = d.event_id
         WHERE d.brand_id = $1 AND d.id = $2",
    )
    .bind::<BigInt, _>(brand_id)
    .bind::<BigInt, _>(id)
    .get_result(conn)
    .await
    .optional()?)
}

/// How one attempt went.
pub struct AttemptRecord<'a> {
    pub status: WebhookDeliveryStatus,
    /// False when nothing was sent (the endpoint was disabled).
    pub attempted: bool,
    pub status_code: Option<i32>,
    pub duration_ms: i32,
    pub error: Option<&'a str>,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// Records an attempt while job `job` is still leased under `token` (a sender
/// whose lease was taken over records nothing). On a failure, marks the endpoint
/// failing since now unless it already was, and disables it once it has failed for
/// `disable_after`; returns true when this attempt disabled it.
pub async fn record_attempt(
    conn: &mut AsyncPgConnection,
    sending: &Sending,
    job: (JobId, Uuid),
    attempt: AttemptRecord<'_>,
    disable_after: std::time::Duration,
) -> DbResult<bool> {
    let recorded = diesel::sql_query(
        "UPDATE event_deliveries SET status = $3, attempts = attempts + $4::int, last_status_code = $5, last_duration_ms = $6,
                last_error = $7, last_attempt_at = now(), next_attempt_at = $8
         WHERE brand_id = $1 AND id = $2
           AND EXISTS (SELECT 1 FROM jobs WHERE id = $9 AND lease_token = $10)",
    )
    .bind::<BigInt, _>(sending.brand_id)
    .bind::<BigInt, _>(sending.id)
    .bind::<Text, _>(attempt.status)
    .bind::<Integer, _>(i32::from(attempt.attempted))
    .bind::<Nullable<Integer>, _>(attempt.status_code)
    .bind::<Integer, _>(attempt.duration_ms)
    .bind::<Nullable<Text>, _>(attempt.error)
    .bind::<Nullable<Timestamptz>, _>(attempt.next_attempt_at)
    .bind::<BigInt, _>(job.0)
    .bind::<SqlUuid, _>(job.1)
    .execute(conn)
    .await?;
    if recorded == 0 {
        return Ok(false);
    }
    let endpoint = endpoint(sending.brand_id, sending.endpoint_id);
    if attempt.status == WebhookDeliveryStatus::Succeeded {
        // Most answers come from an endpoint that was not failing: nothing to clear.
        if sending.failing_since.is_none() {
            return Ok(false);
        }
        diesel::update(endpoint)
            .set(webhook_endpoints::failing_since.eq(None::<DateTime<Utc>>))
            .execute(conn)
            .await?;
        return Ok(false);
    }
    let disabled = diesel::sql_query(
        "UPDATE webhook_endpoints SET
             failing_since = COALESCE(failing_since, now()),
             enabled = enabled AND NOT COALESCE(failing_since <= now() - $3, false),
             disabled_reason = CASE WHEN enabled AND COALESCE(failing_since <= now() - $3, false)
                 THEN 'every delivery failed for ' || $4 ELSE disabled_reason END
         WHERE brand_id = $1 AND id = $2
         RETURNING enabled",
    )
    .bind::<BigInt, _>(sending.brand_id)
    .bind::<BigInt, _>(sending.endpoint_id)
    .bind::<diesel::sql_types::Interval, _>(diesel::pg::data_types::PgInterval::from_microseconds(
        i64::try_from(disable_after.as_micros()).unwrap_or(i64::MAX),
    ))
    .bind::<Text, _>(humanize(disable_after))
    .get_results::<StillEnabled>(conn)
    .await?;
    Ok(sending.enabled && disabled.into_iter().next().is_some_and(|e| !e.enabled))
}

#[derive(QueryableByName)]
struct StillEnabled {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    enabled: bool,
}

fn humanize(duration: std::time::Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        s if s >= 86_400 && s % 86_400 == 0 => format!("{} days", s / 86_400),
        s if s >= 3_600 && s % 3_600 == 0 => format!("{} hours", s / 3_600),
        s => format!("{s} seconds"),
    }
}

/// A delivery as listed under its endpoint.
#[derive(QueryableByName, Clone, Debug)]
pub struct DeliveryRow {
    #[diesel(sql_type = BigInt)]
    pub brand_id: BrandId,
    #[diesel(sql_type = BigInt)]
    pub id: WebhookDeliveryId,
    #[diesel(sql_type = BigInt)]
    pub endpoint_id: WebhookEndpointId,
    #[diesel(sql_type = SqlUuid)]
    pub event_id: Uuid,
    #[diesel(sql_type = Text)]
    pub event_type: String,
    #[diesel(sql_type = Text)]
    pub status: WebhookDeliveryStatus,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = Nullable<Integer>)]
    pub last_status_code: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub last_duration_ms: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub last_attempt_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

const DELIVERY_COLUMNS: &str = "d.brand_id, d.id, d.endpoint_id, d.event_id, e.event_type, d.status,
    d.attempts, d.last_status_code, d.last_duration_ms, d.last_error, d.last_attempt_at, d.next_attempt_at, d.created_at";

/// The newest `per_endpoint` deliveries of each endpoint, newest first.
pub async fn recent_deliveries(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    endpoint_ids: &[WebhookEndpointId],
    per_endpoint: i64,
) -> DbResult<Vec<DeliveryRow>> {
    Ok(diesel::sql_query(format!(
        "SELECT {DELIVERY_COLUMNS}
         FROM unnest($2::bigint[]) AS w (id)
         CROSS JOIN LATERAL (
             SELECT * FROM event_deliveries d0
             WHERE d0.brand_id = $1 AND d0.endpoint_id = w.id ORDER BY d0.id DESC LIMIT $3) d
         JOIN events e ON e.brand_id = d.brand_id AND e.id = d.event_id
         ORDER BY d.endpoint_id, d.id DESC"
    ))
    .bind::<BigInt, _>(brand_id)
    .bind::<Array<BigInt>, _>(endpoint_ids.to_vec())
    .bind::<BigInt, _>(per_endpoint)
    .load(conn)
    .await?)
}

/// Endpoints by id (`node`, and one endpoint by its id).
pub async fn endpoints_by_id(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    ids: &[WebhookEndpointId],
) -> DbResult<Vec<EndpointRow>> {
    Ok(webhook_endpoints::table
        .filter(
            webhook_endpoints::brand_id
                .eq(brand_id)
                .and(webhook_endpoints::id.eq_any(ids)),
        )
        .select(EndpointRow::as_select())
        .load(conn)
        .await?)
}

/// Deliveries by id (`node`, and one delivery by its id).
pub async fn deliveries_by_id(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    ids: &[WebhookDeliveryId],
) -> DbResult<Vec<DeliveryRow>> {
    Ok(diesel::sql_query(format!(
        "SELECT {DELIVERY_COLUMNS} FROM event_deliveries d
         JOIN events e ON e.brand_id = d.brand_id AND e.id = d.event_id
         WHERE d.brand_id = $1 AND d.id = ANY ($2)"
    ))
    .bind::<BigInt, _>(brand_id)
    .bind::<Array<BigInt>, _>(ids.to_vec())
    .load(conn)
    .await?)
}

/// Sends a delivery again: its waiting or failed job runs now from a fresh count,
/// or a new job is queued when it had none left (it had succeeded).
pub async fn replay(conn: &mut AsyncPgConnection, brand_id: BrandId, id: WebhookDeliveryId) -> DbResult<()> {
    diesel::update(
        event_deliveries::table.filter(event_deliveries::brand_id.eq(brand_id).and(event_deliveries::id.eq(id))),
    )
    .set((
        event_deliveries::status.eq(WebhookDeliveryStatus::Pending),
        event_deliveries::next_attempt_at.eq(diesel::dsl::now),
    ))
    .execute(conn)
    .await?;
    // A job waiting for its retry runs now; one that is running (or failed for
    // good) is left to end as it will, and a new job sends the event again.
    diesel::sql_query(
        "WITH revived AS (
             UPDATE jobs SET run_at = now(), attempts = 0, last_error = NULL
             WHERE kind = 'WEBHOOK_DELIVERY' AND brand_id = $1 AND delivery_id = $2 AND status = 'QUEUED'
               AND (leased_until IS NULL OR leased_until < now())
             RETURNING id),
         forgotten AS (
             DELETE FROM jobs
             WHERE kind = 'WEBHOOK_DELIVERY' AND brand_id = $1 AND delivery_id = $2 AND status = 'FAILED')
         INSERT INTO jobs (kind, brand_id, delivery_id)
         SELECT 'WEBHOOK_DELIVERY', $1, $2 WHERE NOT EXISTS (SELECT 1 FROM revived)",
    )
    .bind::<BigInt, _>(brand_id)
    .bind::<BigInt, _>(id)
    .execute(conn)
    .await?;
    Ok(())
}
