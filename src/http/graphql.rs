use async_graphql::parser::types::OperationType;
use async_graphql_axum::GraphQLResponse;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::persisted_queries::Refusal;
use super::{AppState, ClientAddress};
use crate::app::auth;
use crate::app::{App, AppError, Caller};
use crate::domain::nesting::{self, MAX_NESTING, Syntax, TooDeep};
use crate::graphql::limits::RateSubject;
use crate::graphql::query_cost;
use crate::graphql::{authorize, with_app};

/// `POST /graphql`. Without a key the request still runs (so the public schema
/// can be introspected) and every brand field is `UNAUTHENTICATED`; a key that is
/// wrong is refused outright with 401. Its cost is charged to the key, or to the
/// client's IP without one.
pub async fn handle(
    State(state): State<AppState>,
    client: ClientAddress,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return graphql_error(rejection.status(), "BAD_REQUEST", &rejection.body_text()),
    };
    match request_from_body(&body) {
        Ok(request) => execute(state, client, headers, request, Method::POST).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// `GET /graphql?query=…` (or a persisted query's hash): queries only, so a link
/// or an image tag can never change anything (a mutation is 405). An answer
/// without errors may be kept by the client's HTTP cache for a short while.
pub async fn handle_get(
    State(state): State<AppState>,
    client: ClientAddress,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match request_from_query_string(query.as_deref().unwrap_or_default()) {
        Ok(request) => execute(state, client, headers, request, Method::GET).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// Why a request could not be read.
enum BadRequest {
    TooDeep(TooDeep),
    Malformed(String),
}

impl IntoResponse for BadRequest {
    fn into_response(self) -> Response {
        match self {
            BadRequest::TooDeep(too_deep) => graphql_error_with(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                &too_deep.to_string(),
                json!({ "limit": "MAX_NESTING", "maxNesting": too_deep.limit }),
            ),
            BadRequest::Malformed(message) => graphql_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", &message),
        }
    }
}

/// A POST body: `{ query, operationName, variables, extensions }` as JSON. Its
/// nesting, and the query's, is measured before either is parsed.
fn request_from_body(body: &[u8]) -> Result<async_graphql::Request, BadRequest> {
    let text = std::str::from_utf8(body).map_err(|_| BadRequest::Malformed("the body is not UTF-8".into()))?;
    nesting::check(text, Syntax::Json, MAX_NESTING, "the request body").map_err(BadRequest::TooDeep)?;
    let request: async_graphql::Request = serde_json::from_str(text)
        .map_err(|e| BadRequest::Malformed(format!("the body is not a GraphQL request: {e}")))?;
    nesting::check(&request.query, Syntax::GraphQl, MAX_NESTING, "the query").map_err(BadRequest::TooDeep)?;
    Ok(request)
}

/// A GET's `?query=…&operationName=…&variables=…&extensions=…`, each measured
/// before it is parsed.
fn request_from_query_string(query_string: &str) -> Result<async_graphql::Request, BadRequest> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Fields {
        #[serde(default)]
        query: String,
        operation_name: Option<String>,
        variables: Option<String>,
        extensions: Option<String>,
    }
    let fields: Fields = serde_urlencoded::from_str(query_string)
        .map_err(|e| BadRequest::Malformed(format!("the query string is not a GraphQL request: {e}")))?;
    nesting::check(&fields.query, Syntax::GraphQl, MAX_NESTING, "the query").map_err(BadRequest::TooDeep)?;
    let json_field = |name: &'static str, text: Option<String>| -> Result<serde_json::Value, BadRequest> {
        let Some(text) = text else {
            return Ok(serde_json::Value::Null);
        };
        nesting::check(&text, Syntax::Json, MAX_NESTING, name).map_err(BadRequest::TooDeep)?;
        serde_json::from_str(&text).map_err(|e| BadRequest::Malformed(format!("{name} is not JSON: {e}")))
    };
    let variables = json_field("variables", fields.variables)?;
    let extensions = json_field("extensions", fields.extensions)?;
    let mut request = async_graphql::Request::new(fields.query);
    request.operation_name = fields.operation_name;
    request.variables = async_graphql::Variables::from_json(variables);
    if let serde_json::Value::Object(extensions) = extensions {
        for (name, value) in extensions {
            let value = async_graphql::Value::from_json(value)
                .map_err(|e| BadRequest::Malformed(format!("extensions are not JSON values: {e}")))?;
            request.extensions.insert(name, value);
        }
    }
    Ok(request)
}

/// How long a query may take, its key lookup included: reports answer in
/// milliseconds, so past this the database is taken to be away.
const QUERY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);
/// Mutations may wait on a provider (PayPal) without holding a connection; they
/// get longer, still short of the request timeout.
const MUTATION_DEADLINE: std::time::Duration = std::time::Duration::from_secs(25);

/// The key's caller, then the execution; a refusal before execution is a response.
async fn authenticate_and_run(
    state: &AppState,
    client: ClientAddress,
    headers: &HeaderMap,
    request: async_graphql::Request,
    mutation: bool,
) -> Result<async_graphql::Response, Response> {
    let mut request = with_app(request, &state.app);
    let mut brand = None;
    match authenticate(state, client, headers).await {
        Ok(Some(viewer)) => {
            brand = Some(viewer.brand_id);
            let subject = RateSubject(format!("key:{}", viewer.api_key_id));
            request = authorize(request, viewer, &state.app).data(subject);
        }
        Ok(None) => {
            request = request.data(RateSubject(client.subject("ip")));
        }
        Err(AuthFailure::BadKey) => {
            return Err(graphql_error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "the API key is not valid",
            ));
        }
        Err(AuthFailure::TooManyFailures(throttled)) => {
            state.metrics().throttled.inc();
            let mut response = graphql_error(
                StatusCode::TOO_MANY_REQUESTS,
                "THROTTLED",
                "too many invalid API keys from this address; try again later",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, throttled.retry_after_secs().into());
            return Err(response);
        }
        Err(AuthFailure::Database(error)) => {
            tracing::error!(?error, "API key lookup failed");
            return Err(graphql_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "the database is unavailable; try again shortly",
            ));
        }
    }
    let response = state.schema.execute(request).await;
    // A mutation that ran may have changed the brand's figures (an order by hand,
    // a payment, a removal): its live KPIs look again, and stay as they are if not.
    if let Some(brand) = brand
        && mutation
        && response.is_ok()
    {
        state.app.kpis_changed(brand);
    }
    let over_budget = response.errors.iter().any(|e| {
        e.extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .is_some_and(|code| *code == async_graphql::Value::from("THROTTLED"))
    });
    if over_budget {
        state.metrics().throttled.inc();
    }
    Ok(response)
}

/// How long a client may reuse a GET answer: short, as orders keep arriving.
const GET_MAX_AGE: &str = "private, max-age=30";

async fn execute(
    state: AppState,
    client: ClientAddress,
    headers: HeaderMap,
    mut request: async_graphql::Request,
    method: Method,
) -> Response {
    let max_query_bytes = query_cost::QueryLimits::default().max_query_bytes;
    if let Err(refusal) = state.persisted_queries.resolve(&mut request, max_query_bytes).await {
        let (message, code) = refusal.message_and_code();
        // Apollo's clients expect 200 for an unknown hash: they then send the text.
        let status = match refusal {
            Refusal::NotFound => StatusCode::OK,
            _ => StatusCode::BAD_REQUEST,
        };
        let mut response = graphql_error(status, code, message);
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return response;
    }
    let mutation = is_mutation(&mut request, max_query_bytes);
    if method == Method::GET && mutation {
        let mut response = graphql_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "mutations are sent with POST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    // A database that hangs (accepts, never answers) must not hold the caller:
    // the key lookup and the execution together answer UNAVAILABLE past the deadline.
    let deadline = if mutation { MUTATION_DEADLINE } else { QUERY_DEADLINE };
    let response = match tokio::time::timeout(
        deadline,
        authenticate_and_run(&state, client, &headers, request, mutation),
    )
    .await
    {
        Ok(Ok(response)) => response,
        Ok(Err(refusal)) => return refusal,
        Err(_) => {
            tracing::error!(?deadline, mutation, "a GraphQL request ran past its deadline");
            let mut response = graphql_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                &format!(
                    "no answer from the database within {} s; try again shortly",
                    deadline.as_secs()
                ),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return response;
        }
    };
    let cacheable = method == Method::GET && response.is_ok();
    let mut response = GraphQLResponse::from(response).into_response();
    if method == Method::GET {
        let headers = response.headers_mut();
        let cache_control = if cacheable { GET_MAX_AGE } else { "no-store" };
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
        // The answer depends on the key: a cache must keep one per key.
        headers.append(header::VARY, HeaderValue::from_static("authorization"));
    }
    response
}

/// Whether the request's operation is a mutation (a document that does not parse,
/// or is too large, is left to the schema to refuse).
fn is_mutation(request: &mut async_graphql::Request, max_query_bytes: usize) -> bool {
    if request.query.len() > max_query_bytes {
        return false;
    }
    let operation_name = request.operation_name.clone();
    request.parsed_query().is_ok_and(|document| {
        query_cost::operation(document, operation_name.as_deref())
            .is_some_and(|operation| operation.ty != OperationType::Query)
    })
}

pub(super) enum AuthFailure {
    BadKey,
    /// This address sent too many bad keys lately: refused without a lookup.
    TooManyFailures(crate::rate_limit::Throttled),
    Database(AppError),
}

/// The viewer an `Authorization: Bearer <key>` header names; `None` without the
/// header. A bad key takes a point of `client`'s failure budget, and an address
/// whose budget is spent is refused before any lookup.
pub(super) async fn authenticate(
    state: &AppState,
    client: ClientAddress,
    headers: &HeaderMap,
) -> Result<Option<Caller>, AuthFailure> {
    if !headers.contains_key(header::AUTHORIZATION) {
        return Ok(None);
    }
    let subject = client.subject("key");
    state
        .failed_auth
        .check(&subject, 1)
        .map_err(AuthFailure::TooManyFailures)?;
    let found = caller_of_header(&state.app, headers).await;
    if matches!(found, Err(AuthFailure::BadKey)) {
        let _ = state.failed_auth.take(&subject, 1);
    }
    found
}

async fn caller_of_header(app: &App, headers: &HeaderMap) -> Result<Option<Caller>, AuthFailure> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let secret = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(AuthFailure::BadKey)?;
    let mut conn = app.conn().await.map_err(AuthFailure::Database)?;
    auth::caller_of_key(&mut conn, secret)
        .await
        .map_err(|e| AuthFailure::Database(e.into()))?
        .map(Some)
        .ok_or(AuthFailure::BadKey)
}

/// A response shaped like a GraphQL result, for failures before execution.
fn graphql_error(status: StatusCode, code: &str, message: &str) -> Response {
    graphql_error_with(status, code, message, json!({}))
}

/// The same with more extensions beside the code.
fn graphql_error_with(status: StatusCode, code: &str, message: &str, mut extensions: serde_json::Value) -> Response {
    extensions["code"] = json!(code);
    (
        status,
        axum::Json(json!({ "errors": [{ "message": message, "extensions": extensions }] })),
    )
        .into_response()
}
