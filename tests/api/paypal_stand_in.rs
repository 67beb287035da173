//! A local stand-in of PayPal's REST API, following its documented requests and
//! answers: OAuth2 client credentials, `POST /v1/payments/payouts` (a used
//! sender_batch_id is refused with a link to the original batch), `GET
//! /v1/payments/payouts/{id}` (paged) and webhook signature checks. Switches make
//! it fail the way PayPal can: a 5xx after creating the batch, a create or token
//! request that never answers, a denied batch, items that stay pending.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};

pub const CLIENT_ID: &str = "stand-in-client";
pub const CLIENT_SECRET: &str = "stand-in-secret";
pub const TOKEN: &str = "A21AAStandInToken";
pub const GOOD_SIGNATURE: &str = "good-signature";

#[derive(Clone, Debug)]
pub struct Item {
    pub payout_item_id: String,
    pub sender_item_id: String,
    pub receiver: String,
    pub amount: String,
    pub currency: String,
    pub status: String,
}

#[derive(Clone, Debug)]
pub struct Batch {
    pub payout_batch_id: String,
    pub sender_batch_id: String,
    pub status: String,
    pub items: Vec<Item>,
}

#[derive(Default)]
pub struct StandIn {
    pub base_url: Mutex<String>,
    pub batches: Mutex<Vec<Batch>>,
    pub create_calls: AtomicUsize,
    /// The next creates store the batch, then answer 500.
    pub fail_next_creates: AtomicUsize,
    /// Creates store the batch, then never answer.
    pub hang_creates: AtomicBool,
    /// Token requests never answer (so no payout request is ever made).
    pub hang_tokens: AtomicBool,
    /// Status requests never answer.
    pub hang_shows: AtomicBool,
    pub token_calls: AtomicUsize,
    pub show_calls: AtomicUsize,
    /// The next batch is denied as a whole.
    pub deny_next: AtomicBool,
    /// New items stay PENDING until `release`.
    pub hold_items: AtomicBool,
}

impl StandIn {
    pub fn batches(&self) -> Vec<Batch> {
        self.batches.lock().unwrap().clone()
    }

    /// Gives pending items the outcome their receiver asks for.
    pub fn release(&self) {
        for batch in self.batches.lock().unwrap().iter_mut() {
            for item in &mut batch.items {
                if item.status == "PENDING" {
                    item.status = outcome_for(&item.receiver).to_string();
                }
            }
            if batch.status == "PENDING" {
                batch.status = "SUCCESS".into();
            }
        }
    }
}

/// A receiver's outcome: `fail…` fails, `blocked…` is blocked, `unclaimed…` waits, the rest succeed.
fn outcome_for(receiver: &str) -> &'static str {
    if receiver.starts_with("fail") {
        "FAILED"
    } else if receiver.starts_with("blocked") {
        "BLOCKED"
    } else if receiver.starts_with("unclaimed") {
        "UNCLAIMED"
    } else {
        "SUCCESS"
    }
}

/// Starts the stand-in on a free port; returns its base URL and its state.
pub async fn start() -> (String, Arc<StandIn>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(StandIn::default());
    *state.base_url.lock().unwrap() = url.clone();
    let app = axum::Router::new()
        .route("/v1/oauth2/token", post(token))
        .route("/v1/payments/payouts", post(create))
        .route("/v1/payments/payouts/{id}", get(show))
        .route("/v1/notifications/verify-webhook-signature", post(verify))
        .with_state(state.clone());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, state)
}

fn error(status: StatusCode, name: &str, message: &str) -> Response {
    (
        status,
        Json(json!({ "name": name, "message": message, "debug_id": "standin0001" })),
    )
        .into_response()
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

async fn token(State(state): State<Arc<StandIn>>, headers: HeaderMap, body: String) -> Response {
    state.token_calls.fetch_add(1, Ordering::SeqCst);
    if state.hang_tokens.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "invalid_client", "error_description": "Client Authentication failed" })),
        )
            .into_response();
    }
    if body != "grant_type=client_credentials" {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "unsupported_grant_type" })),
        )
            .into_response();
    }
    Json(json!({
        "scope": "https://uri.paypal.com/services/payments/payouts",
        "access_token": TOKEN,
        "token_type": "Bearer",
        "app_id": "APP-STANDIN",
        "expires_in": 32400,
        "nonce": "standin",
    }))
    .into_response()
}

async fn create(State(state): State<Arc<StandIn>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if !authorized(&headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "AUTHENTICATION_FAILURE",
            "Authentication failed due to invalid authentication credentials or a missing Authorization header.",
        );
    }
    state.create_calls.fetch_add(1, Ordering::SeqCst);
    let Some(sender_batch_id) = body["sender_batch_header"]["sender_batch_id"].as_str() else {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "Invalid request - see details",
        );
    };
    let base = state.base_url.lock().unwrap().clone();
    let existing = state
        .batches
        .lock()
        .unwrap()
        .iter()
        .find(|b| b.sender_batch_id == sender_batch_id)
        .map(|b| b.payout_batch_id.clone());
    if let Some(original) = existing {
        // PayPal: "the API rejects the request with an error message that shows the
        // duplicate sender_batch_id and includes a HATEOAS link to the original payout".
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "name": "USER_BUSINESS_ERROR",
                "message": format!("Batch with given sender_batch_id already exists: {sender_batch_id}"),
                "debug_id": "standin0002",
                "details": [{ "field": "sender_batch_id", "location": "body", "issue": "Batch with given sender_batch_id already exists" }],
                "links": [{ "href": format!("{base}/v1/payments/payouts/{original}"), "rel": "self", "method": "GET", "encType": "application/json" }],
            })),
        )
            .into_response();
    }
    let denied = state.deny_next.swap(false, Ordering::SeqCst);
    let hold = state.hold_items.load(Ordering::SeqCst);
    let number = state.batches.lock().unwrap().len() + 1;
    let payout_batch_id = format!("STANDINBATCH{number:04}");
    let items: Vec<Item> = body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(n, item)| {
            let receiver = item["receiver"].as_str().unwrap_or_default().to_string();
            let status = if denied {
                "DENIED"
            } else if hold {
                "PENDING"
            } else {
                outcome_for(&receiver)
            };
            Item {
                payout_item_id: format!("STANDINITEM{number:04}{n:05}"),
                sender_item_id: item["sender_item_id"].as_str().unwrap_or_default().to_string(),
                receiver,
                amount: item["amount"]["value"].as_str().unwrap_or_default().to_string(),
                currency: item["amount"]["currency"].as_str().unwrap_or_default().to_string(),
                status: status.to_string(),
            }
        })
        .collect();
    let status = if denied {
        "DENIED"
    } else if hold {
        "PENDING"
    } else {
        "SUCCESS"
    };
    state.batches.lock().unwrap().push(Batch {
        payout_batch_id: payout_batch_id.clone(),
        sender_batch_id: sender_batch_id.to_string(),
        status: status.to_string(),
        items,
    });
    if state
        .fail_next_creates
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVICE_ERROR",
            "An internal service error has occurred.",
        );
    }
    if state.hang_creates.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    (
        StatusCode::CREATED,
        Json(json!({
            "batch_header": {
                "payout_batch_id": payout_batch_id,
                "batch_status": if denied { "DENIED" } else { "PENDING" },
                "sender_batch_header": body["sender_batch_header"],
            },
            "links": [{ "href": format!("{base}/v1/payments/payouts/{payout_batch_id}"), "rel": "self", "method": "GET" }],
        })),
    )
        .into_response()
}

async fn show(
    State(state): State<Arc<StandIn>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if !authorized(&headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "AUTHENTICATION_FAILURE",
            "Authentication failed.",
        );
    }
    state.show_calls.fetch_add(1, Ordering::SeqCst);
    if state.hang_shows.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let Some(batch) = state
        .batches
        .lock()
        .unwrap()
        .iter()
        .find(|b| b.payout_batch_id == id)
        .cloned()
    else {
        return error(
            StatusCode::NOT_FOUND,
            "INVALID_RESOURCE_ID",
            "Requested resource ID was not found.",
        );
    };
    let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let page_size: usize = query
        .get("page_size")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1000)
        .clamp(1, 1000);
    let total_pages = batch.items.len().div_ceil(page_size).max(1);
    let items: Vec<Value> = batch
        .items
        .iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .map(|item| {
            json!({
                "payout_item_id": item.payout_item_id,
                "transaction_status": item.status,
                "payout_batch_id": batch.payout_batch_id,
                "payout_item": {
                    "recipient_type": if item.receiver.contains('@') { "EMAIL" } else { "PHONE" },
                    "amount": { "value": item.amount, "currency": item.currency },
                    "receiver": item.receiver,
                    "sender_item_id": item.sender_item_id,
                },
            })
        })
        .collect();
    Json(json!({
        "batch_header": {
            "payout_batch_id": batch.payout_batch_id,
            "batch_status": batch.status,
            "sender_batch_header": { "sender_batch_id": batch.sender_batch_id },
        },
        "items": items,
        "total_items": batch.items.len(),
        "total_pages": total_pages,
    }))
    .into_response()
}

async fn verify(headers: HeaderMap, Json(body): Json<Value>) -> Response {
    if !authorized(&headers) {
        return error(
            StatusCode::UNAUTHORIZED,
            "AUTHENTICATION_FAILURE",
            "Authentication failed.",
        );
    }
    let good = body["transmission_sig"] == GOOD_SIGNATURE
        && body["webhook_id"].is_string()
        && body["webhook_event"].is_object();
    Json(json!({ "verification_status": if good { "SUCCESS" } else { "FAILURE" } })).into_response()
}
