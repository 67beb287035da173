//! Outgoing webhooks: admins register endpoints; lifecycle events (`app::events`)
//! become one delivery per subscribed endpoint, each a job of the runner, signed
//! by the Standard Webhooks convention and retried on the reference schedule
//! until about a day has passed. An endpoint failing every attempt for days is
//! disabled and its alert address told.

use std::sync::Arc;
use std::time::Duration;

use diesel_async::AsyncPgConnection;
use diesel_async::scoped_futures::ScopedFutureExt;

use super::audit::audited;
use super::jobs::{Handler, Job, Lease, Outcome};
use super::ports::{EndpointClient, Message, Targets};
use super::{AppError, AppResult, Caller};
use crate::db::jobs::{self as job_rows, NewJob};
use crate::db::webhooks::{self as rows, AttemptRecord, EndpointFields, Sending};
use crate::db::{DbError, DbPool};
use crate::domain::enums::{JobKind, WebhookDeliveryStatus};
use crate::domain::ids::{WebhookDeliveryId, WebhookEndpointId};
use crate::domain::validate;
use crate::domain::webhooks::{DISABLE_AFTER, EventType, RETRY_SCHEDULE, new_secret};

pub use super::records::{DeliveryRow, EndpointRow};

/// Deliveries listed under each endpoint.
pub const RECENT_DELIVERIES: i64 = 20;
/// Endpoints one brand may have.
const MAX_ENDPOINTS: usize = 20;
/// Deliveries sent at once by one server.
const CONCURRENT_DELIVERIES: usize = 16;

/// How deliveries are made.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    pub targets: Targets,
    /// Waits after each failed attempt; the delivery fails after the last.
    pub retry_schedule: Vec<Duration>,
    /// How long an endpoint failing every attempt stays enabled.
    pub disable_after: Duration,
    /// One attempt's limit, answer included.
    pub timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            targets: Targets::PublicOnly,
            retry_schedule: RETRY_SCHEDULE.to_vec(),
            disable_after: DISABLE_AFTER,
            timeout: Duration::from_secs(10),
        }
    }
}

/// An endpoint as an admin writes it.
#[derive(Clone, Debug, Default)]
pub struct EndpointDraft {
    pub url: String,
    pub events: Vec<String>,
    pub description: String,
    pub alert_email: Option<String>,
}

/// Changes to an endpoint; what is None stays.
#[derive(Clone, Debug, Default)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub alert_email: Option<Option<String>>,
    pub enabled: Option<bool>,
}

/// An endpoint's settings, checked.
struct Checked {
    url: String,
    events: Vec<&'static str>,
    description: String,
    alert_email: Option<String>,
}

impl Checked {
    fn fields(&self) -> EndpointFields<'_> {
        EndpointFields {
            url: &self.url,
            description: &self.description,
            event_types: &self.events,
            alert_email: self.alert_email.as_deref(),
        }
    }
}

async fn check(draft: EndpointDraft, client: &dyn EndpointClient) -> AppResult<Checked> {
    let url = draft.url.trim();
    if url.len() > 2000 {
        return Err(AppError::bad_input("url must be at most 2000 characters"));
    }
    let url = client
        .check_target(url)
        .await
        .map_err(|e| AppError::bad_input(e.to_string()))?
        .to_string();
    if draft.events.is_empty() {
        return Err(AppError::bad_input("events must name at least one event type"));
    }
    let mut events = Vec::with_capacity(draft.events.len());
    for name in &draft.events {
        let event = EventType::parse(name).ok_or_else(|| {
            let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            AppError::bad_input(format!("'{name}' is not an event type; known: {}", known.join(", ")))
        })?;
        if !events.contains(&event.as_str()) {
            events.push(event.as_str());
        }
    }
    let description = draft.description.trim().to_string();
    if description.chars().count() > 500 {
        return Err(AppError::bad_input("description must be at most 500 characters"));
    }
    let alert_email = draft
        .alert_email
        .filter(|e| !e.trim().is_empty())
        .map(|e| validate::email("alertEmail", &e))
        .transpose()
        .map_err(AppError::BadUserInput)?;
    Ok(Checked {
        url,
        events,
        description,
        alert_email,
    })
}

/// A new endpoint and its secret (shown this once).
pub async fn create_endpoint(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    client: &dyn EndpointClient,
    draft: EndpointDraft,
) -> AppResult<EndpointRow> {
    let checked = check(draft, client).await?;
    let details = serde_json::json!({ "url": checked.url, "events": checked.events });
    audited(conn, caller, "createWebhookEndpoint", details, move |conn, caller| {
        async move {
            if rows::endpoints(conn, caller.brand_id).await?.len() >= MAX_ENDPOINTS {
                return Err(AppError::bad_input(format!(
                    "a brand has at most {MAX_ENDPOINTS} webhook endpoints; delete one first"
                )));
            }
            Ok(rows::create_endpoint(conn, caller.brand_id, checked.fields(), &new_secret()).await?)
        }
        .scope_boxed()
    })
    .await
}

pub async fn update_endpoint(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    client: &dyn EndpointClient,
    id: WebhookEndpointId,
    patch: EndpointPatch,
) -> AppResult<EndpointRow> {
    let current = find_endpoint(conn, caller, id).await?;
    let draft = EndpointDraft {
        url: patch.url.clone().unwrap_or(current.url.clone()),
        events: patch
            .events
            .clone()
            .unwrap_or_else(|| current.events().map(str::to_string).collect()),
        description: patch.description.clone().unwrap_or(current.description.clone()),
        alert_email: patch.alert_email.clone().unwrap_or(current.alert_email.clone()),
    };
    let checked = check(draft, client).await?;
    let enabled = patch.enabled.unwrap_or(current.enabled);
    let details = serde_json::json!({
        "webhookEndpointId": id.to_string(),
        "url": checked.url,
        "events": checked.events,
        "enabled": enabled,
    });
    audited(conn, caller, "updateWebhookEndpoint", details, move |conn, caller| {
        async move { Ok(rows::update_endpoint(conn, caller.brand_id, id, checked.fields(), enabled).await?) }
            .scope_boxed()
    })
    .await
}

pub async fn delete_endpoint(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    id: WebhookEndpointId,
) -> AppResult<EndpointRow> {
    let details = serde_json::json!({ "webhookEndpointId": id.to_string() });
    audited(conn, caller, "deleteWebhookEndpoint", details, move |conn, caller| {
        async move { not_found(rows::delete_endpoint(conn, caller.brand_id, id).await) }.scope_boxed()
    })
    .await
}

/// A new secret for an endpoint (shown this once); the old one stops signing at once.
pub async fn rotate_secret(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    id: WebhookEndpointId,
) -> AppResult<EndpointRow> {
    let details = serde_json::json!({ "webhookEndpointId": id.to_string() });
    audited(
        conn,
        caller,
        "rotateWebhookEndpointSecret",
        details,
        move |conn, caller| {
            async move { not_found(rows::set_secret(conn, caller.brand_id, id, &new_secret()).await) }.scope_boxed()
        },
    )
    .await
}

fn not_found(found: Result<EndpointRow, DbError>) -> AppResult<EndpointRow> {
    match found {
        Err(DbError::NotFound) => Err(AppError::NotFound("webhook endpoint")),
        other => Ok(other?),
    }
}

pub async fn find_endpoint(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    id: WebhookEndpointId,
) -> AppResult<EndpointRow> {
    rows::endpoints_by_id(conn, caller.brand_id, &[id])
        .await?
        .pop()
        .ok_or(AppError::NotFound("webhook endpoint"))
}

pub async fn endpoints(conn: &mut AsyncPgConnection, caller: Caller) -> AppResult<Vec<EndpointRow>> {
    Ok(rows::endpoints(conn, caller.brand_id).await?)
}

/// Sends a delivery again now, whatever became of it.
pub async fn replay_delivery(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    id: WebhookDeliveryId,
) -> AppResult<DeliveryRow> {
    let details = serde_json::json!({ "webhookDeliveryId": id.to_string() });
    audited(conn, caller, "replayWebhookDelivery", details, move |conn, caller| {
        async move {
            rows::deliveries_by_id(conn, caller.brand_id, &[id])
                .await?
                .pop()
                .ok_or(AppError::NotFound("webhook delivery"))?;
            rows::replay(conn, caller.brand_id, id).await?;
            rows::deliveries_by_id(conn, caller.brand_id, &[id])
                .await?
                .pop()
                .ok_or(AppError::NotFound("webhook delivery"))
        }
        .scope_boxed()
    })
    .await
}

/// Sends deliveries: one job per event and endpoint.
pub struct DeliveryJob {
    pub pool: DbPool,
    pub client: Arc<dyn EndpointClient>,
    pub settings: WebhookSettings,
}

impl DeliveryJob {
    async fn deliver(&self, job: &Job, lease: &Lease) -> Result<Outcome, DbError> {
        let (Some(brand_id), Some(delivery_id)) = (job.brand_id, job.delivery_id) else {
            return Ok(Outcome::Failed("a delivery job names no delivery".into()));
        };
        let mut conn = self.pool.get().await.map_err(DbError::from)?;
        let Some(sending) = rows::sending(&mut conn, brand_id, delivery_id).await? else {
            // Its endpoint was deleted.
            return Ok(Outcome::Done);
        };
        let job_lease = (lease.job_id, lease.token);
        if !sending.enabled {
            let record = AttemptRecord {
                status: WebhookDeliveryStatus::Failed,
                attempted: false,
                status_code: None,
                duration_ms: 0,
                error: Some("the endpoint is disabled"),
                next_attempt_at: None,
            };
            rows::record_attempt(&mut conn, &sending, job_lease, record, self.settings.disable_after).await?;
            return Ok(Outcome::Done);
        }
        // The connection is not held while the endpoint takes its time.
        drop(conn);
        let body = sending.payload.as_bytes();
        let message_id = event_id(sending.event_id);
        let answer = self
            .client
            .send(Message {
                url: &sending.url,
                secret: &sending.secret,
                id: &message_id,
                body,
            })
            .await;
        let retry_after = usize::try_from(job.attempts - 1)
            .ok()
            .and_then(|i| self.settings.retry_schedule.get(i))
            .copied();
        let (status, outcome, next_attempt_at) = match (&answer.error, retry_after) {
            (None, _) => (WebhookDeliveryStatus::Succeeded, Outcome::Done, None),
            (Some(error), Some(after)) => (
                WebhookDeliveryStatus::Pending,
                Outcome::Retry {
                    after,
                    error: error.clone(),
                },
                Some(chrono::Utc::now() + after),
            ),
            (Some(error), None) => (WebhookDeliveryStatus::Failed, Outcome::Failed(error.clone()), None),
        };
        let record = AttemptRecord {
            status,
            attempted: true,
            status_code: answer.status.map(i32::from),
            duration_ms: i32::try_from(answer.took.as_millis()).unwrap_or(i32::MAX),
            error: answer.error.as_deref(),
            next_attempt_at,
        };
        let mut conn = self.pool.get().await.map_err(DbError::from)?;
        let disabled =
            rows::record_attempt(&mut conn, &sending, job_lease, record, self.settings.disable_after).await?;
        if disabled {
            tracing::warn!(endpoint_id = %sending.endpoint_id, url = %sending.url, "webhook endpoint disabled after failing for days");
            alert_disabled(&mut conn, &sending, &self.settings).await?;
        }
        Ok(outcome)
    }
}

/// The id receivers see in `webhook-id` and the payload: `evt_` and the event's UUID.
pub fn event_id(id: uuid::Uuid) -> String {
    format!("evt_{}", id.simple())
}

/// Queues the email telling the endpoint's alert address it was disabled.
async fn alert_disabled(
    conn: &mut AsyncPgConnection,
    sending: &Sending,
    settings: &WebhookSettings,
) -> Result<(), DbError> {
    let Some(to) = &sending.alert_email else {
        return Ok(());
    };
    let days = settings.disable_after.as_secs_f64() / 86_400.0;
    let body = format!(
        "Every delivery to your webhook endpoint {url} ({id}) has failed for {days:.1} days, so it was disabled.\n\n\
         Events are no longer sent to it. Fix the endpoint, enable it again in Settings > Webhooks, and replay \
         the deliveries it missed.",
        url = sending.url,
        id = sending.endpoint_id,
    );
    let job = NewJob {
        kind: JobKind::AlertEmail,
        brand_id: Some(sending.brand_id),
        delivery_id: None,
        ordering_key: None,
        payload: serde_json::json!({
            "to": to,
            "subject": "Your Sales Tracking webhook endpoint was disabled",
            "body": body,
        }),
    };
    job_rows::insert(conn, &job).await
}

#[async_trait::async_trait]
impl Handler for DeliveryJob {
    fn kind(&self) -> JobKind {
        JobKind::WebhookDelivery
    }

    fn concurrency(&self) -> usize {
        CONCURRENT_DELIVERIES
    }

    async fn run(&self, job: &Job, lease: &Lease) -> Outcome {
        match self.deliver(job, lease).await {
            Ok(outcome) => outcome,
            Err(error) => Outcome::Retry {
                after: super::jobs::backoff(job.attempts),
                error: error.to_string(),
            },
        }
    }
}

/// Events dispatched per statement.
const DISPATCH_BATCH: i64 = 1_000;

/// Queues the deliveries of events just written (`db::webhooks::dispatch`), out of
/// the transactions that wrote them: a recurring job, run every `every`.
pub struct DispatchJob {
    pub pool: DbPool,
    pub every: Duration,
    /// Told when deliveries were queued, so they leave at once.
    pub runner: super::jobs::JobRunner,
}

#[async_trait::async_trait]
impl Handler for DispatchJob {
    fn kind(&self) -> JobKind {
        JobKind::EventDispatch
    }

    fn every(&self) -> Option<Duration> {
        Some(self.every)
    }

    async fn run(&self, job: &Job, _: &Lease) -> Outcome {
        let mut conn = match self.pool.get().await {
            Ok(conn) => conn,
            Err(error) => {
                return Outcome::Retry {
                    after: super::jobs::backoff(job.attempts),
                    error: error.to_string(),
                };
            }
        };
        loop {
            match rows::dispatch(&mut conn, DISPATCH_BATCH).await {
                Ok(taken) => {
                    if taken > 0 {
                        self.runner.wake(JobKind::WebhookDelivery);
                    }
                    if taken < DISPATCH_BATCH as usize {
                        return Outcome::Done;
                    }
                }
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

/// Sends an alert email queued by a job (an endpoint disabled).
pub struct AlertEmailJob {
    pub mailer: super::ports::Mailer,
}

#[async_trait::async_trait]
impl Handler for AlertEmailJob {
    fn kind(&self) -> JobKind {
        JobKind::AlertEmail
    }

    async fn run(&self, job: &Job, _: &Lease) -> Outcome {
        let field = |name: &str| job.payload.get(name).and_then(|v| v.as_str()).unwrap_or_default();
        match self.mailer.send(field("to"), field("subject"), field("body")).await {
            Ok(()) => Outcome::Done,
            Err(failure) if failure.permanent || job.attempts >= crate::domain::email::MAX_ATTEMPTS => {
                Outcome::Failed(failure.message)
            }
            Err(failure) => Outcome::Retry {
                after: super::jobs::backoff(job.attempts),
                error: failure.message,
            },
        }
    }
}
