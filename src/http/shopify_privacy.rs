//! `POST /webhooks/shopify/privacy`: Shopify's mandatory privacy webhooks for the
//! app (`customers/data_request`, `customers/redact`, `shop/redact`), signed with
//! the app's secret like every app webhook; 401 for a bad signature, as Shopify
//! requires.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::error::RestError;
use super::webhooks::{json_body, verify_signature};
use crate::app::shopify::{self, PrivacyOutcome};

pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = shopify::app_webhook_secret(&state.app) else {
        return RestError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "this server has no Shopify app").into_response();
    };
    if let Err(refusal) = verify_signature(Some(secret), &headers, &body) {
        return refusal.into_response();
    }
    let payload = match json_body(&body) {
        Ok(payload) => payload,
        Err(refusal) => return refusal.into_response(),
    };
    let topic = headers
        .get("x-shopify-topic")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match shopify::privacy_request(&state.app, topic, &payload).await {
        Ok(outcome) => {
            let answer = match outcome {
                PrivacyOutcome::UnknownShop => json!({ "status": "unknown_shop" }),
                PrivacyOutcome::DataRequestNoted => json!({ "status": "noted" }),
                PrivacyOutcome::Redacted(clicks) => json!({ "status": "redacted", "clicks": clicks }),
            };
            (StatusCode::OK, axum::Json(answer)).into_response()
        }
        Err(error) => RestError::from(error).into_response(),
    }
}
