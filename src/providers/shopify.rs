//! Shopify's GraphQL Admin API: `POST {base}/admin/api/{API_VERSION}/graphql.json`
//! with the store's token in `X-Shopify-Access-Token`. Shopify limits each store
//! by query cost: a throttled answer (`errors[].extensions.code` `THROTTLED`, or a
//! 429) says how long until enough points are back, from
//! `extensions.cost.throttleStatus`.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::app::ports::{ShopAccess, ShopAccessGrant, ShopClient, ShopError, ShopInfo, ShopifyApp};

/// The Admin API version every request names: the one place it is pinned.
pub const API_VERSION: &str = "2025-10";
/// One request's limit, answer included.
const TIMEOUT: Duration = Duration::from_secs(20);

/// The client of every connected store.
#[derive(Clone)]
pub struct ShopifyAdmin {
    http: reqwest::Client,
    /// Where a store's Admin API is, `{shop}` standing for its domain
    /// (`https://{shop}`; a local stand-in in tests).
    base_url: String,
}

impl ShopifyAdmin {
    pub fn new(base_url: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("SalesTracking/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the Shopify client's settings are valid");
        ShopifyAdmin {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
        }
    }

    fn endpoint(&self, domain: &str) -> String {
        format!("{}/admin/api/{API_VERSION}/graphql.json", self.admin_url(domain))
    }

    /// Runs one GraphQL document; the answer's `data`, or why there is none.
    async fn run(&self, access: &ShopAccess, query: &str, variables: Value) -> Result<Value, ShopError> {
        let answer = self
            .http
            .post(self.endpoint(&access.domain))
            .header("X-Shopify-Access-Token", &access.token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(|e| ShopError::Unavailable(e.without_url().to_string()))?;
        let status = answer.status();
        let retry_after = answer
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<f64>().ok());
        match status.as_u16() {
            401 | 403 => return Err(ShopError::Unauthorized),
            429 => return Err(ShopError::Throttled(seconds(retry_after.unwrap_or(1.0)))),
            500.. => return Err(ShopError::Unavailable(format!("Shopify answered {status}"))),
            code if !(200..300).contains(&code) => {
                return Err(ShopError::Refused(format!("Shopify answered {status}")));
            }
            _ => {}
        }
        let body: Value = answer
            .json()
            .await
            .map_err(|e| ShopError::Unavailable(format!("unreadable answer: {}", e.without_url())))?;
        if let Some(errors) = body["errors"].as_array().filter(|errors| !errors.is_empty()) {
            if errors.iter().any(|e| e["extensions"]["code"] == "THROTTLED") {
                return Err(ShopError::Throttled(throttle_wait(&body["extensions"]["cost"])));
            }
            if errors.iter().any(|e| e["extensions"]["code"] == "ACCESS_DENIED") {
                return Err(ShopError::Unauthorized);
            }
            return Err(ShopError::Refused(messages(errors, "message")));
        }
        Ok(body["data"].clone())
    }
}

/// How long until the points a throttled query asked for are back.
fn throttle_wait(cost: &Value) -> Duration {
    let requested = cost["requestedQueryCost"].as_f64().unwrap_or(0.0);
    let status = &cost["throttleStatus"];
    let available = status["currentlyAvailable"].as_f64().unwrap_or(0.0);
    let restore_rate = status["restoreRate"]
        .as_f64()
        .filter(|rate| *rate > 0.0)
        .unwrap_or(50.0);
    seconds((requested - available).max(0.0) / restore_rate)
}

/// At least a second, at most a minute.
fn seconds(wait: f64) -> Duration {
    Duration::from_secs_f64(wait.clamp(1.0, 60.0))
}

/// The `field` of each error, joined.
fn messages(errors: &[Value], field: &str) -> String {
    let found: Vec<&str> = errors.iter().filter_map(|e| e[field].as_str()).collect();
    if found.is_empty() {
        "no reason given".into()
    } else {
        found.join("; ")
    }
}

#[async_trait]
impl ShopClient for ShopifyAdmin {
    fn admin_url(&self, domain: &str) -> String {
        self.base_url.replace("{shop}", domain)
    }

    async fn exchange_code(&self, domain: &str, app: &ShopifyApp, code: &str) -> Result<ShopAccessGrant, ShopError> {
        let answer = self
            .http
            .post(format!("{}/admin/oauth/access_token", self.admin_url(domain)))
            .json(&json!({ "client_id": app.api_key, "client_secret": app.api_secret, "code": code }))
            .send()
            .await
            .map_err(|e| ShopError::Unavailable(e.without_url().to_string()))?;
        let status = answer.status();
        if status.is_server_error() {
            return Err(ShopError::Unavailable(format!("Shopify answered {status}")));
        }
        if !status.is_success() {
            // A code already used, expired, or not this app's.
            return Err(ShopError::Refused(format!(
                "Shopify refused the authorization code ({status})"
            )));
        }
        let body: Value = answer
            .json()
            .await
            .map_err(|e| ShopError::Unavailable(format!("unreadable answer: {}", e.without_url())))?;
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| ShopError::Unavailable("the answer holds no access token".into()))?;
        let scopes = body["scope"]
            .as_str()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        Ok(ShopAccessGrant {
            token: token.to_string(),
            scopes,
        })
    }

    async fn shop(&self, access: &ShopAccess) -> Result<ShopInfo, ShopError> {
        let data = self
            .run(
                access,
                "query ShopAndScopes { shop { name } currentAppInstallation { accessScopes { handle } } }",
                json!({}),
            )
            .await?;
        let name = data["shop"]["name"]
            .as_str()
            .ok_or_else(|| ShopError::Unavailable("the answer names no shop".into()))?;
        let scopes = data["currentAppInstallation"]["accessScopes"]
            .as_array()
            .map(|scopes| {
                scopes
                    .iter()
                    .filter_map(|s| s["handle"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(ShopInfo {
            name: name.to_string(),
            scopes,
        })
    }

    async fn subscribe_webhook(&self, access: &ShopAccess, topic: &str, uri: &str) -> Result<(), ShopError> {
        let data = self
            .run(
                access,
                "mutation Subscribe($topic: WebhookSubscriptionTopic!, $subscription: WebhookSubscriptionInput!) {
                   webhookSubscriptionCreate(topic: $topic, webhookSubscription: $subscription) {
                     webhookSubscription { id }
                     userErrors { field message }
                   }
                 }",
                json!({ "topic": topic, "subscription": { "uri": uri, "format": "JSON" } }),
            )
            .await?;
        let errors = data["webhookSubscriptionCreate"]["userErrors"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        // Shopify refuses a second subscription of a topic to one address.
        let already = |e: &Value| e["message"].as_str().is_some_and(|m| m.contains("already been taken"));
        if errors.is_empty() || errors.iter().all(already) {
            Ok(())
        } else {
            Err(ShopError::Refused(messages(&errors, "message")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttled_query_waits_for_its_points_to_come_back() {
        let cost = json!({
            "requestedQueryCost": 202,
            "throttleStatus": { "maximumAvailable": 2000, "currentlyAvailable": 2, "restoreRate": 100 }
        });
        assert_eq!(throttle_wait(&cost), Duration::from_secs(2));
        // Never less than a second, never more than a minute.
        assert_eq!(throttle_wait(&json!({})), Duration::from_secs(1));
        let huge =
            json!({ "requestedQueryCost": 1e9, "throttleStatus": { "currentlyAvailable": 0, "restoreRate": 1 } });
        assert_eq!(throttle_wait(&huge), Duration::from_secs(60));
    }

    #[test]
    fn the_endpoint_names_the_store_and_the_pinned_version() {
        let admin = ShopifyAdmin::new("https://{shop}/");
        assert_eq!(
            admin.endpoint("trail.myshopify.com"),
            format!("https://trail.myshopify.com/admin/api/{API_VERSION}/graphql.json")
        );
    }
}
