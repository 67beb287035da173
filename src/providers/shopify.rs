//! Shopify's GraphQL Admin API: `POST {base}/admin/api/{API_VERSION}/graphql.json`
//! with the store's token in `X-Shopify-Access-Token`. Shopify limits each store
//! by query cost: a throttled answer (`errors[].extensions.code` `THROTTLED`, or a
//! 429) says how long until enough points are back, from
//! `extensions.cost.throttleStatus`.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::app::ports::{
    CodeOutcome, OrderPage, OrderRange, ShopAccess, ShopAccessGrant, ShopClient, ShopCode, ShopDiscount, ShopError,
    ShopInfo, ShopOrder, ShopRefund, ShopifyApp,
};
use crate::domain::currency::Price;
use crate::domain::enums::ShopperDiscountType;
use crate::domain::money::format_money;

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

/// Redeem codes Shopify takes in one bulk add or delete.
const CODES_PER_CALL: usize = 250;
/// How long a bulk add is waited for before its codes are left for the next round.
const BULK_WAIT: Duration = Duration::from_secs(10);

/// The `userErrors` of a mutation's payload, as one refusal (none: it went through).
fn user_errors(payload: &Value) -> Result<(), ShopError> {
    match payload["userErrors"].as_array().filter(|errors| !errors.is_empty()) {
        None => Ok(()),
        Some(errors) => Err(ShopError::Refused(messages(errors, "message"))),
    }
}

/// `DiscountCodeBasicInput` for a discount's terms (`code` only when creating).
fn discount_input(discount: &ShopDiscount, code: Option<&str>) -> Value {
    let value = match discount.discount_type {
        // Shopify takes a percentage as a fraction: 10 % is 0.1.
        ShopperDiscountType::Percentage => {
            json!({ "percentage": (discount.value / rust_decimal::Decimal::ONE_HUNDRED).normalize().to_string().parse::<f64>().unwrap_or(0.0) })
        }
        ShopperDiscountType::FixedAmount => {
            json!({ "discountAmount": { "amount": format_money(discount.value), "appliesOnEachItem": false } })
        }
    };
    let mut input = json!({
        "title": discount.title,
        "context": { "all": "ALL" },
        "customerGets": { "value": value, "items": { "all": true } },
        "appliesOncePerCustomer": discount.once_per_customer,
        "minimumRequirement": match discount.minimum_subtotal {
            Some(subtotal) => json!({ "subtotal": { "greaterThanOrEqualToSubtotal": format_money(subtotal) } }),
            None => Value::Null,
        },
    });
    if let Some(code) = code {
        input["code"] = json!(code);
        input["startsAt"] = json!(chrono::Utc::now().to_rfc3339());
    }
    input
}

/// Orders one page asks for: 50 orders with their visits and refunds stay well
/// under a query's 1,000-point cost limit.
const ORDERS_PER_PAGE: usize = 50;

/// The search query (Shopify's search syntax) for orders created in `range`.
fn orders_query(range: &OrderRange) -> String {
    let at = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    format!("created_at:>='{}' created_at:<'{}'", at(range.from), at(range.until))
}

/// An amount of a `MoneyBag`'s shop money.
fn shop_money(bag: &Value) -> Result<rust_decimal::Decimal, ShopError> {
    bag["shopMoney"]["amount"]
        .as_str()
        .and_then(|amount| amount.parse().ok())
        .ok_or_else(|| ShopError::Unavailable("an order's amount is missing or unreadable".into()))
}

/// A `MoneyBag`'s presentment money (the buyer's), when it has any: the amount
/// and, when selected, the currency.
fn presentment_money(bag: &Value) -> Option<(rust_decimal::Decimal, Option<String>)> {
    let money = &bag["presentmentMoney"];
    let amount = money["amount"].as_str()?.parse().ok()?;
    Some((amount, money["currencyCode"].as_str().map(str::to_string)))
}

/// An `Order` node as the orders query selects it.
fn shop_order(node: &Value) -> Result<ShopOrder, ShopError> {
    let unreadable = |what: &str| ShopError::Unavailable(format!("an order's {what} is missing or unreadable"));
    let id = node["legacyResourceId"].as_str().ok_or_else(|| unreadable("id"))?;
    let created_at = node["createdAt"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .ok_or_else(|| unreadable("createdAt"))?
        .with_timezone(&chrono::Utc);
    let journey = &node["customerJourneySummary"];
    let landing_pages = [&journey["lastVisit"], &journey["firstVisit"]]
        .into_iter()
        .filter_map(|visit| visit["landingPage"].as_str().map(str::to_string))
        .collect();
    let refunds = node["refunds"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|refund| {
            Ok(ShopRefund {
                id: refund["legacyResourceId"]
                    .as_str()
                    .ok_or_else(|| unreadable("refund id"))?
                    .to_string(),
                amount: shop_money(&refund["totalRefundedSet"])?,
                paid_amount: presentment_money(&refund["totalRefundedSet"]).map(|price| price.0),
            })
        })
        .collect::<Result<_, ShopError>>()?;
    Ok(ShopOrder {
        id: id.to_string(),
        created_at,
        total: shop_money(&node["totalPriceSet"])?,
        currency: node["totalPriceSet"]["shopMoney"]["currencyCode"]
            .as_str()
            .ok_or_else(|| unreadable("currency"))?
            .to_string(),
        paid: presentment_money(&node["totalPriceSet"]).and_then(|(amount, currency)| {
            Some(Price {
                amount,
                currency: currency?,
            })
        }),
        discount_codes: node["discountCodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|code| code.as_str().map(str::to_string))
            .collect(),
        landing_pages,
        cancelled: !node["cancelledAt"].is_null(),
        refunds,
    })
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

    async fn create_discount(
        &self,
        access: &ShopAccess,
        discount: &ShopDiscount,
        first_code: &str,
    ) -> Result<String, ShopError> {
        let data = self
            .run(
                access,
                "mutation CreateDiscount($discount: DiscountCodeBasicInput!) {
                   discountCodeBasicCreate(basicCodeDiscount: $discount) {
                     codeDiscountNode { id }
                     userErrors { field code message }
                   }
                 }",
                json!({ "discount": discount_input(discount, Some(first_code)) }),
            )
            .await?;
        let payload = &data["discountCodeBasicCreate"];
        user_errors(payload)?;
        payload["codeDiscountNode"]["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| ShopError::Unavailable("the answer names no discount".into()))
    }

    async fn update_discount(&self, access: &ShopAccess, id: &str, discount: &ShopDiscount) -> Result<(), ShopError> {
        let data = self
            .run(
                access,
                "mutation UpdateDiscount($id: ID!, $discount: DiscountCodeBasicInput!) {
                   discountCodeBasicUpdate(id: $id, basicCodeDiscount: $discount) {
                     codeDiscountNode { id }
                     userErrors { field code message }
                   }
                 }",
                json!({ "id": id, "discount": discount_input(discount, None) }),
            )
            .await?;
        user_errors(&data["discountCodeBasicUpdate"])
    }

    async fn discount_codes(&self, access: &ShopAccess, id: &str) -> Result<Option<Vec<ShopCode>>, ShopError> {
        let mut codes = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let data = self
                .run(
                    access,
                    "query DiscountCodes($id: ID!, $after: String) {
                       codeDiscountNode(id: $id) {
                         id
                         codeDiscount {
                           ... on DiscountCodeBasic {
                             codes(first: 250, after: $after) {
                               pageInfo { hasNextPage endCursor }
                               nodes { id code }
                             }
                           }
                         }
                       }
                     }",
                    json!({ "id": id, "after": after }),
                )
                .await?;
            let node = &data["codeDiscountNode"];
            if node.is_null() {
                return Ok(None);
            }
            let page = &node["codeDiscount"]["codes"];
            for code in page["nodes"].as_array().into_iter().flatten() {
                if let (Some(id), Some(text)) = (code["id"].as_str(), code["code"].as_str()) {
                    codes.push(ShopCode {
                        id: id.to_string(),
                        code: text.to_string(),
                    });
                }
            }
            match page["pageInfo"]["endCursor"].as_str() {
                Some(cursor) if page["pageInfo"]["hasNextPage"] == true => after = Some(cursor.to_string()),
                _ => return Ok(Some(codes)),
            }
        }
    }

    async fn add_codes(&self, access: &ShopAccess, id: &str, codes: &[String]) -> Result<Vec<CodeOutcome>, ShopError> {
        let mut outcomes = Vec::with_capacity(codes.len());
        for batch in codes.chunks(CODES_PER_CALL) {
            let inputs: Vec<Value> = batch.iter().map(|code| json!({ "code": code })).collect();
            let data = self
                .run(
                    access,
                    "mutation AddCodes($id: ID!, $codes: [DiscountRedeemCodeInput!]!) {
                       discountRedeemCodeBulkAdd(discountId: $id, codes: $codes) {
                         bulkCreation { id }
                         userErrors { field code message }
                       }
                     }",
                    json!({ "id": id, "codes": inputs }),
                )
                .await?;
            let payload = &data["discountRedeemCodeBulkAdd"];
            user_errors(payload)?;
            let creation = payload["bulkCreation"]["id"]
                .as_str()
                .ok_or_else(|| ShopError::Unavailable("the answer names no bulk creation".into()))?;
            outcomes.extend(self.bulk_outcomes(access, creation, batch).await?);
        }
        Ok(outcomes)
    }

    async fn remove_codes(&self, access: &ShopAccess, id: &str, code_ids: &[String]) -> Result<(), ShopError> {
        for batch in code_ids.chunks(CODES_PER_CALL) {
            let data = self
                .run(
                    access,
                    "mutation RemoveCodes($id: ID!, $ids: [ID!]!) {
                       discountCodeRedeemCodeBulkDelete(discountId: $id, ids: $ids) {
                         job { id }
                         userErrors { field code message }
                       }
                     }",
                    json!({ "id": id, "ids": batch }),
                )
                .await?;
            user_errors(&data["discountCodeRedeemCodeBulkDelete"])?;
        }
        Ok(())
    }

    async fn find_code(&self, access: &ShopAccess, code: &str) -> Result<Option<String>, ShopError> {
        let data = self
            .run(
                access,
                "query FindCode($code: String!) { codeDiscountNodeByCode(code: $code) { id } }",
                json!({ "code": code }),
            )
            .await?;
        Ok(data["codeDiscountNodeByCode"]["id"].as_str().map(str::to_string))
    }

    async fn set_discount_active(&self, access: &ShopAccess, id: &str, active: bool) -> Result<(), ShopError> {
        let field = if active {
            "discountCodeActivate"
        } else {
            "discountCodeDeactivate"
        };
        let query = format!(
            "mutation SetActive($id: ID!) {{ {field}(id: $id) {{ codeDiscountNode {{ id }} userErrors {{ field code message }} }} }}"
        );
        let data = self.run(access, &query, json!({ "id": id })).await?;
        user_errors(&data[field])
    }

    async fn count_orders(&self, access: &ShopAccess, range: &OrderRange) -> Result<u64, ShopError> {
        let data = self
            .run(
                access,
                "query CountOrders($query: String!) { ordersCount(query: $query, limit: null) { count precision } }",
                json!({ "query": orders_query(range) }),
            )
            .await?;
        data["ordersCount"]["count"]
            .as_u64()
            .ok_or_else(|| ShopError::Unavailable("the answer holds no order count".into()))
    }

    async fn orders(
        &self,
        access: &ShopAccess,
        range: &OrderRange,
        after: Option<&str>,
    ) -> Result<OrderPage, ShopError> {
        let data = self
            .run(
                access,
                "query Orders($first: Int!, $after: String, $query: String!) {
                   orders(first: $first, after: $after, query: $query, sortKey: CREATED_AT) {
                     pageInfo { hasNextPage endCursor }
                     nodes {
                       legacyResourceId
                       createdAt
                       cancelledAt
                       totalPriceSet { shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } }
                       discountCodes
                       customerJourneySummary { firstVisit { landingPage } lastVisit { landingPage } }
                       refunds { legacyResourceId totalRefundedSet { shopMoney { amount } presentmentMoney { amount } } }
                     }
                   }
                 }",
                json!({ "first": ORDERS_PER_PAGE, "after": after, "query": orders_query(range) }),
            )
            .await?;
        let page = &data["orders"];
        let orders = page["nodes"]
            .as_array()
            .ok_or_else(|| ShopError::Unavailable("the answer holds no orders".into()))?
            .iter()
            .map(shop_order)
            .collect::<Result<_, _>>()?;
        let next = match page["pageInfo"]["endCursor"].as_str() {
            Some(cursor) if page["pageInfo"]["hasNextPage"] == true => Some(cursor.to_string()),
            _ => None,
        };
        Ok(OrderPage { orders, next })
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

impl ShopifyAdmin {
    /// Waits (within `BULK_WAIT`) for a bulk add to finish and reads what became of
    /// each code; codes it did not report on are left out (the next round sees them).
    async fn bulk_outcomes(
        &self,
        access: &ShopAccess,
        creation: &str,
        asked: &[String],
    ) -> Result<Vec<CodeOutcome>, ShopError> {
        let started = std::time::Instant::now();
        loop {
            let data = self
                .run(
                    access,
                    "query BulkCreation($id: ID!) {
                       discountRedeemCodeBulkCreation(id: $id) {
                         done
                         codes(first: 250) { nodes { code errors { field code message } discountRedeemCode { id } } }
                       }
                     }",
                    json!({ "id": creation }),
                )
                .await?;
            let bulk = &data["discountRedeemCodeBulkCreation"];
            if bulk["done"] == true {
                let reported = bulk["codes"]["nodes"].as_array().cloned().unwrap_or_default();
                return Ok(reported
                    .iter()
                    .filter_map(|node| {
                        let code = node["code"].as_str()?;
                        let errors = node["errors"].as_array().filter(|errors| !errors.is_empty());
                        asked.iter().any(|a| a == code).then(|| CodeOutcome {
                            code: code.to_string(),
                            error: errors.map(|errors| messages(errors, "message")),
                        })
                    })
                    .collect());
            }
            if started.elapsed() > BULK_WAIT {
                return Ok(Vec::new());
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
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
    fn orders_are_asked_for_by_creation_time_in_shopify_search_syntax() {
        let at = |text: &str| {
            chrono::DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&chrono::Utc)
        };
        let range = OrderRange {
            from: at("2026-01-01T05:00:00Z"),
            until: at("2026-02-01T05:00:00Z"),
        };
        assert_eq!(
            orders_query(&range),
            "created_at:>='2026-01-01T05:00:00Z' created_at:<'2026-02-01T05:00:00Z'"
        );
    }

    #[test]
    fn an_order_node_reads_its_id_codes_visits_and_refunds() {
        let node = json!({
            "legacyResourceId": "450789469",
            "createdAt": "2026-03-04T10:00:00Z",
            "cancelledAt": null,
            "totalPriceSet": { "shopMoney": { "amount": "120.50", "currencyCode": "USD" } },
            "discountCodes": ["ANA-7K"],
            "customerJourneySummary": {
                "firstVisit": { "landingPage": "https://shop.example/?st_click=first" },
                "lastVisit": { "landingPage": "https://shop.example/?st_click=last" }
            },
            "refunds": [{ "legacyResourceId": "509562969", "totalRefundedSet": { "shopMoney": { "amount": "20.00" } } }]
        });
        let order = shop_order(&node).unwrap();
        assert_eq!(order.id, "450789469");
        assert_eq!(order.total, rust_decimal::Decimal::new(12050, 2));
        assert_eq!(order.discount_codes, ["ANA-7K"]);
        assert_eq!(order.landing_pages[0], "https://shop.example/?st_click=last");
        assert!(!order.cancelled);
        assert_eq!(order.refunds[0].id, "509562969");
        let without_amount = json!({ "legacyResourceId": "1", "createdAt": "2026-03-04T10:00:00Z" });
        assert!(matches!(shop_order(&without_amount), Err(ShopError::Unavailable(_))));
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
