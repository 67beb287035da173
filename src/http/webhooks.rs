//! `POST /webhooks/{brand}/orders/{source}`: orders and refunds from shops.
//!
//! The body is signed like Shopify's webhooks: `X-Shopify-Hmac-Sha256` is the
//! base64 HMAC-SHA256 of the raw body with the brand's webhook secret. A bad or
//! missing signature is 401 and nothing is read. Two shapes are understood:
//! Shopify's (source `shopify`, the event in `X-Shopify-Topic`) and the generic
//! one (any other source), documented in the README.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

use super::error::RestError;
use super::{AppState, ClientAddress};
use crate::app::AppError;
use crate::app::orders::{self, Applied, ChangeError, OrderEvent, OrderInput, Recorded, WebhookOrder};
use crate::app::records::ConversionRow;
use crate::app::shopify as app_shopify;
use crate::domain::currency::is_code;
use crate::domain::currency::{MOST_MINOR_UNITS, minor_units};
use crate::domain::currency::{Price, shop_sale};
use crate::domain::money::{format_money, parse_amount_with};
use crate::domain::nesting;
use crate::domain::tracking::click_id_from_landing;
use crate::domain::validate;

fn bad(message: impl Into<String>) -> RestError {
    RestError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message.into())
}

/// A 429 saying why and when to come back.
fn throttled(state: &AppState, why: &str, throttled: crate::rate_limit::Throttled) -> RestError {
    state.metrics().throttled.inc();
    state.metrics().webhook_failure("throttled");
    let seconds = throttled.retry_after_secs();
    RestError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "THROTTLED",
        format!("{why}; retry in {seconds} s"),
    )
    .with_retry_after(seconds)
}

/// The signature is checked before the brand's budget is spent, so unsigned
/// requests cannot starve a brand's real orders; failed signatures are limited
/// per client address on their own (each takes a point, and an address out of
/// points is refused before any lookup), so a flood of them costs little.
pub async fn receive(
    State(state): State<AppState>,
    client: ClientAddress,
    Path((brand_slug, source)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let failures = client.subject("signature");
    if let Err(over) = state.failed_auth.check(&failures, 1) {
        return throttled(&state, "too many failed signatures from this address", over).into_response();
    }
    match handle(&state, &brand_slug, &source, &headers, &body, &failures).await {
        Ok(response) => response,
        Err(refusal) if refusal.status == StatusCode::TOO_MANY_REQUESTS => refusal.into_response(),
        Err(refusal) => {
            state.metrics().webhook_failure(match refusal.status {
                StatusCode::UNAUTHORIZED => "signature",
                StatusCode::BAD_REQUEST => "bad_request",
                StatusCode::NOT_FOUND => "not_found",
                StatusCode::CONFLICT => "conflict",
                _ => "internal",
            });
            refusal.into_response()
        }
    }
}

async fn handle(
    state: &AppState,
    brand_slug: &str,
    source: &str,
    headers: &HeaderMap,
    body: &[u8],
    failures: &str,
) -> Result<Response, RestError> {
    let internal = |e: AppError| match e {
        // An amount the brand's rules cannot price (e.g. a commission beyond range).
        AppError::BadUserInput(message) => RestError::new(StatusCode::UNPROCESSABLE_ENTITY, "BAD_REQUEST", message),
        e => {
            tracing::error!(error = ?e, "webhook failed");
            RestError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "internal error")
        }
    };
    let no_brand = || {
        let _ = state.failed_auth.take(failures, 1);
        RestError::new(StatusCode::NOT_FOUND, "NOT_FOUND", format!("no brand '{brand_slug}'"))
    };
    let failed_signature = |refusal| {
        let _ = state.failed_auth.take(failures, 1);
        refusal
    };
    // No secret can make a missing or malformed signature right: refused before any lookup.
    let signature = signature_of(headers).map_err(failed_signature)?;
    let signers = state.app.webhook_signers();
    let mut signer = signers
        .get(&state.app, brand_slug, false)
        .await
        .map_err(internal)?
        .ok_or_else(no_brand)?;
    if check_signature(signer.secret.as_deref(), &signature, body).is_err() {
        // The secret may have changed since it was read: check with the stored one.
        signer = signers
            .get(&state.app, brand_slug, true)
            .await
            .map_err(internal)?
            .ok_or_else(no_brand)?;
        check_signature(signer.secret.as_deref(), &signature, body).map_err(failed_signature)?;
    }
    let (brand, time_zone) = (&signer.brand, signer.time_zone);
    let conn = || async { state.app.tracking_conn().await.map_err(internal) };
    state
        .webhook_budget
        .take(brand_slug, 1)
        .map_err(|over| throttled(state, "over the brand's webhook rate limit", over))?;
    validate::order_source(source).map_err(bad)?;
    let payload = json_body(body)?;
    let event = if source == "shopify" {
        let topic = headers
            .get("x-shopify-topic")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("orders/create");
        if topic == "app/uninstalled" {
            // The shop's own domain, from the header Shopify sends with every webhook.
            let shop = headers
                .get("x-shopify-shop-domain")
                .and_then(|v| v.to_str().ok())
                .or_else(|| payload["myshopify_domain"].as_str())
                .unwrap_or_default();
            let disconnected = app_shopify::app_uninstalled(&mut *conn().await?, brand.id, shop)
                .await
                .map_err(internal)?;
            let status = if disconnected { "disconnected" } else { "ignored" };
            return Ok((StatusCode::OK, axum::Json(json!({ "status": status }))).into_response());
        }
        parse_shopify(topic, &payload, source, &brand.currency)?
    } else {
        parse_generic(&payload, source, &brand.currency)?
    };
    let delivery_id = match headers.get("x-shopify-webhook-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|id| validate::external_id("X-Shopify-Webhook-Id", id).ok())
                .ok_or_else(|| bad("X-Shopify-Webhook-Id is not a delivery id"))?,
        ),
        None => None,
    };
    // An order sold in another currency is valued in the brand's at its day's rate.
    // Until that rate is published it is kept as received, and recorded once it is.
    // (In the brand's own currency it needs no connection.)
    let mut event = event;
    if let OrderEvent::Created(order) = &mut event
        && order.needs_rate(&brand.currency)
    {
        let valued = orders::value_in_brand_currency(&mut *conn().await?, &brand.currency, time_zone, order)
            .await
            .map_err(internal)?;
        if !valued {
            orders::hold_for_rate(&mut *conn().await?, brand.id, order)
                .await
                .map_err(internal)?;
            return Ok((
                StatusCode::ACCEPTED,
                axum::Json(json!({ "status": "awaiting_rate", "currency": order.currency })),
            )
                .into_response());
        }
    }
    let refunded_order = match &event {
        OrderEvent::Refunded { external_order_id, .. } => Some(external_order_id.clone()),
        OrderEvent::Created(_) => None,
    };
    let applied = match event {
        OrderEvent::Created(order) => {
            // The order writer takes connections of its own: none is held while an order waits.
            let order = WebhookOrder {
                brand_id: brand.id,
                time_zone,
                delivery_id,
                order,
            };
            state.app.orders().record(order).await
        }
        refund => {
            let mut conn = conn().await?;
            orders::apply_event(&mut conn, brand.id, time_zone, source, delivery_id.as_deref(), refund).await
        }
    };
    match applied {
        Ok(Applied::Recorded(Recorded::New(row))) => {
            if row.membership_id.is_some() {
                state.app.kpis_changed(brand.id);
                state.metrics().orders_accepted.inc();
            } else {
                state.metrics().orders_unattributed.inc();
            }
            Ok(answer("recorded", &row))
        }
        Ok(Applied::Recorded(Recorded::Duplicate(row))) => {
            state.metrics().orders_duplicate.inc();
            Ok(answer("duplicate", &row))
        }
        Ok(Applied::Refunded(row)) => {
            state.app.kpis_changed(brand.id);
            state.metrics().orders_refunded.inc();
            Ok(answer("refunded", &row))
        }
        Ok(Applied::RefundAwaitingRate) => Ok((
            StatusCode::ACCEPTED,
            axum::Json(json!({ "status": "awaiting_rate", "refund": "kept with its order" })),
        )
            .into_response()),
        Ok(Applied::Redelivered) => {
            state.metrics().orders_duplicate.inc();
            Ok((StatusCode::OK, axum::Json(json!({ "status": "duplicate" }))).into_response())
        }
        Err(ChangeError::Refund(e)) => Err(bad(e.to_string())),
        Err(ChangeError::NotAccepted(status)) => Err(RestError::new(
            StatusCode::CONFLICT,
            "CONFLICT",
            format!("the order is {} and cannot be refunded", status.as_str()),
        )),
        Err(ChangeError::NotFound) => Err(RestError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("no order '{}' from {source}", refunded_order.unwrap_or_default()),
        )),
        Err(ChangeError::Db(e)) => Err(internal(e.into())),
    }
}

fn answer(status: &str, row: &ConversionRow) -> Response {
    let conversion = json!({
        "id": row.id.to_string(),
        "externalOrderId": row.external_order_id,
        "status": row.status.as_str(),
        "attribution": row.attribution.map(|a| a.as_str()),
        "membershipId": row.membership_id.map(|id| id.to_string()),
        "saleAmount": format_money(row.sale_amount),
        "commission": format_money(row.commission),
    });
    (
        StatusCode::OK,
        axum::Json(json!({ "status": status, "conversion": conversion })),
    )
        .into_response()
}

/// The body as JSON, its nesting measured before serde_json recurses into it.
pub(super) fn json_body(body: &[u8]) -> Result<Value, RestError> {
    let text = std::str::from_utf8(body).map_err(|_| bad("the body is not UTF-8"))?;
    nesting::check(text, nesting::Syntax::Json, nesting::MAX_NESTING, "the body")
        .map_err(|too_deep| bad(too_deep.to_string()))?;
    serde_json::from_str(text).map_err(|e| bad(format!("the body is not JSON: {e}")))
}

/// Constant-time check of the base64 HMAC-SHA256 of the raw body.
pub(super) fn verify_signature(secret: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Result<(), RestError> {
    check_signature(secret, &signature_of(headers)?, body)
}

fn unauthorized(message: &str) -> RestError {
    RestError::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message)
}

/// The decoded X-Shopify-Hmac-Sha256 header.
fn signature_of(headers: &HeaderMap) -> Result<Vec<u8>, RestError> {
    headers
        .get("x-shopify-hmac-sha256")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v.trim()).ok())
        .ok_or_else(|| unauthorized("missing or malformed X-Shopify-Hmac-Sha256 signature"))
}

fn check_signature(secret: Option<&str>, signature: &[u8], body: &[u8]) -> Result<(), RestError> {
    let secret =
        secret.ok_or_else(|| unauthorized("the brand has no webhook secret yet: set one with setWebhookSecret"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac.verify_slice(signature)
        .map_err(|_| unauthorized("the signature does not match the body"))
}

/// An amount of `currency` as a string (or a plain JSON number), read strictly:
/// at most the currency's decimals (two, none for JPY, three for KWD), not
/// negative, and, in the brand's currency, at most `MAX_ORDER_AMOUNT` (an amount
/// in another is held to it once valued). A refund's currency is its order's,
/// not known here: `None` reads up to three decimals, checked when applied.
fn money(value: Option<&Value>, field: &str, currency: Option<(&str, &str)>) -> Result<Decimal, RestError> {
    let text = match value {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        None | Some(Value::Null) => return Err(bad(format!("{field} is missing"))),
        Some(_) => {
            return Err(bad(format!("{field} must be a decimal string such as \"19.99\"")));
        }
    };
    let decimals = currency.map_or(MOST_MINOR_UNITS, |(sold_in, _)| minor_units(sold_in));
    let amount = parse_amount_with(&text, decimals).map_err(|e| bad(format!("{field}: {e}")))?;
    match currency {
        Some((sold_in, brand_currency)) if sold_in != brand_currency => {
            if amount.is_sign_negative() {
                return Err(bad(format!("{field} must not be negative")));
            }
            Ok(amount)
        }
        _ => validate::sale_amount(field, amount).map_err(bad),
    }
}

fn text_id(value: Option<&Value>, field: &str) -> Result<String, RestError> {
    match value {
        Some(Value::String(s)) => validate::external_id(field, s).map_err(bad),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(bad(format!("{field} is missing"))),
    }
}

/// An order's currency (ISO 4217; none: the brand's).
fn currency(value: Option<&Value>, brand_currency: &str) -> Result<String, RestError> {
    match value {
        None | Some(Value::Null) => Ok(brand_currency.to_string()),
        Some(Value::String(code)) if is_code(&code.to_ascii_uppercase()) => Ok(code.to_ascii_uppercase()),
        Some(other) => Err(bad(format!("currency {other} is not an ISO 4217 code such as \"EUR\""))),
    }
}

/// The day of an order's time as the shop wrote it (in the shop's zone); today
/// (UTC) without one, as `time` reads a missing time as now.
fn shop_day(value: Option<&Value>) -> chrono::NaiveDate {
    value
        .and_then(Value::as_str)
        .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
        .map_or_else(|| Utc::now().date_naive(), |at| at.date_naive())
}

/// An order's time (RFC 3339), within the window `validate::order_time` allows.
fn time(value: Option<&Value>) -> Result<DateTime<Utc>, RestError> {
    let at = match value.and_then(Value::as_str) {
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                bad(format!(
                    "'{}' is not an RFC 3339 time",
                    text.chars().take(40).collect::<String>()
                ))
            })?,
        None => return Ok(Utc::now()),
    };
    validate::order_time(at, Utc::now())
        .map_err(|message| RestError::new(StatusCode::UNPROCESSABLE_ENTITY, "BAD_REQUEST", message))
}

fn parse_shopify(topic: &str, order: &Value, source: &str, brand_currency: &str) -> Result<OrderEvent, RestError> {
    match topic {
        "orders/create" | "orders/paid" => {
            // What the shop got and what the buyer paid (`shop_sale` books them).
            let prices = &order["total_price_set"];
            let read = |set: &str| -> Result<Option<Price>, RestError> {
                let price = &prices[set];
                if !price.is_object() {
                    return Ok(None);
                }
                let sold_in = currency(price.get("currency_code"), brand_currency)?;
                let field = format!("total_price_set.{set}.amount");
                Ok(Some(Price {
                    amount: money(price.get("amount"), &field, Some((&sold_in, brand_currency)))?,
                    currency: sold_in,
                }))
            };
            let (shop, presentment) = (read("shop_money")?, read("presentment_money")?);
            let day = shop_day(order.get("created_at"));
            let (sale, valuation) = match shop_sale(shop, presentment, brand_currency, day) {
                Some(booked) => booked,
                None => {
                    let sold_in = currency(order.get("currency"), brand_currency)?;
                    let amount = money(
                        order.get("total_price"),
                        "total_price",
                        Some((&sold_in, brand_currency)),
                    )?;
                    (
                        Price {
                            amount,
                            currency: sold_in,
                        },
                        None,
                    )
                }
            };
            let promo_codes = order["discount_codes"]
                .as_array()
                .map(|codes| {
                    codes
                        .iter()
                        .filter_map(|c| c["code"].as_str().and_then(validate::typed_code))
                        .collect()
                })
                .unwrap_or_default();
            Ok(OrderEvent::Created(OrderInput {
                source: source.to_string(),
                external_order_id: text_id(order.get("id"), "id")?,
                occurred_at: time(order.get("created_at"))?,
                sale_amount: sale.amount,
                currency: sale.currency,
                promo_codes,
                click_id: order["landing_site"].as_str().and_then(click_id_from_landing),
                history: false,
                valuation,
            }))
        }
        "refunds/create" => {
            let transactions = order["transactions"]
                .as_array()
                .filter(|t| !t.is_empty())
                .ok_or_else(|| bad("a refund needs transactions"))?;
            let mut amount = Decimal::ZERO;
            for transaction in transactions
                .iter()
                .filter(|t| t["kind"].as_str().is_none_or(|k| k == "refund"))
            {
                amount += money(transaction.get("amount"), "transactions[].amount", None)?;
            }
            Ok(OrderEvent::Refunded {
                external_order_id: text_id(order.get("order_id"), "order_id")?,
                amount: Some(amount),
                reference: format!("shopify-refund-{}", text_id(order.get("id"), "id")?),
            })
        }
        "orders/cancelled" => Ok(OrderEvent::Refunded {
            external_order_id: text_id(order.get("id"), "id")?,
            amount: None,
            reference: "shopify-cancelled".to_string(),
        }),
        other => Err(bad(format!("unsupported X-Shopify-Topic '{other}'"))),
    }
}

fn parse_generic(event: &Value, source: &str, brand_currency: &str) -> Result<OrderEvent, RestError> {
    let order_id = text_id(event.get("order_id"), "order_id")?;
    match event["event"].as_str() {
        Some("order.created") => {
            let sold_in = currency(event.get("currency"), brand_currency)?;
            let click_id = match event["click_id"].as_str() {
                Some(text) => Some(Uuid::parse_str(text).map_err(|_| bad("click_id is not a click id"))?),
                None => event["landing_url"].as_str().and_then(click_id_from_landing),
            };
            Ok(OrderEvent::Created(OrderInput {
                source: source.to_string(),
                external_order_id: order_id,
                occurred_at: time(event.get("occurred_at"))?,
                sale_amount: money(event.get("amount"), "amount", Some((&sold_in, brand_currency)))?,
                currency: sold_in,
                promo_codes: event["promo_code"]
                    .as_str()
                    .and_then(validate::typed_code)
                    .into_iter()
                    .collect(),
                click_id,
                history: false,
                valuation: None,
            }))
        }
        Some("order.refunded") => {
            let amount = match event.get("amount") {
                None | Some(Value::Null) => None,
                some => Some(money(some, "amount", None)?),
            };
            // Without the shop's refund id two real refunds of the same amount could not
            // be told from one refund sent twice.
            let reference = match event.get("refund_id") {
                None | Some(Value::Null) => return Err(bad("a refund needs its refund_id")),
                some => text_id(some, "refund_id")?,
            };
            Ok(OrderEvent::Refunded {
                external_order_id: order_id,
                amount,
                reference,
            })
        }
        _ => Err(bad("event must be order.created or order.refunded")),
    }
}
