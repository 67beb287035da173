//! Sends signed events to brands' endpoints over HTTP, by the Standard Webhooks
//! convention: `webhook-id`, `webhook-timestamp` and `webhook-signature` headers.
//!
//! An endpoint reaches only public addresses (unless private targets are allowed):
//! its name is resolved by the client's own resolver, which drops every
//! non-public address, so a name that changed to a private address since
//! registration (DNS rebinding) cannot be reached. Redirects are not followed,
//! the whole exchange has a timeout and at most 64 KB of the answer are read.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::app::ports::{Answer, EndpointClient, Message, TargetError, Targets};
use crate::domain::webhooks::{is_public, signature};

/// The most of an endpoint's answer read (kept for the delivery log).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// How much of the answer is kept with a failed attempt.
const KEPT_ANSWER_CHARS: usize = 500;

/// Checks a URL for registration. A name that does not resolve now is accepted
/// (its addresses are checked at every delivery); one resolving to any
/// non-public address is refused.
async fn allowed_target(url: &str, targets: Targets) -> Result<url::Url, TargetError> {
    let parsed = url::Url::parse(url).map_err(|e| TargetError::NotAUrl(e.to_string()))?;
    match (parsed.scheme(), targets) {
        ("https", _) | ("http", Targets::AllowPrivate) => {}
        ("http", Targets::PublicOnly) => return Err(TargetError::NotHttps),
        (other, _) => return Err(TargetError::NotAUrl(format!("scheme {other} is not http(s)"))),
    }
    let host = parsed.host().ok_or(TargetError::NoHost)?;
    if targets == Targets::AllowPrivate {
        return Ok(parsed);
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let addresses: Vec<IpAddr> = match host {
        url::Host::Ipv4(ip) => vec![IpAddr::V4(ip)],
        url::Host::Ipv6(ip) => vec![IpAddr::V6(ip)],
        url::Host::Domain(name) => match tokio::net::lookup_host((name, port)).await {
            Ok(found) => found.map(|a| a.ip()).collect(),
            Err(_) => Vec::new(),
        },
    };
    match addresses.into_iter().find(|ip| !is_public(*ip)) {
        Some(private) => Err(TargetError::NotPublic(private)),
        None => Ok(parsed),
    }
}

#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    targets: Targets,
}

impl WebhookSender {
    pub fn new(targets: Targets, timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("SalesTracking-Webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(CheckedResolver { targets }))
            .build()
            .expect("the webhook client's settings are valid");
        WebhookSender { client, targets }
    }

    /// Posts a message, signed now, and reads at most 64 KB of the answer.
    async fn post(&self, message: Message<'_>) -> Answer {
        let started = Instant::now();
        let failed = |error: String| Answer {
            status: None,
            took: started.elapsed(),
            error: Some(error),
        };
        // A literal address skips the resolver: checked here.
        let url = match url::Url::parse(message.url) {
            Ok(url) => url,
            Err(error) => return failed(format!("bad url: {error}")),
        };
        if self.targets == Targets::PublicOnly {
            if url.scheme() != "https" {
                return failed("url must use https".into());
            }
            let literal = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if let Some(ip) = literal.filter(|ip| !is_public(*ip)) {
                return failed(format!("{ip} is not a public address"));
            }
        }
        let timestamp = chrono::Utc::now().timestamp();
        let request = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", message.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                signature(message.secret, message.id, timestamp, message.body),
            )
            .body(message.body.to_vec());
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return failed(describe(&error)),
        };
        let status = response.status();
        let mut response = response;
        let mut body = Vec::new();
        while body.len() < MAX_ANSWER_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(MAX_ANSWER_BYTES - body.len())]),
                // A body cut off or too slow does not undo the status already answered.
                Ok(None) | Err(_) => break,
            }
        }
        let error = (!status.is_success()).then(|| {
            let text = String::from_utf8_lossy(&body);
            let start: String = text.chars().take(KEPT_ANSWER_CHARS).collect();
            format!("answered {}: {start}", status.as_u16())
        });
        Answer {
            status: Some(status.as_u16()),
            took: started.elapsed(),
            error,
        }
    }
}

fn describe(error: &reqwest::Error) -> String {
    use std::error::Error;
    let mut text = if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "could not connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[async_trait]
impl EndpointClient for WebhookSender {
    async fn check_target(&self, url: &str) -> Result<url::Url, TargetError> {
        allowed_target(url, self.targets).await
    }

    async fn send(&self, message: Message<'_>) -> Answer {
        self.post(message).await
    }
}

/// Resolves endpoint names, keeping only the addresses they may reach.
struct CheckedResolver {
    targets: Targets,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let targets = self.targets;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| targets == Targets::AllowPrivate || is_public(a.ip()))
                .collect();
            if allowed.is_empty() {
                let shown = found.first().map_or("no address".to_string(), |a| a.ip().to_string());
                return Err(format!("{host} resolves to {shown}, which is not a public address").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}
