//! PayPal Payouts over its REST API. One payout batch per payment, whose
//! `sender_batch_id` is derived from the payment: PayPal pays a sender_batch_id
//! once, so a retry after a timeout, a 5xx or a crash can never pay twice. It
//! answers such a retry with an error that links to the original batch, which is
//! how the batch's own id (`payout_batch_id`) is learnt when the first answer was
//! lost. Item statuses come from `GET /v1/payments/payouts/{payout_batch_id}`;
//! PayPal's webhooks only say when to look again, after PayPal verified them.

use std::fmt;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::app::ports::{BatchReport, ItemOutcome, Notification, PayoutBatch, PayoutProvider, Vouched};
use crate::domain::currency::format_in;
use crate::domain::enums::{PaymentProvider, PaymentState};
use crate::domain::ids::PaymentItemId;
use crate::domain::public_id;

/// How to reach the PayPal account payouts are made from.
#[derive(Clone)]
pub struct PayPalConfig {
    /// e.g. `https://api-m.paypal.com` (or the sandbox's).
    pub api_url: String,
    pub client_id: String,
    pub client_secret: String,
    /// The id PayPal gave this server's webhook, which signature checks need.
    pub webhook_id: Option<String>,
    /// How long one call may take.
    pub timeout: Duration,
}

/// Secrets never reach a log: the client id and secret print as `***`.
impl fmt::Debug for PayPalConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PayPalConfig")
            .field("api_url", &self.api_url)
            .field("client_id", &"***")
            .field("client_secret", &"***")
            .field("webhook_id", &self.webhook_id)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Items read per status page (PayPal's largest page).
const PAGE_SIZE: usize = 1_000;
/// The most status pages read for one batch (a payment has at most this many thousand items).
const MAX_PAGES: usize = 100;

pub struct PayPal {
    config: PayPalConfig,
    http: reqwest::Client,
    /// The OAuth2 access token and when to stop using it.
    token: Mutex<Option<(String, Instant)>>,
}

impl PayPal {
    pub fn new(config: PayPalConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the PayPal HTTP client")?;
        Ok(PayPal {
            config: PayPalConfig {
                api_url: config.api_url.trim_end_matches('/').to_string(),
                ..config
            },
            http,
            token: Mutex::new(None),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.api_url)
    }

    /// An access token (OAuth2 client credentials), reused until shortly before it expires.
    async fn access_token(&self) -> anyhow::Result<String> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let response = self
            .http
            .post(self.url("/v1/oauth2/token"))
            .basic_auth(&self.config.client_id, Some(&self.config.client_secret))
            .header("Accept", "application/json")
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .context("PayPal token request")?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("PayPal refused the credentials: {status} {}", error_name(&body));
        }
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| anyhow!("PayPal's token answer has no access_token"))?
            .to_string();
        let lifetime = body["expires_in"].as_u64().unwrap_or(300);
        let until = Instant::now() + Duration::from_secs(lifetime.saturating_sub(60).max(1));
        *cached = Some((token.clone(), until));
        Ok(token)
    }

    /// Sends a request with the access token, getting a new token once if PayPal says it expired.
    async fn call(
        &self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        for attempt in 0..2 {
            let token = self.access_token().await?;
            let response = build(&self.http)
                .bearer_auth(&token)
                .header("Accept", "application/json")
                .send()
                .await
                .context("PayPal request")?;
            let status = response.status();
            if status == reqwest::StatusCode::UNAUTHORIZED && attempt == 0 {
                *self.token.lock().await = None;
                continue;
            }
            let body: Value = response.json().await.unwrap_or(Value::Null);
            return Ok((status, body));
        }
        bail!("PayPal refused a fresh access token")
    }

    /// Creates the payment's batch, or finds it when it was created before. Only a
    /// `first` request may conclude from a refusal that nothing was paid: a resend
    /// could be refused because the original went through.
    async fn create(&self, batch: &PayoutBatch, first: bool) -> anyhow::Result<BatchReport> {
        let body = payout_request(batch);
        let (status, answer) = self
            .call(|http| http.post(self.url("/v1/payments/payouts")).json(&body))
            .await?;
        if status.is_success() {
            let batch_id = answer["batch_header"]["payout_batch_id"]
                .as_str()
                .ok_or_else(|| anyhow!("PayPal's payout answer has no payout_batch_id"))?
                .to_string();
            // The items' statuses, when PayPal has them already; else they come later.
            return match self.fetch(batch, &batch_id).await {
                Ok(report) => Ok(report),
                Err(error) => {
                    tracing::warn!(%error, payout_batch_id = %batch_id, "PayPal batch created; its status comes later");
                    Ok(BatchReport {
                        provider_batch_id: Some(batch_id),
                        items: Vec::new(),
                    })
                }
            };
        }
        if status.is_server_error() {
            bail!("PayPal answered {status} {}", error_name(&answer));
        }
        // A sender_batch_id used before: PayPal links to the original batch.
        if let Some(batch_id) = linked_batch_id(&answer) {
            return self.fetch(batch, &batch_id).await;
        }
        if !first {
            bail!(
                "PayPal refused a resend of {} without linking the original batch: {status} {}",
                sender_batch_id(batch),
                error_name(&answer)
            );
        }
        // Refused outright (e.g. insufficient funds): no batch exists, nothing was paid.
        tracing::warn!(payment_id = %batch.payment_id, %status, error = error_name(&answer), "PayPal refused the payout");
        let refusal = status_word(error_name(&answer));
        Ok(BatchReport {
            provider_batch_id: None,
            items: batch
                .items
                .iter()
                .map(|item| ItemOutcome {
                    item_id: item.item_id,
                    state: PaymentState::Failed,
                    reference: None,
                    provider_status: refusal.clone(),
                })
                .collect(),
        })
    }

    /// The batch's status and its items', page by page.
    async fn fetch(&self, batch: &PayoutBatch, batch_id: &str) -> anyhow::Result<BatchReport> {
        if batch_id.is_empty()
            || !batch_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bail!("PayPal gave a payout_batch_id this server will not put in a URL: {batch_id:?}");
        }
        let mut outcomes = Vec::new();
        let mut batch_status = String::new();
        for page in 1..=MAX_PAGES {
            let path = format!("/v1/payments/payouts/{batch_id}?page={page}&page_size={PAGE_SIZE}&total_required=true");
            let (status, answer) = self.call(|http| http.get(self.url(&path))).await?;
            if !status.is_success() {
                bail!("PayPal answered {status} {} for batch {batch_id}", error_name(&answer));
            }
            batch_status = answer["batch_header"]["batch_status"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let items = answer["items"].as_array().cloned().unwrap_or_default();
            outcomes.extend(items.iter().filter_map(|item| item_outcome(item, batch)));
            let pages = answer["total_pages"].as_u64().unwrap_or(1) as usize;
            if items.len() < PAGE_SIZE || page >= pages {
                break;
            }
        }
        // A denied (or canceled) batch pays none of its items, listed or not.
        if matches!(batch_status.as_str(), "DENIED" | "CANCELED") {
            for item in &batch.items {
                if !outcomes.iter().any(|o: &ItemOutcome| o.item_id == item.item_id) {
                    outcomes.push(ItemOutcome {
                        item_id: item.item_id,
                        state: PaymentState::Failed,
                        reference: None,
                        provider_status: Some(batch_status.clone()),
                    });
                }
            }
        }
        Ok(BatchReport {
            provider_batch_id: Some(batch_id.to_string()),
            items: outcomes,
        })
    }

    /// Whether PayPal vouches for a webhook delivery (`POST
    /// /v1/notifications/verify-webhook-signature` with its transmission headers).
    pub async fn verify_webhook(&self, headers: &WebhookHeaders, event: &Value) -> anyhow::Result<bool> {
        let webhook_id = self
            .config
            .webhook_id
            .as_deref()
            .ok_or_else(|| anyhow!("no PayPal webhook id is configured (--paypal-webhook-id)"))?;
        let body = json!({
            "auth_algo": headers.auth_algo,
            "cert_url": headers.cert_url,
            "transmission_id": headers.transmission_id,
            "transmission_sig": headers.transmission_sig,
            "transmission_time": headers.transmission_time,
            "webhook_id": webhook_id,
            "webhook_event": event,
        });
        let (status, answer) = self
            .call(|http| {
                http.post(self.url("/v1/notifications/verify-webhook-signature"))
                    .json(&body)
            })
            .await?;
        if !status.is_success() {
            bail!("PayPal answered {status} {} to a signature check", error_name(&answer));
        }
        Ok(answer["verification_status"] == "SUCCESS")
    }
}

#[async_trait]
impl PayoutProvider for PayPal {
    fn name(&self) -> PaymentProvider {
        PaymentProvider::Paypal
    }

    async fn submit(&self, batch: &PayoutBatch) -> anyhow::Result<BatchReport> {
        self.create(batch, true).await
    }

    async fn check(&self, batch: &PayoutBatch, provider_batch_id: Option<&str>) -> anyhow::Result<BatchReport> {
        match provider_batch_id {
            Some(batch_id) => self.fetch(batch, batch_id).await,
            // Never learnt: sending the same sender_batch_id again finds it (or, if
            // the first request never reached PayPal, makes it now, once).
            None => self.create(batch, false).await,
        }
    }

    async fn verify_notification(&self, notification: &Notification) -> anyhow::Result<Vouched> {
        let header = |name: &str| {
            notification
                .headers
                .get(name)
                .filter(|v| !v.is_empty() && v.len() <= 2_048)
                .cloned()
                .ok_or_else(|| name.to_string())
        };
        let read = || -> Result<WebhookHeaders, String> {
            Ok(WebhookHeaders {
                auth_algo: header("paypal-auth-algo")?,
                cert_url: header("paypal-cert-url")?,
                transmission_id: header("paypal-transmission-id")?,
                transmission_sig: header("paypal-transmission-sig")?,
                transmission_time: header("paypal-transmission-time")?,
            })
        };
        let headers = match read() {
            Ok(headers) => headers,
            Err(missing) => return Ok(Vouched::Malformed(missing)),
        };
        Ok(match self.verify_webhook(&headers, &notification.event).await? {
            true => Vouched::Yes,
            false => Vouched::No,
        })
    }

    fn notified_batch_id<'a>(&self, event: &'a Value) -> Option<&'a str> {
        webhook_batch_id(event)
    }
}

/// The transmission headers PayPal signs a webhook delivery with.
#[derive(Clone, Debug, Default)]
pub struct WebhookHeaders {
    pub auth_algo: String,
    pub cert_url: String,
    pub transmission_id: String,
    pub transmission_sig: String,
    pub transmission_time: String,
}

/// The batch a payout webhook event is about (batch events carry a batch header,
/// item events the item's batch id).
pub fn webhook_batch_id(event: &Value) -> Option<&str> {
    let resource = &event["resource"];
    resource["batch_header"]["payout_batch_id"]
        .as_str()
        .or_else(|| resource["payout_batch_id"].as_str())
}

/// The sender_batch_id of a payment: stable across retries, unique per payment.
pub fn sender_batch_id(batch: &PayoutBatch) -> String {
    format!("sales-tracking-{}", batch.payment_id)
}

fn payout_request(batch: &PayoutBatch) -> Value {
    let items: Vec<Value> = batch
        .items
        .iter()
        .map(|item| {
            let recipient_type = if item.recipient.contains('@') { "EMAIL" } else { "PHONE" };
            json!({
                "recipient_type": recipient_type,
                "receiver": item.recipient,
                "amount": { "value": format_in(item.amount, &item.currency), "currency": item.currency },
                "note": format!("Commission from {}", batch.brand_name),
                "sender_item_id": item.item_id.to_string(),
            })
        })
        .collect();
    json!({
        "sender_batch_header": {
            "sender_batch_id": sender_batch_id(batch),
            "email_subject": format!("You have a payout from {}", batch.brand_name),
            "email_message": format!("{} paid your commission.", batch.brand_name),
        },
        "items": items,
    })
}

/// One item of a status answer, if it is one of the batch's: by the
/// `sender_item_id` it was sent with, else by its receiver when only one item of
/// the batch has that receiver.
fn item_outcome(item: &Value, batch: &PayoutBatch) -> Option<ItemOutcome> {
    let sent = &item["payout_item"];
    let by_sender_id = sent["sender_item_id"]
        .as_str()
        .and_then(|id| public_id::parse::<PaymentItemId>(id).ok())
        .filter(|id| batch.items.iter().any(|i| i.item_id == *id));
    let by_receiver = || {
        let receiver = sent["receiver"].as_str()?;
        let mut matching = batch.items.iter().filter(|i| i.recipient == receiver);
        let only = matching.next()?;
        matching.next().is_none().then_some(only.item_id)
    };
    let item_id = by_sender_id.or_else(by_receiver)?;
    let status = item["transaction_status"].as_str().unwrap_or("PENDING");
    Some(ItemOutcome {
        item_id,
        state: item_state(status),
        reference: item["payout_item_id"].as_str().map(str::to_string),
        provider_status: status_word(status),
    })
}

/// What PayPal's `transaction_status` means for an item: `SUCCESS` is paid; a
/// failed, returned, blocked, refunded, reversed, denied or canceled item is failed
/// (its commission is due again); the rest (pending, unclaimed, on hold) is not done.
pub fn item_state(transaction_status: &str) -> PaymentState {
    match transaction_status {
        "SUCCESS" => PaymentState::Paid,
        "FAILED" | "RETURNED" | "BLOCKED" | "REFUNDED" | "REVERSED" | "DENIED" | "CANCELED" => PaymentState::Failed,
        _ => PaymentState::Processing,
    }
}

/// The original batch a duplicate-sender_batch_id error links to.
fn linked_batch_id(error: &Value) -> Option<String> {
    error["links"].as_array()?.iter().find_map(|link| {
        let href = link["href"].as_str()?;
        let (_, rest) = href.split_once("/v1/payments/payouts/")?;
        let id = rest.split(['?', '/', '#']).next()?;
        (!id.is_empty()).then(|| id.to_string())
    })
}

fn error_name(body: &Value) -> &str {
    body["name"].as_str().or_else(|| body["error"].as_str()).unwrap_or("")
}

/// A provider status as stored: PayPal's upper-case words only.
fn status_word(word: &str) -> Option<String> {
    let valid = !word.is_empty() && word.len() <= 40 && word.chars().all(|c| c.is_ascii_uppercase() || c == '_');
    valid.then(|| word.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    #[test]
    fn statuses_map_to_item_states() {
        assert_eq!(item_state("SUCCESS"), PaymentState::Paid);
        for failed in ["FAILED", "RETURNED", "BLOCKED", "REFUNDED", "REVERSED", "DENIED"] {
            assert_eq!(item_state(failed), PaymentState::Failed, "{failed}");
        }
        for waiting in ["PENDING", "UNCLAIMED", "ONHOLD", "NEW", "anything"] {
            assert_eq!(item_state(waiting), PaymentState::Processing, "{waiting}");
        }
    }

    #[test]
    fn a_duplicate_error_links_to_the_original_batch() {
        let error = json!({
            "name": "USER_BUSINESS_ERROR",
            "message": "Batch with given sender_batch_id already exists",
            "links": [{ "href": "https://api-m.sandbox.paypal.com/v1/payments/payouts/5UXD2E8A7EBQJ", "rel": "self", "method": "GET" }]
        });
        assert_eq!(linked_batch_id(&error).as_deref(), Some("5UXD2E8A7EBQJ"));
        assert_eq!(linked_batch_id(&json!({ "name": "INSUFFICIENT_FUNDS" })), None);
    }

    #[test]
    fn status_items_are_matched_by_sender_item_id_else_by_a_unique_receiver() {
        use crate::domain::ids::PaymentId;
        let item = |number: i64, recipient: &str| crate::app::ports::PayoutItem {
            item_id: PaymentItemId(number),
            recipient: recipient.into(),
            amount: Decimal::ONE,
            currency: "USD".into(),
        };
        let batch = PayoutBatch {
            payment_id: PaymentId(1),
            brand_name: "Trail Co".into(),
            items: vec![
                item(7, "a@example.com"),
                item(8, "b@example.com"),
                item(9, "b@example.com"),
            ],
        };
        let status =
            |sent: Value| json!({ "transaction_status": "SUCCESS", "payout_item_id": "X1", "payout_item": sent });
        let by_id = item_outcome(&status(json!({ "sender_item_id": "payment_item_8" })), &batch).unwrap();
        assert_eq!((by_id.item_id, by_id.state), (PaymentItemId(8), PaymentState::Paid));
        let by_receiver = item_outcome(&status(json!({ "receiver": "a@example.com" })), &batch).unwrap();
        assert_eq!(by_receiver.item_id, PaymentItemId(7));
        assert!(
            item_outcome(&status(json!({ "receiver": "b@example.com" })), &batch).is_none(),
            "ambiguous"
        );
        assert!(
            item_outcome(&status(json!({ "sender_item_id": "payment_item_99" })), &batch).is_none(),
            "not ours"
        );
    }

    #[test]
    fn the_config_never_prints_its_secrets() {
        let config = PayPalConfig {
            api_url: "https://api-m.paypal.com".into(),
            client_id: "client-id-123".into(),
            client_secret: "secret-456".into(),
            webhook_id: None,
            timeout: Duration::from_secs(1),
        };
        let printed = format!("{config:?}");
        assert!(
            !printed.contains("client-id-123") && !printed.contains("secret-456"),
            "{printed}"
        );
    }
}
