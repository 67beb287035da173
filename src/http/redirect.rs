//! `GET /r/{code}`: record the click, send the shopper on with a click id.

use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use futures_util::FutureExt as _;
use ipnet::IpNet;
use tracing::Instrument as _;

use super::{AppState, ClientAddress, observability};
use crate::app::App;
use crate::app::clicks::{self, LinkTarget};
use crate::domain::tracking::{could_be_link_code, redirect_target};

/// A link as the redirect needs it, with its destination parsed once.
#[derive(Clone)]
pub struct CachedLink {
    pub target: LinkTarget,
    pub destination: url::Url,
}

/// Link codes seen, kept in memory up to a number of entries (not for a time):
/// each is looked up again every `refresh_every`, and when that fails (the
/// database is away) the entry it has is served on, however old, so known links
/// keep redirecting through any outage. Whether a click counts is decided when it
/// is stored, so a stale entry never miscounts.
#[derive(Clone)]
pub struct LinkCache {
    entries: moka::future::Cache<String, Arc<LinkEntry>>,
    refresh_every: Duration,
}

/// A code's last answer (`None`: no such link) and when to ask again.
struct LinkEntry {
    link: Option<Arc<CachedLink>>,
    refresh_at: Instant,
    /// Set while one request refreshes it; the others serve it meanwhile.
    refreshing: AtomicBool,
}

/// How long a failed refresh is left before the next request tries again.
const RETRY_REFRESH_AFTER: Duration = Duration::from_secs(1);

impl LinkCache {
    pub fn new(capacity: u64, refresh_every: Duration) -> Self {
        LinkCache {
            entries: moka::future::Cache::builder().max_capacity(capacity).build(),
            refresh_every,
        }
    }

    fn entry(&self, link: Option<Arc<CachedLink>>, refresh_in: Duration) -> Arc<LinkEntry> {
        Arc::new(LinkEntry {
            link,
            refresh_at: Instant::now() + refresh_in,
            refreshing: AtomicBool::new(false),
        })
    }

    /// The link for `code`: from memory while fresh; looked up when stale, or
    /// served stale when the lookup fails. Err only for a code never seen whose
    /// lookup failed.
    async fn get(&self, app: &App, code: &str) -> Result<Option<Arc<CachedLink>>, LookupFailed> {
        if let Some(entry) = self.entries.get(code).await {
            if Instant::now() < entry.refresh_at || entry.refreshing.swap(true, Ordering::AcqRel) {
                return Ok(entry.link.clone());
            }
            return match lookup(app, code).await {
                Ok(link) => {
                    self.entries
                        .insert(code.to_string(), self.entry(link.clone(), self.refresh_every))
                        .await;
                    Ok(link)
                }
                Err(failure) => {
                    tracing::warn!(%failure, "link refresh failed; serving the link from memory");
                    self.entries
                        .insert(code.to_string(), self.entry(entry.link.clone(), RETRY_REFRESH_AFTER))
                        .await;
                    Ok(entry.link.clone())
                }
            };
        }
        let entry = self
            .entries
            .try_get_with(code.to_string(), async {
                lookup(app, code).await.map(|link| self.entry(link, self.refresh_every))
            })
            .await
            .map_err(|failure| (*failure).clone())?;
        Ok(entry.link.clone())
    }
}

#[derive(Clone, Debug, thiserror::Error)]
enum LookupFailed {
    #[error("{0}")]
    Database(String),
    #[error("no answer within {LOOKUP_DEADLINE:?}")]
    TimedOut,
}

/// Reads a link, within `LOOKUP_DEADLINE` so a hanging database costs a redirect little.
async fn lookup(app: &App, code: &str) -> Result<Option<Arc<CachedLink>>, LookupFailed> {
    let read = async {
        let mut conn = app
            .tracking_conn()
            .await
            .map_err(|e| LookupFailed::Database(format!("{e:?}")))?;
        let target = clicks::find_link(&mut conn, code)
            .await
            .map_err(|e| LookupFailed::Database(e.to_string()))?;
        Ok(target.and_then(|target| {
            let destination = url::Url::parse(&target.destination_url).ok()?;
            Some(Arc::new(CachedLink { target, destination }))
        }))
    };
    tokio::time::timeout(LOOKUP_DEADLINE, read)
        .await
        .unwrap_or(Err(LookupFailed::TimedOut))
}

/// The `/r/{code}` route: what [`answer_shopper`] leaves to the router (a code
/// that is not well formed, another method), and callers that come through it.
pub async fn follow(
    State(state): State<AppState>,
    client: ClientAddress,
    Path(code): Path<String>,
    request: Request,
) -> Response {
    redirect(&state, &code, request.headers(), client.0).await
}

/// The code of a request [`answer_shopper`] takes: `GET` or `HEAD` of
/// `/r/{code}` with a well-formed code. Anything else goes through the router.
pub fn shopper_code<'a>(method: &Method, path: &'a str) -> Option<&'a str> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    path.strip_prefix("/r/").filter(|code| could_be_link_code(code))
}

/// A shopper's redirect, answered straight from the connection rather than through
/// the router's layers (their futures, boxes and clones were the largest share of a
/// redirect's own CPU in the profile): the same answer as the `/r/{code}` route,
/// with its request id, its headers, its time in `/metrics` and its panic guard.
pub async fn answer_shopper<B>(
    state: AppState,
    mut request: axum::http::Request<B>,
    peer: Option<SocketAddr>,
) -> Response {
    let started = Instant::now();
    let id = observability::take_request_id(request.headers_mut());
    let span = observability::request_span(&id, request.method());
    let method = observability::method_label(request.method());
    let code = request.uri().path().strip_prefix("/r/").unwrap_or_default();
    let headers = request.headers();
    let client = ClientAddress::of(peer, headers, &state.surface.trusted_proxies);
    let answered = AssertUnwindSafe(redirect(&state, code, headers, client.0))
        .catch_unwind()
        .instrument(span)
        .await;
    let mut response = answered.unwrap_or_else(|_panic| {
        state.metrics().panics.inc();
        super::internal_error()
    });
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, super::NOSNIFF);
    if !headers.contains_key(header::X_FRAME_OPTIONS) {
        headers.insert(header::X_FRAME_OPTIONS, super::NEVER_FRAMED);
    }
    headers.insert(observability::REQUEST_ID, id);
    state.metrics().observe_request(
        "/r/{code}",
        method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

async fn redirect(state: &AppState, code: &str, headers: &HeaderMap, client: Option<IpAddr>) -> Response {
    if !could_be_link_code(code) {
        return not_found();
    }
    // A code never seen while the database does not answer: 503 in time, not a hang.
    let link = match state.links.get(&state.app, code).await {
        Ok(Some(link)) => link,
        Ok(None) => return not_found(),
        Err(failure) => {
            tracing::error!(%failure, "link lookup failed");
            return try_again();
        }
    };
    let user_agent = header_text(headers, header::USER_AGENT);
    let click = clicks::new_click(&link.target, user_agent, client, state.app.ip_hash_key());
    let location = redirect_target(&link.destination, click.id);
    // Waits for the batch holding this click to commit, or for the click to be on
    // the spool; the shopper is sent on either way.
    state.app.clicks().record(click).await;
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location.as_str()),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer-when-downgrade"),
        ],
    )
        .into_response()
}

/// The shopper's address: the connection's, unless it comes from a trusted proxy;
/// then `X-Forwarded-For` is read from the right, past the trusted proxies, and
/// its first other address is the shopper's (left of it, anyone could have
/// written anything).
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_for.unwrap_or_default().rsplit(',').take(MAX_FORWARDED_HOPS) {
        let Ok(ip) = hop.trim().parse::<IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// The most `X-Forwarded-For` entries read: a longer chain is not a real one.
const MAX_FORWARDED_HOPS: usize = 16;

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// How long a redirect waits for a link code it has not cached.
const LOOKUP_DEADLINE: Duration = Duration::from_millis(200);

fn try_again() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "5"), (header::CACHE_CONTROL, "no-store")],
        Html("<!doctype html><title>Try again</title><p>Please try again in a moment.</p>"),
    )
        .into_response()
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html("<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Link not found</title><h1>Link not found</h1><p>This link does not exist. Check it with whoever shared it.</p></html>"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_through_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // A direct client cannot claim another address.
        assert_eq!(
            client_ip(ip("203.0.113.9"), Some("198.51.100.1"), &trusted),
            ip("203.0.113.9")
        );
        // Through the load balancer: the address it saw, not what the client wrote before it.
        assert_eq!(
            client_ip(ip("10.0.0.2"), Some("1.1.1.1, 198.51.100.7, 10.0.0.5"), &trusted),
            ip("198.51.100.7")
        );
        assert_eq!(client_ip(ip("10.0.0.2"), None, &trusted), ip("10.0.0.2"));
        assert_eq!(client_ip(ip("10.0.0.2"), Some("garbage"), &trusted), ip("10.0.0.2"));
        // No trusted proxies configured: the header is never read.
        assert_eq!(client_ip(ip("10.0.0.2"), Some("198.51.100.7"), &[]), ip("10.0.0.2"));
    }
}
