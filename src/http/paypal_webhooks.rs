//! `POST /webhooks/paypal`: PayPal's payout events (batch and item outcomes).
//! PayPal is asked to vouch for each one (its verify-webhook-signature call), and
//! an event only tells the server to look at its batch again: what is recorded
//! is read from PayPal, never taken from the event.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::error::RestError;
use crate::app::payments::{self, NotificationOutcome};
use crate::app::ports::Notification;
use crate::domain::enums::PaymentProvider;

pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&state, &headers, &body).await {
        Ok(answer) => (StatusCode::OK, axum::Json(answer)).into_response(),
        Err(refusal) => {
            state.metrics().webhook_failure(match refusal.status {
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
    if state.app.payouts().get(PaymentProvider::Paypal).is_none() {
        return Err(RestError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "PayPal is not configured on this server",
        ));
    }
    // Each event costs a call to PayPal: the same budget as a brand's order webhooks.
    if state.webhook_budget.take("paypal", 1).is_err() {
        return Err(RestError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "THROTTLED",
            "over the webhook rate limit",
        ));
    }
    let notification = Notification {
        headers: headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_string(), value.to_str().ok()?.to_string())))
            .collect(),
        event: super::webhooks::json_body(body)?,
    };
    match payments::receive_notification(&state.app, PaymentProvider::Paypal, &notification).await? {
        NotificationOutcome::Malformed(header) => Err(RestError::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            format!("missing or malformed {header} header"),
        )),
        NotificationOutcome::NotVouched => Err(RestError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "PayPal does not vouch for this event",
        )),
        NotificationOutcome::Ignored => Ok(json!({ "status": "ignored" })),
        NotificationOutcome::Reconciled(payment) => Ok(json!({
            "status": "reconciled",
            "paymentId": payment.id.to_string(),
            "state": payment.state.as_str(),
        })),
    }
}
