//! What operators see of each request: an id in every log line and in the
//! response, and its answer time by route in `/metrics`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::metrics::Metrics;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A caller's id is kept when it is a plain token (a load balancer's, say), so one
/// id follows the request through; anything else is replaced, never logged.
fn usable_id(value: &HeaderValue) -> Option<&str> {
    let id = value.to_str().ok()?;
    let plain = (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    plain.then_some(id)
}

/// Gives the request an id (`X-Request-Id`), logs everything it causes under it,
/// and answers with it.
pub async fn request_id(mut request: Request, next: Next) -> Response {
    let value = take_request_id(request.headers_mut());
    let span = request_span(&value, request.method());
    let mut response = next.run(request).instrument(span).await;
    response.headers_mut().insert(REQUEST_ID, value);
    response
}

/// The request's id: the caller's when usable, else a new one, set in `headers`.
pub fn take_request_id(headers: &mut HeaderMap) -> HeaderValue {
    if let Some(given) = headers.get(&REQUEST_ID).filter(|v| usable_id(v).is_some()) {
        return given.clone();
    }
    let mut text = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::now_v7().hyphenated().encode_lower(&mut text);
    let value = HeaderValue::from_str(id).expect("a UUID is a valid header value");
    headers.insert(REQUEST_ID, value.clone());
    value
}

/// The span a request's log lines carry. Its fields are formatted only when a
/// log line would carry them.
pub fn request_span(id: &HeaderValue, method: &Method) -> tracing::Span {
    tracing::info_span!(
        "request",
        request_id = id.to_str().unwrap_or_default(),
        method = method_label(method)
    )
}

/// The method as a label: anything unusual is `OTHER`, so a client cannot make
/// up label values without end.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "OTHER",
    }
}

/// Times the answer under the route's pattern (`/r/{code}`, not each code).
pub async fn observe(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.observe_request(
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
