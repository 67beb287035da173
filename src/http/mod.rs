//! The HTTP surface: routes and the state they share.

mod dashboard;
pub mod error;
mod export;
mod graphiql;
mod graphql;
mod health;
mod live;
mod observability;
mod paypal_webhooks;
pub mod persisted_queries;
mod redirect;
pub mod server;
mod shopify_install;
mod shopify_privacy;
mod webhooks;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::FutureExt as _;
use futures_util::future::Either;
use tower::ServiceExt as _;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;

use crate::app::App;
use crate::graphql::AppSchema;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimiter;

/// Link codes kept in memory (see `redirect::LinkCache`).
const LINK_CACHE_SIZE: u64 = 200_000;

/// Request bodies per route: a GraphQL document with its variables, a shop's
/// order (with line items), and nothing for the rest.
const GRAPHQL_BODY_BYTES: usize = 256 * 1024;
const WEBHOOK_BODY_BYTES: usize = 1024 * 1024;
const OTHER_BODY_BYTES: usize = 16 * 1024;
/// A request's body must arrive within this, and its answer start within the next.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Who may reach what from outside: the metrics token and the CORS allow-list.
#[derive(Clone)]
pub struct Surface {
    pub metrics_token: Option<String>,
    pub cors_origins: Vec<String>,
    /// The query budget GraphQL charges, which exports draw on too (none: no limit).
    pub query_budget: Option<Arc<RateLimiter>>,
    /// Proxies (e.g. the load balancer) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How often a link in memory is looked up again (a destination change shows
    /// within this); while the database is away the one in memory is served on.
    pub link_refresh_every: Duration,
}

/// Set on a server once its shutdown begins: `/readyz` then answers 503 so load
/// balancers move on. Each server has its own (several may share a process), and
/// hands it to every request it serves.
#[derive(Clone, Default, Debug)]
pub struct Draining(Arc<std::sync::atomic::AtomicBool>);

impl Draining {
    pub fn begin(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// What every route shares, behind one pointer: axum clones the state for every
/// request, and a redirect should not pay for copying each cache handle.
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// The application, and what only the HTTP surface keeps.
pub struct SharedState {
    /// The one door to the workflows, the database and the writers.
    pub app: App,
    pub schema: AppSchema,
    pub links: redirect::LinkCache,
    /// Automatic persisted queries this server has seen, by hash.
    pub persisted_queries: persisted_queries::PersistedQueries,
    /// Order webhooks each brand may send per second.
    pub webhook_budget: Arc<RateLimiter>,
    /// Failed API keys and webhook signatures each client address may send: each
    /// failure takes a point, and an address out of points is refused before the
    /// next one costs a database lookup or a brand's budget.
    pub failed_auth: Arc<RateLimiter>,
    /// Open WebSocket connections (subscriptions).
    pub live_connections: live::LiveConnections,
    pub surface: Arc<Surface>,
}

impl AppState {
    pub fn new(app: App, schema: AppSchema, limits: crate::Limits, surface: Surface) -> Self {
        let links = redirect::LinkCache::new(LINK_CACHE_SIZE, surface.link_refresh_every);
        AppState(Arc::new(SharedState {
            app,
            schema,
            links,
            persisted_queries: persisted_queries::PersistedQueries::default(),
            webhook_budget: Arc::new(RateLimiter::new(
                limits.webhook_rate_limit_per_second,
                limits.webhook_rate_limit_per_second,
            )),
            failed_auth: Arc::new(RateLimiter::new(
                limits.failed_auth_per_second,
                limits.failed_auth_per_second.saturating_mul(10),
            )),
            live_connections: live::LiveConnections::default(),
            surface: Arc::new(surface),
        }))
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        self.app.metrics()
    }
}

/// The client's address as the limits see it: the peer's, or past a trusted proxy
/// the one it forwards (none when the router is called without a socket, in tests).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddress(pub Option<std::net::IpAddr>);

impl ClientAddress {
    /// A rate-limit subject for this address, e.g. `signature:203.0.113.9`.
    pub fn subject(&self, kind: &str) -> String {
        match self.0 {
            Some(ip) => format!("{kind}:{ip}"),
            None => format!("{kind}:unknown"),
        }
    }
}

/// Read where a handler asks for it (no cost on the routes that do not).
impl axum::extract::FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0);
        Ok(ClientAddress::of(peer, &parts.headers, &state.surface.trusted_proxies))
    }
}

impl ClientAddress {
    /// The address of a request from `peer`, past `trusted` proxies.
    pub fn of(peer: Option<SocketAddr>, headers: &axum::http::HeaderMap, trusted: &[ipnet::IpNet]) -> Self {
        let forwarded_for = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        ClientAddress(peer.map(|peer| redirect::client_ip(peer.ip(), forwarded_for, trusted)))
    }
}

/// Every route, with a shopper's redirect taken ahead of the router (see
/// [`redirect::answer_shopper`]): the server and the tests call it the same way.
#[derive(Clone)]
pub struct Routes {
    router: Router,
    state: AppState,
}

impl Routes {
    /// Answers `request` from `peer` (none when called without a socket, in tests),
    /// on a server that is `draining` or not.
    pub fn answer<B>(
        &self,
        mut request: Request<B>,
        peer: Option<SocketAddr>,
        draining: Option<&Draining>,
    ) -> impl Future<Output = Response> + Send + use<B>
    where
        B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        if redirect::shopper_code(request.method(), request.uri().path()).is_some() {
            return Either::Left(redirect::answer_shopper(self.state.clone(), request, peer));
        }
        if let Some(peer) = peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        if let Some(draining) = draining {
            request.extensions_mut().insert(draining.clone());
        }
        let routed = self.router.clone().oneshot(request.map(axum::body::Body::new));
        Either::Right(routed.map(|answered| match answered {
            Ok(response) => response,
            Err(never) => match never {},
        }))
    }
}

/// For callers that hold a request (tests): the client's address is the
/// `ConnectInfo` it carries, if any.
impl tower::Service<Request<axum::body::Body>> for Routes {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures_util::future::BoxFuture<'static, Result<Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<axum::body::Body>) -> Self::Future {
        let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
        Box::pin(self.answer(request, peer, None).map(Ok))
    }
}

pub fn router(state: AppState) -> Routes {
    let cors = cors_layer(&state.surface.cors_origins);
    let graphql = Router::new()
        .route("/graphql", get(live::get_or_upgrade).post(graphql::handle))
        .layer(RequestBodyLimitLayer::new(GRAPHQL_BODY_BYTES))
        .layer(axum::middleware::map_response(json_when_too_large))
        .layer(cors.clone());
    let webhooks = Router::new()
        .route("/webhooks/{brand}/orders/{source}", post(webhooks::receive))
        .route("/webhooks/paypal", post(paypal_webhooks::receive))
        .route("/webhooks/shopify/privacy", post(shopify_privacy::receive))
        .layer(RequestBodyLimitLayer::new(WEBHOOK_BODY_BYTES))
        .layer(axum::middleware::map_response(json_when_too_large));
    let pages = Router::new()
        .route("/", get(dashboard::page))
        .route("/assets/{file}", get(dashboard::dashboard_asset))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DASHBOARD_CSP),
        ));
    let rest = Router::new()
        .route("/graphiql", get(graphiql::page))
        .route("/graphiql/vendor/{file}", get(graphiql::vendor_asset))
        .route("/shopify/callback", get(shopify_install::callback))
        .merge(
            Router::new()
                .route("/export/offers.csv", get(export::offers))
                .route("/export/orders.csv", get(export::orders))
                .route("/export/offers/{id}/memberships.csv", get(export::memberships))
                .route("/export/payments/{file}", get(export::payment))
                .layer(cors),
        )
        .route("/health", get(health::check))
        .route("/readyz", get(health::check))
        .route("/livez", get(health::live))
        .route("/metrics", get(metrics))
        .layer(RequestBodyLimitLayer::new(OTHER_BODY_BYTES));
    let metrics = state.metrics().clone();
    let routes = graphql
        .merge(webhooks)
        .merge(pages)
        .merge(rest)
        .route_layer(axum::middleware::from_fn_with_state(
            metrics.clone(),
            observability::observe,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(RequestBodyTimeoutLayer::new(BODY_TIMEOUT))
        .layer(CompressionLayer::new())
        .layer(nosniff())
        .layer(never_framed())
        .layer(TraceLayer::new_for_http());
    // A shopper's hop, the busiest route, carries only what its answer needs: it
    // reads no body, its answer has none worth compressing, and its own deadlines
    // (the link lookup's, the commit's or else the spool's) bound its time.
    let redirects = Router::new()
        .route("/r/{code}", get(redirect::follow))
        .route_layer(axum::middleware::from_fn_with_state(
            metrics.clone(),
            observability::observe,
        ))
        .layer(nosniff())
        .layer(never_framed());
    let router = catch_panics(routes.merge(redirects), metrics)
        .layer(axum::middleware::from_fn(observability::request_id))
        .with_state(state.clone());
    Routes { router, state }
}

const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const NEVER_FRAMED: HeaderValue = HeaderValue::from_static("DENY");

/// Every answer's content type is the one it declares.
fn nosniff() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF)
}

/// No answer is framed by another site, unless its route says otherwise.
fn never_framed() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, NEVER_FRAMED)
}

/// Turns a panic in any handler into a 500 with a JSON body, counted in
/// `sales_tracking_panics_total` (the panic itself is logged by the panic hook).
pub fn catch_panics<S: Clone + Send + Sync + 'static>(routes: Router<S>, metrics: Arc<Metrics>) -> Router<S> {
    routes.layer(CatchPanicLayer::custom(move |_panic| {
        metrics.panics.inc();
        internal_error()
    }))
}

/// The dashboard runs only its own script and style, talks only to this
/// server, and is never framed.
const DASHBOARD_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/// The body limit's own 413 says so in plain text; callers get the JSON error shape.
async fn json_when_too_large(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE || is_json {
        return response;
    }
    error::RestError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        "the request body is over this route's size limit",
    )
    .into_response()
}

/// What a panic answers.
fn internal_error() -> Response {
    error::RestError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error").into_response()
}

/// `/metrics`: Prometheus text, behind a bearer token when one is configured.
async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Some(token) = &state.surface.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let matches: bool = subtle_eq(given.as_bytes(), token.as_bytes());
        if !matches {
            let refusal = error::RestError::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "send `Authorization: Bearer <metrics token>`",
            );
            return ([(header::WWW_AUTHENTICATE, "Bearer")], refusal).into_response();
        }
    }
    state.app.refresh_gauges();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics().encode(),
    )
        .into_response()
}

/// Compares in time that does not depend on where the inputs differ.
fn subtle_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    // Equal-length digests, compared byte by byte without an early exit.
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Browsers on the listed origins may call the API with a bearer key (no cookies
/// are involved, so no credentials mode); everyone else gets no CORS headers.
fn cors_layer(origins: &[String]) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600))
}
