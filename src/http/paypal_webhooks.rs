//! `POST /webhooks/paypal`: PayPal's payout events (batch and item outcomes).
//! PayPal is asked to vouch for each one (its verify-webhook-signature call), and
//! an event only tells the server to look at its batch again: what is recorded
//! is read from PayPal, never taken from the event.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use super::AppState;
use super::error::RestError;
use crate::app::payments;
use crate::domain::enums::PaymentProvider;
use crate::providers::paypal::{WebhookHeaders, webhook_batch_id};

pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&state, &headers, &body).await {
        Ok(answer) => (StatusCode::OK, axum::Json(answer)).into_response(),
        Err(refusal) => {
            state.metrics.webhook_failure(match refusal.status {
                StatusCode::UNAUTHORIZED => "signature",
                StatusCode::BAD_REQUEST => "bad_request",
                StatusCode::NOT_FOUND => "not_found",
                StatusCode::TOO_MANY_REQUESTS => "throttled",
                _ => "internal",
            });
            refusal.into_response()
        }
    }
}

async fn handle(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Value, RestError> {
    let bad = |message: &str| RestError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message);
    let providers = &state.surface.providers;
    let paypal = providers.paypal().ok_or_else(|| {
        RestError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "PayPal is not configured on this server",
        )
    })?;
    // Each event costs a call to PayPal: the same budget as a brand's order webhooks.
    if state.webhook_budget.take("paypal", 1).is_err() {
        return Err(RestError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "THROTTLED",
            "over the webhook rate limit",
        ));
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 2_048)
            .map(str::to_string)
            .ok_or_else(|| bad(&format!("missing or malformed {name} header")))
    };
    let transmission = WebhookHeaders {
        auth_algo: header("paypal-auth-algo")?,
        cert_url: header("paypal-cert-url")?,
        transmission_id: header("paypal-transmission-id")?,
        transmission_sig: header("paypal-transmission-sig")?,
        transmission_time: header("paypal-transmission-time")?,
    };
    let event = super::webhooks::json_body(body)?;
    let unavailable = |error: anyhow::Error| {
        tracing::error!(%error, "checking a PayPal webhook failed");
        RestError::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", "try again shortly")
    };
    if !paypal
        .verify_webhook(&transmission, &event)
        .await
        .map_err(unavailable)?
    {
        return Err(RestError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "PayPal does not vouch for this event",
        ));
    }
    let Some(batch_id) = webhook_batch_id(&event) else {
        return Ok(json!({ "status": "ignored" }));
    };
    match payments::batch_changed(
        &state.tracking_pool,
        providers,
        PaymentProvider::Paypal,
        batch_id,
        Utc::now(),
    )
    .await
    {
        Ok(Some(payment)) => Ok(json!({
            "status": "reconciled",
            "paymentId": payment.id.to_string(),
            "state": payment.state.as_str(),
        })),
        Ok(None) => Ok(json!({ "status": "ignored" })),
        Err(error) => Err(RestError::from(error)),
    }
}
