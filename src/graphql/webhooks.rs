//! Outgoing webhooks, managed by the brand's admins: endpoints that receive the
//! brand's lifecycle events, signed by the Standard Webhooks convention.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::{AdminOnly, app, conn, viewer};
use super::enums::WebhookDeliveryStatus;
use super::error::AppResult;
use super::ids::{decode, encode};
use super::loaders::{EndpointDeliveries, load_one};
use crate::app::webhooks::{self, DeliveryRow, EndpointDraft, EndpointPatch, EndpointRow};
use crate::domain::webhooks::EventType;

/// Where the brand's events are sent: an `https` URL on the public internet.
/// Every delivery is a POST of one event as JSON with the headers `webhook-id`
/// (the event's id: de-duplicate on it), `webhook-timestamp` (Unix seconds) and
/// `webhook-signature` (`v1,` and the base64 HMAC-SHA256 of
/// `{webhook-id}.{webhook-timestamp}.{body}` keyed with the secret), which the
/// Standard Webhooks libraries verify. A delivery not answered 2xx within 10
/// seconds is retried after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h, then
/// marked failed; events about one object arrive in order. An endpoint whose
/// deliveries all fail for 5 days is disabled and its alert address emailed.
pub struct WebhookEndpoint(pub EndpointRow);

#[Object]
impl WebhookEndpoint {
    pub async fn id(&self) -> ID {
        encode(self.0.id)
    }

    async fn url(&self) -> &str {
        &self.0.url
    }

    async fn description(&self) -> &str {
        &self.0.description
    }

    /// The event types it receives, e.g. `conversion.created` (see `webhookEventTypes`).
    async fn events(&self) -> Vec<&str> {
        self.0.events().collect()
    }

    /// Who is emailed when the endpoint is disabled for failing.
    async fn alert_email(&self) -> Option<&str> {
        self.0.alert_email.as_deref()
    }

    /// Whether events are sent to it.
    async fn enabled(&self) -> bool {
        self.0.enabled
    }

    /// Why it was disabled, while it is.
    async fn disabled_reason(&self) -> Option<&str> {
        self.0.disabled_reason.as_deref().filter(|_| !self.0.enabled)
    }

    /// Since when every attempt has failed; null while it answers.
    async fn failing_since(&self) -> Option<DateTime<Utc>> {
        self.0.failing_since
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// Its 20 newest deliveries, newest first.
    async fn recent_deliveries(&self, ctx: &Context<'_>) -> AppResult<Vec<WebhookDelivery>> {
        let rows = load_one::<EndpointDeliveries>(ctx, self.0.id)
            .await?
            .unwrap_or_default();
        Ok(rows.into_iter().map(WebhookDelivery).collect())
    }
}

/// One event's delivery to one endpoint.
pub struct WebhookDelivery(pub DeliveryRow);

#[Object]
impl WebhookDelivery {
    pub async fn id(&self) -> ID {
        encode(self.0.id)
    }

    /// The event's id, as sent in `webhook-id` and the payload's `id`.
    async fn event_id(&self) -> String {
        webhooks::event_id(self.0.event_id)
    }

    /// The event's type, e.g. `conversion.created`.
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }

    async fn status(&self) -> WebhookDeliveryStatus {
        self.0.status.into()
    }

    /// Attempts made so far.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }

    /// The HTTP status of the last answer; null when none came.
    async fn last_status_code(&self) -> Option<i32> {
        self.0.last_status_code
    }

    /// How long the last attempt took, in milliseconds.
    async fn last_duration_ms(&self) -> Option<i32> {
        self.0.last_duration_ms
    }

    /// Why the last attempt failed, with the start of the answer's body.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }

    async fn last_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_attempt_at
    }

    /// When it is tried next, while it is `PENDING`.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0
            .next_attempt_at
            .filter(|_| self.0.status == crate::domain::enums::WebhookDeliveryStatus::Pending)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A new endpoint.
#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    /// An `https` URL on the public internet (at most 2,000 characters).
    pub url: String,
    /// The event types to send, e.g. `["conversion.created", "payment.paid"]`
    /// (the `CONVERSION_CREATED` spelling works too); see `webhookEventTypes`.
    pub events: Vec<String>,
    /// What it is for (at most 500 characters).
    #[graphql(default)]
    pub description: String,
    /// Who to email if it is disabled for failing.
    pub alert_email: Option<String>,
}

/// The result of `createWebhookEndpoint`.
#[derive(SimpleObject)]
pub struct CreateWebhookEndpointPayload {
    pub webhook_endpoint: WebhookEndpoint,
    /// The signing secret (`whsec_…`). Shown only now: store it.
    pub secret: String,
}

/// Changes to an endpoint; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateWebhookEndpointInput {
    pub id: ID,
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    /// Null removes it.
    pub alert_email: MaybeUndefined<String>,
    /// Turns sending on or off; turning it on clears a disabling for failures.
    pub enabled: Option<bool>,
}

#[derive(SimpleObject)]
pub struct WebhookEndpointPayload {
    pub webhook_endpoint: WebhookEndpoint,
}

#[derive(InputObject)]
pub struct DeleteWebhookEndpointInput {
    pub id: ID,
}

#[derive(InputObject)]
pub struct RotateWebhookEndpointSecretInput {
    pub id: ID,
}

/// The result of `rotateWebhookEndpointSecret`.
#[derive(SimpleObject)]
pub struct RotateWebhookEndpointSecretPayload {
    pub webhook_endpoint: WebhookEndpoint,
    /// The new signing secret, which signs from now on. Shown only now: store it.
    pub secret: String,
}

#[derive(InputObject)]
pub struct ReplayWebhookDeliveryInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct ReplayWebhookDeliveryPayload {
    pub webhook_delivery: WebhookDelivery,
}

#[derive(Default)]
pub struct WebhookQueries;

#[Object]
impl WebhookQueries {
    /// The brand's webhook endpoints, oldest first (admins only).
    #[graphql(guard = "AdminOnly")]
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> AppResult<Vec<WebhookEndpoint>> {
        let rows = webhooks::endpoints(&mut *conn(ctx).await?, *viewer(ctx)?).await?;
        Ok(rows.into_iter().map(WebhookEndpoint).collect())
    }

    /// Every event type an endpoint can receive.
    async fn webhook_event_types(&self) -> Vec<&'static str> {
        EventType::ALL.iter().map(|t| t.as_str()).collect()
    }
}

#[derive(Default)]
pub struct WebhookMutations;

#[Object]
impl WebhookMutations {
    /// Registers an endpoint; the payload holds its signing secret, shown this once.
    /// A URL that is not `https`, or resolves to a loopback, private or link-local
    /// address, is refused (`BAD_USER_INPUT`).
    #[graphql(guard = "AdminOnly")]
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookEndpointInput,
    ) -> AppResult<CreateWebhookEndpointPayload> {
        let draft = EndpointDraft {
            url: input.url,
            events: input.events,
            description: input.description,
            alert_email: input.alert_email,
        };
        let client = app(ctx).endpoint_client();
        let row = webhooks::create_endpoint(&mut *conn(ctx).await?, *viewer(ctx)?, client, draft).await?;
        Ok(CreateWebhookEndpointPayload {
            secret: row.secret.clone(),
            webhook_endpoint: WebhookEndpoint(row),
        })
    }

    #[graphql(guard = "AdminOnly")]
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: UpdateWebhookEndpointInput,
    ) -> AppResult<WebhookEndpointPayload> {
        let id = decode(&input.id)?;
        let patch = EndpointPatch {
            url: input.url,
            events: input.events,
            description: input.description,
            alert_email: match input.alert_email {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(email) => Some(Some(email)),
            },
            enabled: input.enabled,
        };
        let client = app(ctx).endpoint_client();
        let row = webhooks::update_endpoint(&mut *conn(ctx).await?, *viewer(ctx)?, client, id, patch).await?;
        Ok(WebhookEndpointPayload {
            webhook_endpoint: WebhookEndpoint(row),
        })
    }

    /// Deletes an endpoint and its delivery log; events still queued for it are dropped.
    #[graphql(guard = "AdminOnly")]
    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: DeleteWebhookEndpointInput,
    ) -> AppResult<WebhookEndpointPayload> {
        let row = webhooks::delete_endpoint(&mut *conn(ctx).await?, *viewer(ctx)?, decode(&input.id)?).await?;
        Ok(WebhookEndpointPayload {
            webhook_endpoint: WebhookEndpoint(row),
        })
    }

    /// Replaces an endpoint's signing secret; the old one signs nothing more.
    #[graphql(guard = "AdminOnly")]
    async fn rotate_webhook_endpoint_secret(
        &self,
        ctx: &Context<'_>,
        input: RotateWebhookEndpointSecretInput,
    ) -> AppResult<RotateWebhookEndpointSecretPayload> {
        let row = webhooks::rotate_secret(&mut *conn(ctx).await?, *viewer(ctx)?, decode(&input.id)?).await?;
        Ok(RotateWebhookEndpointSecretPayload {
            secret: row.secret.clone(),
            webhook_endpoint: WebhookEndpoint(row),
        })
    }

    /// Sends a delivery again now, whether it failed, succeeded or waits for a retry.
    #[graphql(guard = "AdminOnly")]
    async fn replay_webhook_delivery(
        &self,
        ctx: &Context<'_>,
        input: ReplayWebhookDeliveryInput,
    ) -> AppResult<ReplayWebhookDeliveryPayload> {
        let row = webhooks::replay_delivery(&mut *conn(ctx).await?, *viewer(ctx)?, decode(&input.id)?).await?;
        app(ctx).wake(crate::domain::enums::JobKind::WebhookDelivery);
        Ok(ReplayWebhookDeliveryPayload {
            webhook_delivery: WebhookDelivery(row),
        })
    }
}
