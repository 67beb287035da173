//! Connecting a Shopify store, against a stand-in of Shopify's GraphQL Admin API
//! written from shopify.dev's reference: `POST /admin/api/{version}/graphql.json`
//! with `X-Shopify-Access-Token`, 401 for a bad token, `THROTTLED` errors with
//! `extensions.cost.throttleStatus`, 5xx, and `userErrors` on mutations.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use crate::common::TestApp;

/// What the stand-in does with the next requests.
#[derive(Default)]
struct Script {
    /// Mutations answered `THROTTLED` before any is served.
    throttled: usize,
    /// Mutations answered 503 before any is served.
    unavailable: usize,
    /// Every mutation after the next discount made is answered 503 (Shopify goes
    /// down right after making it).
    down_after_create: bool,
    /// The token check (`shop`) answered 503.
    check_unavailable: bool,
    /// Revokes every token once a `shop` query has checked it (an app
    /// uninstalled right after connecting).
    revoke_after_check: bool,
    /// Pages of orders answered 503 before any is served.
    orders_unavailable: usize,
    /// Pages of orders answered `THROTTLED` before any is served.
    orders_throttled: usize,
    /// Revokes every token once this many pages of orders were served.
    revoke_after_order_pages: Option<usize>,
}

#[derive(Default)]
struct ShopState {
    /// Token → the scopes it holds.
    tokens: HashMap<String, Vec<&'static str>>,
    script: Script,
    /// (topic, uri) subscribed.
    subscriptions: Vec<(String, String)>,
    requests: usize,
    /// Authorization codes an install may exchange, once each.
    codes: HashSet<String>,
    /// Code discounts by id.
    discounts: Vec<Discount>,
    /// Bulk code creations by id: each code and Shopify's error for it.
    bulk: HashMap<String, Vec<BulkCode>>,
    next_id: usize,
    /// The shop's orders, as the Admin API's `Order` nodes.
    orders: Vec<Value>,
    /// Pages of orders served.
    order_pages: usize,
}

/// One code of a bulk creation: the code, Shopify's error, the redeem code's id.
type BulkCode = (String, Option<String>, Option<String>);

/// A code discount in the stand-in's shop.
#[derive(Clone, Debug)]
pub struct Discount {
    pub id: String,
    pub title: String,
    pub active: bool,
    pub input: Value,
    /// (redeem code id, code)
    pub codes: Vec<(String, String)>,
}

impl ShopState {
    fn next(&mut self, kind: &str) -> String {
        self.next_id += 1;
        format!("gid://shopify/{kind}/{}", self.next_id)
    }

    /// Whether a code is in use anywhere in the shop (Shopify's codes are unique per shop).
    fn in_use(&self, code: &str) -> bool {
        let code = code.to_lowercase();
        self.discounts
            .iter()
            .any(|d| d.codes.iter().any(|(_, c)| c.to_lowercase() == code))
    }
}

const TAKEN: &str = "Code must be unique. Please try a different code.";

/// Shopify's Admin API for one store, on loopback.
#[derive(Clone)]
pub struct ShopifyStandIn {
    pub url: String,
    state: Arc<Mutex<ShopState>>,
}

pub const API_VERSION: &str = "2025-10";
pub const APP_KEY: &str = "st-app-client-id";
pub const APP_SECRET: &str = "st-app-client-secret-0123456789";
pub const TOKEN: &str = "shpat_0123456789abcdef0123456789abcdef";

impl ShopifyStandIn {
    pub async fn start() -> ShopifyStandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stand_in = ShopifyStandIn {
            url,
            state: Default::default(),
        };
        stand_in.grant(TOKEN, &["read_orders", "write_discounts", "read_discounts"]);
        let state = stand_in.clone();
        let exchange = stand_in.clone();
        let routes = axum::Router::new()
            .route(
                &format!("/admin/api/{API_VERSION}/graphql.json"),
                axum::routing::post(move |headers: HeaderMap, body: axum::Json<Value>| {
                    let state = state.clone();
                    async move { state.answer(&headers, &body.0) }
                }),
            )
            .route(
                "/admin/oauth/access_token",
                axum::routing::post(move |body: axum::Json<Value>| {
                    let state = exchange.clone();
                    async move { state.exchange(&body.0) }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, routes).await.unwrap() });
        stand_in
    }

    fn grant(&self, token: &str, scopes: &[&'static str]) {
        self.state.lock().unwrap().tokens.insert(token.into(), scopes.to_vec());
    }

    fn script(&self, script: Script) {
        self.state.lock().unwrap().script = script;
    }

    fn subscriptions(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().subscriptions.clone()
    }

    fn discounts(&self) -> Vec<Discount> {
        self.state.lock().unwrap().discounts.clone()
    }

    /// Another discount of the shop, not ours, uses `code`.
    fn take(&self, code: &str) {
        let mut state = self.state.lock().unwrap();
        let id = state.next("DiscountCodeNode");
        let code_id = state.next("DiscountRedeemCode");
        state.discounts.push(Discount {
            id,
            title: "Creator codes".into(),
            active: true,
            input: json!({}),
            codes: vec![(code_id, code.into())],
        });
    }

    /// The codes of the shop's discount named `title`.
    fn codes_of(&self, title: &str) -> Vec<String> {
        let state = self.state.lock().unwrap();
        let discount = state.discounts.iter().find(|d| d.title == title);
        discount
            .map(|d| d.codes.iter().map(|(_, c)| c.clone()).collect())
            .unwrap_or_default()
    }

    /// Drift: someone deletes a code, or a whole discount, in Shopify's admin.
    fn delete_code(&self, code: &str) {
        for discount in &mut self.state.lock().unwrap().discounts {
            discount.codes.retain(|(_, c)| c != code);
        }
    }

    /// Deletes our discounts (the ones Sales Tracking made).
    fn delete_discounts(&self) {
        self.state
            .lock()
            .unwrap()
            .discounts
            .retain(|d| !d.title.ends_with("(Sales Tracking)"));
    }

    /// An order placed in the shop (`node` as the orders query selects it).
    pub fn add_order(&self, node: Value) {
        self.state.lock().unwrap().orders.push(node);
    }

    fn order_pages(&self) -> usize {
        self.state.lock().unwrap().order_pages
    }
}

/// The orders a search query (`created_at:>='…' created_at:<'…'`) names, oldest first.
fn orders_matching(orders: &[Value], search: &str) -> Vec<Value> {
    let bound = |prefix: &str| {
        let start = search.find(prefix).expect("the search bounds created_at") + prefix.len();
        let end = start + search[start..].find('\'').unwrap();
        chrono::DateTime::parse_from_rfc3339(&search[start..end]).unwrap()
    };
    let (from, until) = (bound("created_at:>='"), bound("created_at:<'"));
    let mut orders: Vec<Value> = orders
        .iter()
        .filter(|order| {
            let at = chrono::DateTime::parse_from_rfc3339(order["createdAt"].as_str().unwrap()).unwrap();
            from <= at && at < until
        })
        .cloned()
        .collect();
    orders.sort_by_key(|order| order["createdAt"].as_str().unwrap().to_string());
    orders
}

impl ShopifyStandIn {
    /// Lets an install exchange `code` once (Shopify gives it in the redirect).
    fn issue_code(&self, code: &str) {
        self.state.lock().unwrap().codes.insert(code.into());
    }

    /// `POST /admin/oauth/access_token`: an offline token for a code issued to this app.
    fn exchange(&self, body: &Value) -> Response {
        let mut state = self.state.lock().unwrap();
        let code = body["code"].as_str().unwrap_or_default();
        if body["client_id"] != APP_KEY || body["client_secret"] != APP_SECRET || !state.codes.remove(code) {
            let error = json!({ "error": "invalid_request", "error_description": "The authorization code was not found or was already used" });
            return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
        }
        let token = format!("shpat_installed_{code}");
        state
            .tokens
            .insert(token.clone(), vec!["read_orders", "write_discounts"]);
        axum::Json(json!({ "access_token": token, "scope": "read_orders,write_discounts" })).into_response()
    }

    fn answer(&self, headers: &HeaderMap, body: &Value) -> Response {
        let mut state = self.state.lock().unwrap();
        state.requests += 1;
        let token = headers
            .get("x-shopify-access-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let Some(scopes) = state.tokens.get(token).cloned() else {
            let error = "[API] Invalid API key or access token (unrecognized login or wrong password)";
            return (StatusCode::UNAUTHORIZED, axum::Json(json!({ "errors": error }))).into_response();
        };
        let query = body["query"].as_str().unwrap_or_default();
        let mutation = query.trim_start().starts_with("mutation");
        if mutation && state.script.unavailable > 0 || !mutation && state.script.check_unavailable {
            state.script.unavailable = state.script.unavailable.saturating_sub(usize::from(mutation));
            return (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response();
        }
        let cost = |requested: u32, available: f64| {
            json!({ "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": if available > 0.0 { Some(requested) } else { None },
                "throttleStatus": { "maximumAvailable": 2000.0, "currentlyAvailable": available, "restoreRate": 100.0 }
            } })
        };
        if mutation && state.script.throttled > 0 {
            state.script.throttled -= 1;
            return axum::Json(json!({
                "errors": [{ "message": "Throttled", "extensions": { "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits" } }],
                "extensions": cost(10, 0.0),
            }))
            .into_response();
        }
        let variables = &body["variables"];
        let user_errors = |message: &str| json!([{ "field": ["code"], "code": "TAKEN", "message": message }]);
        let id = variables["id"].as_str().unwrap_or_default().to_string();
        let data = if query.contains("discountCodeBasicCreate") {
            let input = variables["discount"].clone();
            let code = input["code"].as_str().unwrap_or_default().to_string();
            if state.in_use(&code) {
                json!({ "discountCodeBasicCreate": { "codeDiscountNode": null, "userErrors": user_errors(TAKEN) } })
            } else {
                let id = state.next("DiscountCodeNode");
                let code_id = state.next("DiscountRedeemCode");
                state.discounts.push(Discount {
                    id: id.clone(),
                    title: input["title"].as_str().unwrap_or_default().to_string(),
                    active: true,
                    input,
                    codes: vec![(code_id, code)],
                });
                if state.script.down_after_create {
                    state.script.unavailable = usize::MAX;
                }
                json!({ "discountCodeBasicCreate": { "codeDiscountNode": { "id": id }, "userErrors": [] } })
            }
        } else if query.contains("discountCodeBasicUpdate") {
            let input = variables["discount"].clone();
            match state.discounts.iter_mut().find(|d| d.id == id) {
                Some(discount) => {
                    discount.title = input["title"].as_str().unwrap_or_default().to_string();
                    discount.input = input;
                    json!({ "discountCodeBasicUpdate": { "codeDiscountNode": { "id": id }, "userErrors": [] } })
                }
                None => {
                    json!({ "discountCodeBasicUpdate": { "codeDiscountNode": null, "userErrors": user_errors("Discount does not exist") } })
                }
            }
        } else if query.contains("discountRedeemCodeBulkAdd") {
            let mut results = Vec::new();
            for code in variables["codes"].as_array().cloned().unwrap_or_default() {
                let code = code["code"].as_str().unwrap_or_default().to_string();
                if state.in_use(&code) {
                    results.push((code, Some(TAKEN.to_string()), None));
                } else {
                    let code_id = state.next("DiscountRedeemCode");
                    if let Some(discount) = state.discounts.iter_mut().find(|d| d.id == id) {
                        discount.codes.push((code_id.clone(), code.clone()));
                    }
                    results.push((code, None, Some(code_id)));
                }
            }
            let bulk_id = state.next("DiscountRedeemCodeBulkCreation");
            state.bulk.insert(bulk_id.clone(), results);
            json!({ "discountRedeemCodeBulkAdd": { "bulkCreation": { "id": bulk_id }, "userErrors": [] } })
        } else if query.contains("discountRedeemCodeBulkCreation") {
            let codes: Vec<Value> = state.bulk.get(&id).cloned().unwrap_or_default().into_iter().map(|(code, error, code_id)| {
                let errors: Vec<Value> = error.map(|message| json!({ "field": ["code"], "code": "TAKEN", "message": message })).into_iter().collect();
                json!({ "code": code, "errors": errors, "discountRedeemCode": code_id.map(|id| json!({ "id": id })) })
            }).collect();
            json!({ "discountRedeemCodeBulkCreation": { "done": true, "codes": { "nodes": codes } } })
        } else if query.contains("discountCodeRedeemCodeBulkDelete") {
            let ids: Vec<String> = variables["ids"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect();
            if let Some(discount) = state.discounts.iter_mut().find(|d| d.id == id) {
                discount.codes.retain(|(code_id, _)| !ids.contains(code_id));
            }
            json!({ "discountCodeRedeemCodeBulkDelete": { "job": { "id": "gid://shopify/Job/1" }, "userErrors": [] } })
        } else if query.contains("discountCodeActivate") || query.contains("discountCodeDeactivate") {
            let field = if query.contains("discountCodeActivate") {
                "discountCodeActivate"
            } else {
                "discountCodeDeactivate"
            };
            if let Some(discount) = state.discounts.iter_mut().find(|d| d.id == id) {
                discount.active = field == "discountCodeActivate";
            }
            json!({ field: { "codeDiscountNode": { "id": id }, "userErrors": [] } })
        } else if query.contains("codeDiscountNodeByCode(code:") {
            let code = variables["code"].as_str().unwrap_or_default().to_lowercase();
            let found = state
                .discounts
                .iter()
                .find(|d| d.codes.iter().any(|(_, c)| c.to_lowercase() == code));
            json!({ "codeDiscountNodeByCode": found.map(|d| json!({ "id": d.id })) })
        } else if query.contains("codeDiscountNode(id:") {
            match state.discounts.iter().find(|d| d.id == id) {
                None => json!({ "codeDiscountNode": null }),
                Some(discount) => {
                    let nodes: Vec<Value> = discount
                        .codes
                        .iter()
                        .map(|(id, code)| json!({ "id": id, "code": code }))
                        .collect();
                    json!({ "codeDiscountNode": { "id": id, "codeDiscount": { "codes": {
                        "pageInfo": { "hasNextPage": false, "endCursor": null }, "nodes": nodes
                    } } } })
                }
            }
        } else if query.contains("webhookSubscriptionCreate") {
            let topic = variables["topic"].as_str().unwrap_or_default().to_string();
            let uri = variables["subscription"]["uri"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if state.subscriptions.iter().any(|(t, u)| *t == topic && *u == uri) {
                json!({ "webhookSubscriptionCreate": { "webhookSubscription": null, "userErrors": [
                    { "field": ["webhookSubscription", "callbackUrl"], "message": "Address for this topic has already been taken" }
                ] } })
            } else {
                state.subscriptions.push((topic, uri));
                let id = state.subscriptions.len();
                json!({ "webhookSubscriptionCreate": {
                    "webhookSubscription": { "id": format!("gid://shopify/WebhookSubscription/{id}") },
                    "userErrors": []
                } })
            }
        } else if query.contains("ordersCount(") {
            let count = orders_matching(&state.orders, variables["query"].as_str().unwrap_or_default()).len();
            json!({ "ordersCount": { "count": count, "precision": "EXACT" } })
        } else if query.contains("orders(first:") {
            if state.script.orders_unavailable > 0 {
                state.script.orders_unavailable -= 1;
                return (StatusCode::BAD_GATEWAY, "Bad Gateway").into_response();
            }
            if state.script.orders_throttled > 0 {
                state.script.orders_throttled -= 1;
                return axum::Json(json!({
                    "errors": [{ "message": "Throttled", "extensions": { "code": "THROTTLED" } }],
                    "extensions": cost(352, 2.0),
                }))
                .into_response();
            }
            let matching = orders_matching(&state.orders, variables["query"].as_str().unwrap_or_default());
            // A cursor is opaque to clients: here, the position after which the page starts.
            let start = variables["after"].as_str().map_or(0, |cursor| {
                cursor.trim_start_matches("cursor-").parse::<usize>().unwrap() + 1
            });
            let first = variables["first"].as_u64().unwrap() as usize;
            assert!(first <= 250, "Shopify serves at most 250 nodes a page");
            let nodes: Vec<Value> = matching.iter().skip(start).take(first).cloned().collect();
            let end = start + nodes.len();
            state.order_pages += 1;
            if state.script.revoke_after_order_pages == Some(state.order_pages) {
                state.tokens.clear();
            }
            json!({ "orders": {
                "pageInfo": { "hasNextPage": end < matching.len(), "endCursor": (end > start).then(|| format!("cursor-{}", end - 1)) },
                "nodes": nodes,
            } })
        } else if query.contains("shop") {
            if state.script.revoke_after_check {
                state.tokens.clear();
            }
            let handles: Vec<Value> = scopes.iter().map(|s| json!({ "handle": s })).collect();
            json!({ "shop": { "name": "Trail Co Outfitters" }, "currentAppInstallation": { "accessScopes": handles } })
        } else {
            return axum::Json(
                json!({ "errors": [{ "message": "unknown query", "extensions": { "code": "BAD_REQUEST" } }] }),
            )
            .into_response();
        };
        axum::Json(json!({ "data": data, "extensions": cost(10, 1990.0) })).into_response()
    }
}

pub fn secrets_key() -> String {
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>())
}

/// The outgoing-webhooks test settings with a secrets key and the stand-in's URL.
pub fn config(stand_in: &ShopifyStandIn, key: &str) -> sales_tracking::AppConfig {
    sales_tracking::AppConfig {
        secrets_keys: Some(sales_tracking::app::secrets::SecretsKeys::parse(key).unwrap()),
        shopify_admin_base_url: stand_in.url.clone(),
        public_url: "https://track.example.com".into(),
        shopify_app: Some(sales_tracking::app::ports::ShopifyApp {
            api_key: APP_KEY.into(),
            api_secret: APP_SECRET.into(),
        }),
        ..crate::outgoing_webhooks::config()
    }
}

const CONNECT: &str = "mutation($i: ConnectShopifyStoreInput!) { connectShopifyStore(input: $i) { shopifyStore { shopDomain shopName scopes connectedVia status lastSyncedAt lastError } } }";
const STORE: &str = "{ shopifyStore { shopDomain status lastSyncedAt lastError } }";
const DOMAIN: &str = "trail-co.myshopify.com";

fn connect_input(token: &str) -> Value {
    json!({ "i": { "shopDomain": DOMAIN, "accessToken": token, "webhookSecret": "app-secret-0123456789" } })
}

/// Waits until the brand's store is as `wanted` says.
async fn until_store(app: &TestApp, key: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let started = std::time::Instant::now();
    loop {
        let store = app.ok(key, STORE, json!({})).await["shopifyStore"].clone();
        if wanted(&store) {
            return store;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{store}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Set up, and nothing failing since.
fn synced(store: &Value) -> bool {
    store["lastSyncedAt"].is_string() && store["lastError"].is_null()
}

#[tokio::test]
async fn a_custom_app_token_is_checked_kept_sealed_and_sets_up_the_order_webhooks() {
    let shopify = ShopifyStandIn::start().await;
    let key = secrets_key();
    let app = TestApp::with_config(config(&shopify, &key)).await;
    let brand = app.brand("Trail Co").await;

    // Refused before anything is kept: a wrong domain, a wrong token, missing scopes, an analyst.
    let mut input = connect_input(TOKEN);
    input["i"]["shopDomain"] = json!("trail.example.com");
    assert_eq!(
        app.error_code(Some(&brand.admin), CONNECT, input).await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.error_code(Some(&brand.admin), CONNECT, connect_input("shpat_wrong"))
            .await,
        "BAD_USER_INPUT"
    );
    shopify.grant("shpat_read_only", &["read_orders"]);
    let (_, answer) = app
        .graphql(Some(&brand.admin), CONNECT, connect_input("shpat_read_only"))
        .await;
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("write_discounts"), "{answer}");
    assert_eq!(
        app.error_code(Some(&brand.analyst), CONNECT, connect_input(TOKEN))
            .await,
        "FORBIDDEN"
    );
    assert!(app.ok(&brand.admin, STORE, json!({})).await["shopifyStore"].is_null());

    // Shopify away during the check: UNAVAILABLE, nothing kept.
    shopify.script(Script {
        check_unavailable: true,
        ..Default::default()
    });
    let (_, answer) = app.graphql(Some(&brand.admin), CONNECT, connect_input(TOKEN)).await;
    assert_eq!(answer["errors"][0]["extensions"]["code"], "UNAVAILABLE", "{answer}");
    assert!(app.ok(&brand.admin, STORE, json!({})).await["shopifyStore"].is_null());
    shopify.script(Script::default());
    let store =
        app.ok(&brand.admin, CONNECT, connect_input(TOKEN)).await["connectShopifyStore"]["shopifyStore"].clone();
    assert_eq!(store["shopDomain"], DOMAIN);
    assert_eq!(store["shopName"], "Trail Co Outfitters");
    assert_eq!(store["connectedVia"], "ACCESS_TOKEN");
    assert_eq!(store["status"], "CONNECTED");
    assert!(store["scopes"].as_array().unwrap().contains(&json!("write_discounts")));
    let store = until_store(&app, &brand.admin, synced).await;
    assert!(store["lastError"].is_null(), "{store}");
    let uri = "https://track.example.com/webhooks/trail-co/orders/shopify";
    let topics: HashSet<String> = shopify
        .subscriptions()
        .into_iter()
        .map(|(topic, at)| {
            assert_eq!(at, uri);
            topic
        })
        .collect();
    let expected: HashSet<String> = [
        "ORDERS_CREATE",
        "ORDERS_PAID",
        "ORDERS_CANCELLED",
        "REFUNDS_CREATE",
        "APP_UNINSTALLED",
    ]
    .map(String::from)
    .into();
    assert_eq!(topics, expected);

    // The token is nowhere in the clear: not in its row, not in the audit trail.
    let mut conn = app.db.connect().await;
    let rows: Vec<(String, String)> = diesel_async::RunQueryDsl::load(
        diesel::sql_query(
            "SELECT s.sealed_token AS sealed, b.webhook_secret AS secret FROM shopify_stores s JOIN brands b ON b.id = s.brand_id",
        ),
        &mut conn,
    )
    .await
    .map(|rows: Vec<Sealed>| rows.into_iter().map(|r| (r.sealed, r.secret)).collect())
    .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0].0.starts_with("v1.") && !rows[0].0.contains(TOKEN),
        "{}",
        rows[0].0
    );
    assert_eq!(
        rows[0].1, "app-secret-0123456789",
        "the app's secret signs its webhooks"
    );
    let audit = app
        .ok(
            &brand.admin,
            "{ auditEvents(first: 10) { nodes { action details } } }",
            json!({}),
        )
        .await
        .to_string();
    assert!(
        audit.contains("connectShopifyStore") && !audit.contains(TOKEN),
        "{audit}"
    );

    // A new key put first re-seals the token; the store keeps working under it alone.
    let new_key = secrets_key();
    let rotated = sales_tracking::app::secrets::SecretsKeys::parse(&format!("{new_key},{key}")).unwrap();
    let resealed = sales_tracking::app::shopify::reseal_tokens(&mut conn, &rotated)
        .await
        .unwrap();
    assert_eq!(resealed, 1);
    let only_new = sales_tracking::app::secrets::SecretsKeys::parse(&new_key).unwrap();
    let sealed: Vec<Sealed> = diesel_async::RunQueryDsl::load(
        diesel::sql_query("SELECT sealed_token AS sealed, '' AS secret FROM shopify_stores"),
        &mut conn,
    )
    .await
    .unwrap();
    assert_eq!(only_new.open(&sealed[0].sealed).unwrap(), TOKEN);

    // Another brand cannot take the store.
    let other = app.brand("Copycat").await;
    assert_eq!(
        app.error_code(Some(&other.admin), CONNECT, connect_input(TOKEN)).await,
        "CONFLICT"
    );

    // Disconnecting names the store, and forgets the token.
    let disconnect =
        "mutation($d: String!) { disconnectShopifyStore(input: { shopDomain: $d }) { shopifyStore { status } } }";
    assert_eq!(
        app.error_code(Some(&brand.admin), disconnect, json!({ "d": "other.myshopify.com" }))
            .await,
        "NOT_FOUND"
    );
    let done = app.ok(&brand.admin, disconnect, json!({ "d": DOMAIN })).await;
    assert_eq!(done["disconnectShopifyStore"]["shopifyStore"]["status"], "DISCONNECTED");
    let sealed: Vec<Sealed> = diesel_async::RunQueryDsl::load(
        diesel::sql_query("SELECT sealed_token AS sealed, '' AS secret FROM shopify_stores"),
        &mut conn,
    )
    .await
    .unwrap();
    assert_eq!(sealed[0].sealed, "");
    // Now free, the other brand may connect it.
    app.ok(&other.admin, CONNECT, connect_input(TOKEN)).await;
}

#[derive(diesel::QueryableByName)]
struct Sealed {
    #[diesel(sql_type = diesel::sql_types::Text)]
    sealed: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    secret: String,
}

#[tokio::test]
async fn setup_retries_through_throttling_and_keeps_the_error_of_a_revoked_token() {
    let shopify = ShopifyStandIn::start().await;
    let app = TestApp::with_config(config(&shopify, &secrets_key())).await;
    let brand = app.brand("Trail Co").await;

    // The check passes, then the app is uninstalled before the webhooks are set up.
    shopify.script(Script {
        revoke_after_check: true,
        ..Default::default()
    });
    app.ok(&brand.admin, CONNECT, connect_input(TOKEN)).await;
    let store = until_store(&app, &brand.admin, |store| store["lastError"].is_string()).await;
    assert_eq!(
        store["lastError"], "Shopify refused the access token: connect the store again",
        "{store}"
    );
    assert!(shopify.subscriptions().is_empty());

    // Reinstalled, and a Shopify that throttles, then fails, then serves: set up all the same.
    shopify.grant(TOKEN, &["read_orders", "write_discounts"]);
    shopify.script(Script {
        throttled: 1,
        unavailable: 1,
        ..Default::default()
    });
    app.ok(&brand.admin, CONNECT, connect_input(TOKEN)).await;
    let store = until_store(&app, &brand.admin, synced).await;
    assert!(store["lastError"].is_null(), "{store}");
    assert_eq!(shopify.subscriptions().len(), 5);
}

#[tokio::test]
async fn without_a_secrets_key_no_store_is_connected() {
    let shopify = ShopifyStandIn::start().await;
    let config = sales_tracking::AppConfig {
        secrets_keys: None,
        ..config(&shopify, &secrets_key())
    };
    let app = TestApp::with_config(config).await;
    let brand = app.brand("Trail Co").await;
    let (_, answer) = app.graphql(Some(&brand.admin), CONNECT, connect_input(TOKEN)).await;
    assert_eq!(answer["errors"][0]["extensions"]["code"], "CONFLICT", "{answer}");
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("--secrets-key")
    );
    assert!(app.ok(&brand.admin, STORE, json!({})).await["shopifyStore"].is_null());
}

/// A webhook as Shopify sends it to `path`, for `shop`, signed with `secret`.
async fn signed_post(
    app: &TestApp,
    path: &str,
    topic: &str,
    shop: &str,
    body: &Value,
    secret: &str,
) -> (StatusCode, Value) {
    use tower::ServiceExt;
    let body = body.to_string();
    let request = axum::http::Request::post(path)
        .header("content-type", "application/json")
        .header("x-shopify-topic", topic)
        .header("x-shopify-shop-domain", shop)
        .header("x-shopify-hmac-sha256", crate::tracking::sign(&body, secret))
        .body(axum::body::Body::from(body))
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// A webhook to the brand's order route.
async fn shop_webhook(app: &TestApp, topic: &str, shop: &str, body: &Value, secret: &str) -> (StatusCode, Value) {
    signed_post(app, "/webhooks/trail-co/orders/shopify", topic, shop, body, secret).await
}

#[tokio::test]
async fn an_uninstall_webhook_disconnects_the_store_it_names() {
    let shopify = ShopifyStandIn::start().await;
    let app = TestApp::with_config(config(&shopify, &secrets_key())).await;
    let brand = app.brand("Trail Co").await;
    app.ok(&brand.admin, CONNECT, connect_input(TOKEN)).await;
    until_store(&app, &brand.admin, synced).await;
    let shop = json!({ "id": 548380009, "name": "Trail Co Outfitters", "myshopify_domain": DOMAIN });
    let secret = "app-secret-0123456789";

    // Unsigned, or for another shop: nothing changes.
    let (status, _) = shop_webhook(&app, "app/uninstalled", DOMAIN, &shop, "not-the-secret-at-all").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, answer) = shop_webhook(&app, "app/uninstalled", "other.myshopify.com", &shop, secret).await;
    assert_eq!((status, answer["status"].clone()), (StatusCode::OK, json!("ignored")));
    assert_eq!(
        app.ok(&brand.admin, STORE, json!({})).await["shopifyStore"]["status"],
        "CONNECTED"
    );

    let (status, answer) = shop_webhook(&app, "app/uninstalled", DOMAIN, &shop, secret).await;
    assert_eq!(
        (status, answer["status"].clone()),
        (StatusCode::OK, json!("disconnected"))
    );
    let store = app.ok(&brand.admin, STORE, json!({})).await["shopifyStore"].clone();
    assert_eq!(store["status"], "DISCONNECTED");
    assert!(store["lastError"].as_str().unwrap().contains("uninstalled"), "{store}");
}

const START: &str =
    "mutation($i: StartShopifyInstallInput!) { startShopifyInstall(input: $i) { authorizationUrl expiresAt } }";

/// Starts an install on `shop`; the `state` Shopify will send back.
async fn start_install(app: &TestApp, key: &str, shopify: &ShopifyStandIn, shop: &str) -> String {
    let started = app.ok(key, START, json!({ "i": { "shopDomain": shop } })).await["startShopifyInstall"].clone();
    let url = url::Url::parse(started["authorizationUrl"].as_str().unwrap()).unwrap();
    assert_eq!(format!("{}://{}", url.scheme(), url.authority()), shopify.url);
    assert_eq!(url.path(), "/admin/oauth/authorize");
    let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.to_string());
    assert_eq!(param("client_id").as_deref(), Some(APP_KEY));
    assert_eq!(param("scope").as_deref(), Some("read_orders,write_discounts"));
    assert_eq!(
        param("redirect_uri").as_deref(),
        Some("https://track.example.com/shopify/callback")
    );
    param("state").unwrap()
}

/// Shopify's redirect to the callback, signed with `secret`; the status and `Location`.
async fn callback(app: &TestApp, params: &[(&str, &str)], secret: &str) -> (StatusCode, String, Value) {
    use tower::ServiceExt;
    let mut pairs: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let hmac = sales_tracking::domain::shopify::query_hmac(&pairs, secret);
    pairs.push(("hmac".into(), hmac));
    let query = serde_urlencoded::to_string(&pairs).unwrap();
    let request = axum::http::Request::get(format!("/shopify/callback?{query}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, location, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_app_install_connects_the_store_once_and_refuses_forgeries() {
    let shopify = ShopifyStandIn::start().await;
    let app = TestApp::with_config(config(&shopify, &secrets_key())).await;
    let brand = app.brand("Trail Co").await;
    assert_eq!(
        app.error_code(Some(&brand.analyst), START, json!({ "i": { "shopDomain": DOMAIN } }))
            .await,
        "FORBIDDEN"
    );
    let state = start_install(&app, &brand.admin, &shopify, DOMAIN).await;
    shopify.issue_code("code-1");
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let good = [
        ("code", "code-1"),
        ("host", "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvdHJhaWwtY28"),
        ("shop", DOMAIN),
        ("state", state.as_str()),
        ("timestamp", timestamp.as_str()),
    ];

    // Signed with another secret: refused before anything is read.
    let (status, _, answer) = callback(&app, &good, "not-the-app-secret").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    // Signed, but the shop is not a store's domain.
    let mut bad_shop = good;
    bad_shop[2] = ("shop", "trail.example.com");
    let (status, _, answer) = callback(&app, &bad_shop, APP_SECRET).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    // Signed, but a state nobody started.
    let mut forged_state = good;
    forged_state[3] = (
        "state",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    );
    let (status, _, answer) = callback(&app, &forged_state, APP_SECRET).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(app.ok(&brand.admin, STORE, json!({})).await["shopifyStore"].is_null());

    // Shopify's own redirect: connected, and the dashboard opens.
    let (status, location, answer) = callback(&app, &good, APP_SECRET).await;
    assert_eq!(status, StatusCode::FOUND, "{answer}");
    assert_eq!(location, "https://track.example.com/#/shopify");
    let store = until_store(&app, &brand.admin, synced).await;
    assert_eq!(store["status"], "CONNECTED");
    assert_eq!(
        app.ok(&brand.admin, "{ shopifyStore { connectedVia } }", json!({}))
            .await["shopifyStore"]["connectedVia"],
        "APP_INSTALL"
    );
    assert_eq!(shopify.subscriptions().len(), 5);

    // The same redirect again: the state was used.
    shopify.issue_code("code-1");
    let (status, _, _) = callback(&app, &good, APP_SECRET).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A state is bound to its shop: used for another, it is refused (and spent).
    let state = start_install(&app, &brand.admin, &shopify, DOMAIN).await;
    shopify.issue_code("code-2");
    let other = [
        ("code", "code-2"),
        ("shop", "other-store.myshopify.com"),
        ("state", state.as_str()),
        ("timestamp", timestamp.as_str()),
    ];
    let (status, _, _) = callback(&app, &other, APP_SECRET).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The app's webhooks are signed with its secret, and the brand's route takes them.
    let shop = json!({ "id": 548380009, "myshopify_domain": DOMAIN });
    let (status, answer) = shop_webhook(&app, "app/uninstalled", DOMAIN, &shop, APP_SECRET).await;
    assert_eq!(
        (status, answer["status"].clone()),
        (StatusCode::OK, json!("disconnected"))
    );
}

/// A privacy webhook as Shopify sends it for the app, signed with `secret`.
async fn privacy_webhook(app: &TestApp, topic: &str, body: &Value, secret: &str) -> (StatusCode, Value) {
    signed_post(app, "/webhooks/shopify/privacy", topic, DOMAIN, body, secret).await
}

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct ClickShopper {
    #[diesel(sql_type = diesel::sql_types::Text)]
    user_agent: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    has_ip_hash: bool,
}

async fn shopper_of(app: &TestApp, click_id: &str) -> ClickShopper {
    let mut conn = app.db.connect().await;
    diesel_async::RunQueryDsl::get_result(
        diesel::sql_query(format!(
            "SELECT user_agent, ip_hash IS NOT NULL AS has_ip_hash FROM clicks WHERE id = '{click_id}'"
        )),
        &mut conn,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn privacy_webhooks_forget_the_shopper_and_keep_the_books() {
    let shopify = ShopifyStandIn::start().await;
    let app = TestApp::with_config(config(&shopify, &secrets_key())).await;
    let shop = crate::tracking::shop(&app).await;
    // A shopper clicks a creator's link and orders through it.
    let (_, location) = crate::tracking::click(&app, &shop.link_code, crate::tracking::BROWSER).await;
    let click_id = crate::tracking::stored_click_id(&app, &location).await;
    let landing = format!("/shoes?st_click={click_id}");
    let order = crate::tracking::shopify_order(4501, "80.00", &[], &landing);
    let (status, recorded) = crate::tracking::webhook(&app, &shop.brand.slug, "shopify", None, &order, None).await;
    assert_eq!(status, StatusCode::OK, "{recorded}");
    assert_eq!(shopper_of(&app, &click_id).await.user_agent, crate::tracking::BROWSER);
    app.ok(&shop.brand.admin, CONNECT, connect_input(TOKEN)).await;
    let customer = json!({ "id": 207119551, "email": "shopper@example.com", "phone": "555-625-1199" });

    let request = json!({ "shop_id": 954889, "shop_domain": DOMAIN, "orders_requested": [4501], "customer": customer, "data_request": { "id": 9999 } });
    let (status, _) = privacy_webhook(&app, "customers/data_request", &request, "not-the-app-secret").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, answer) = privacy_webhook(&app, "customers/data_request", &request, APP_SECRET).await;
    assert_eq!((status, answer["status"].clone()), (StatusCode::OK, json!("noted")));

    let redact = json!({ "shop_id": 954889, "shop_domain": DOMAIN, "customer": customer, "orders_to_redact": [4501] });
    let (status, answer) = privacy_webhook(&app, "customers/redact", &redact, APP_SECRET).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["clicks"], 1, "{answer}");
    assert_eq!(
        shopper_of(&app, &click_id).await,
        ClickShopper {
            user_agent: String::new(),
            has_ip_hash: false
        }
    );
    // The order and its money stay.
    let kpis = app
        .ok(&shop.brand.admin, "{ kpis { totalSales conversions } }", json!({}))
        .await;
    assert_eq!(kpis["kpis"]["totalSales"], "80.00", "{kpis}");
    assert_eq!(kpis["kpis"]["conversions"], 1, "{kpis}");

    let (status, answer) = privacy_webhook(
        &app,
        "shop/redact",
        &json!({ "shop_id": 954889, "shop_domain": DOMAIN }),
        APP_SECRET,
    )
    .await;
    assert_eq!((status, answer["status"].clone()), (StatusCode::OK, json!("redacted")));
    assert!(app.ok(&shop.brand.admin, STORE, json!({})).await["shopifyStore"].is_null());
    let (status, answer) = privacy_webhook(&app, "shop/redact", &json!({ "shop_domain": DOMAIN }), APP_SECRET).await;
    assert_eq!(
        (status, answer["status"].clone()),
        (StatusCode::OK, json!("unknown_shop"))
    );
}

/// The codes of our one discount in the shop, sorted, and whether it is active.
fn shop_codes(shopify: &ShopifyStandIn) -> (Vec<String>, bool) {
    let discounts: Vec<Discount> = shopify
        .discounts()
        .into_iter()
        .filter(|d| d.title.ends_with("(Sales Tracking)"))
        .collect();
    assert!(discounts.len() <= 1, "{discounts:?}");
    match discounts.first() {
        None => (Vec::new(), false),
        Some(discount) => {
            let mut codes: Vec<String> = discount.codes.iter().map(|(_, code)| code.clone()).collect();
            codes.sort();
            (codes, discount.active)
        }
    }
}

/// Waits until the shop's codes and activity are as expected.
async fn until_shop(shopify: &ShopifyStandIn, codes: &[&str], active: bool) {
    let mut wanted: Vec<String> = codes.iter().map(|c| c.to_string()).collect();
    wanted.sort();
    let started = std::time::Instant::now();
    while shop_codes(shopify) != (wanted.clone(), active) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the shop has {:?}, expected {wanted:?} active {active}",
            shop_codes(shopify)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const MEMBERSHIP_SYNC: &str = "query($id: ID!) { membership(id: $id) { promoCode promoCodeSync { state error } } }";

const SET_DISCOUNT: &str = "mutation($i: SetShopperDiscountInput!) { setShopperDiscount(input: $i) { offer { id } } }";
const RECONCILE: &str =
    "mutation($d: String!) { reconcileShopifyStore(input: { shopDomain: $d }) { shopifyStore { status } } }";

/// `SET_DISCOUNT`'s variables: `percent` off the offer's orders.
fn percent_off(offer_id: &str, percent: &str) -> Value {
    json!({ "i": { "offerId": offer_id, "type": "PERCENTAGE", "value": percent } })
}

async fn code_of(app: &TestApp, key: &str, membership: &str) -> (String, Value) {
    let found = app.ok(key, MEMBERSHIP_SYNC, json!({ "id": membership })).await["membership"].clone();
    (
        found["promoCode"].as_str().unwrap().to_string(),
        found["promoCodeSync"].clone(),
    )
}

#[tokio::test]
async fn promo_codes_exist_in_the_shop_while_they_attribute_and_only_then() {
    let shopify = ShopifyStandIn::start().await;
    let app = TestApp::with_config(config(&shopify, &secrets_key())).await;
    let shop = crate::tracking::shop(&app).await;
    let admin = &shop.brand.admin;
    app.ok(admin, CONNECT, connect_input(TOKEN)).await;
    until_store(&app, admin, synced).await;
    // No shopper discount yet: nothing in the shop, and no sync state shown.
    let (first_code, sync) = code_of(&app, admin, &shop.code_membership).await;
    assert!(sync.is_null(), "{sync}");
    assert!(shopify.discounts().is_empty());

    let set = "mutation($i: SetShopperDiscountInput!) { setShopperDiscount(input: $i) { offer { shopperDiscount { type value oncePerCustomer minimumSubtotal inShop } } } }";
    let bad = json!({ "i": { "offerId": shop.code_offer, "type": "PERCENTAGE", "value": "150" } });
    assert_eq!(app.error_code(Some(admin), set, bad).await, "BAD_USER_INPUT");
    let on_link = json!({ "i": { "offerId": shop.link_offer, "type": "PERCENTAGE", "value": "15" } });
    assert_eq!(app.error_code(Some(admin), set, on_link).await, "BAD_USER_INPUT");
    let input = json!({ "i": { "offerId": shop.code_offer, "type": "PERCENTAGE", "value": "15", "oncePerCustomer": true, "minimumSubtotal": "50" } });
    let discount = app.ok(admin, set, input).await["setShopperDiscount"]["offer"]["shopperDiscount"].clone();
    assert_eq!(discount["type"], "PERCENTAGE");
    assert_eq!(discount["value"], "15.00");
    assert_eq!(discount["minimumSubtotal"], "50.00");

    // The code is made in the shop, with the discount's terms, and shows SYNCED.
    until_shop(&shopify, &[&first_code], true).await;
    let made = &shopify.discounts()[0];
    assert_eq!(made.title, "Codes (Sales Tracking)");
    assert_eq!(
        made.input["customerGets"]["value"]["percentage"], 0.15,
        "{:?}",
        made.input
    );
    assert_eq!(made.input["appliesOncePerCustomer"], true);
    assert_eq!(
        made.input["minimumRequirement"]["subtotal"]["greaterThanOrEqualToSubtotal"],
        "50.00"
    );
    let started = std::time::Instant::now();
    while code_of(&app, admin, &shop.code_membership).await.1["state"] != "SYNCED" {
        assert!(started.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A refreshed code replaces the old one in the shop; Shopify throttles once on the way.
    shopify.script(Script {
        throttled: 1,
        ..Default::default()
    });
    let refresh =
        "mutation($i: RefreshPromoCodesInput!) { refreshPromoCodes(input: $i) { memberships { promoCode } } }";
    app.ok(
        admin,
        refresh,
        json!({ "i": { "membershipIds": [shop.code_membership], "code": "TRAILANA15" } }),
    )
    .await;
    until_shop(&shopify, &["TRAILANA15"], true).await;

    // A code the shop already uses elsewhere is refused, and says so.
    shopify.take("TAKENCODE");
    app.ok(
        admin,
        refresh,
        json!({ "i": { "membershipIds": [shop.code_membership], "code": "TAKENCODE" } }),
    )
    .await;
    until_shop(&shopify, &[], true).await;
    let started = std::time::Instant::now();
    let sync = loop {
        let (_, sync) = code_of(&app, admin, &shop.code_membership).await;
        if sync["state"] == "FAILED" {
            break sync;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{sync}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(sync["error"], TAKEN);
    app.ok(
        admin,
        refresh,
        json!({ "i": { "membershipIds": [shop.code_membership], "code": "TRAILANA16" } }),
    )
    .await;
    until_shop(&shopify, &["TRAILANA16"], true).await;

    // A paused offer's discount is deactivated, and comes back with the offer.
    let status = "mutation($i: SetOfferStatusInput!) { setOfferStatus(input: $i) { offer { status } } }";
    app.ok(
        admin,
        status,
        json!({ "i": { "id": shop.code_offer, "status": "PAUSED" } }),
    )
    .await;
    until_shop(&shopify, &["TRAILANA16"], false).await;
    app.ok(
        admin,
        status,
        json!({ "i": { "id": shop.code_offer, "status": "ACTIVE" } }),
    )
    .await;
    until_shop(&shopify, &["TRAILANA16"], true).await;

    // Drift made in Shopify's admin is repaired: a deleted code, then the whole discount.
    shopify.delete_code("TRAILANA16");
    app.ok(admin, RECONCILE, json!({ "d": DOMAIN })).await;
    until_shop(&shopify, &["TRAILANA16"], true).await;
    shopify.delete_discounts();
    app.ok(admin, RECONCILE, json!({ "d": DOMAIN })).await;
    until_shop(&shopify, &["TRAILANA16"], true).await;

    // A deactivated membership's code leaves the shop.
    let deactivate = "mutation($i: SetMembershipActiveInput!) { setMembershipActive(input: $i) { __typename } }";
    app.ok(
        admin,
        deactivate,
        json!({ "i": { "membershipIds": [shop.code_membership], "active": false } }),
    )
    .await;
    until_shop(&shopify, &[], true).await;
}

#[tokio::test]
async fn a_code_already_in_the_shop_is_adopted_with_its_discount() {
    let shopify = ShopifyStandIn::start().await;
    let app = TestApp::with_config(config(&shopify, &secrets_key())).await;
    let shop = crate::tracking::shop(&app).await;
    let admin = &shop.brand.admin;
    let refresh =
        "mutation($i: RefreshPromoCodesInput!) { refreshPromoCodes(input: $i) { memberships { promoCode } } }";
    let adopt =
        |code: &str| json!({ "i": { "membershipIds": [shop.code_membership], "code": code, "adoptExisting": true } });
    // Without a connected store there is nothing to adopt from.
    assert_eq!(
        app.error_code(Some(admin), refresh, adopt("CREATORANA")).await,
        "BAD_USER_INPUT"
    );
    app.ok(admin, CONNECT, connect_input(TOKEN)).await;
    shopify.take("CREATORANA");
    // A code no discount of the shop has cannot be adopted.
    let (_, answer) = app.graphql(Some(admin), refresh, adopt("NOSUCHCODE")).await;
    assert_eq!(answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{answer}");
    assert!(
        answer["errors"][0]["message"].as_str().unwrap().contains("no discount"),
        "{answer}"
    );

    let adopted = app.ok(admin, refresh, adopt("creatorana")).await;
    assert_eq!(
        adopted["refreshPromoCodes"]["memberships"][0]["promoCode"],
        "CREATORANA"
    );

    // Orders with it attribute to the membership from now on.
    let order = crate::tracking::shopify_order(7001, "40.00", &["CREATORANA"], "/");
    let signature = crate::tracking::sign(&order, "app-secret-0123456789");
    let (status, recorded) =
        crate::tracking::webhook(&app, &shop.brand.slug, "shopify", None, &order, Some(&signature)).await;
    assert_eq!(status, StatusCode::OK, "{recorded}");
    assert_eq!(recorded["conversion"]["attribution"], "PROMO_CODE", "{recorded}");

    // It stays in its own discount, never ours, and leaves it once it no longer attributes.
    app.ok(
        admin,
        "mutation($i: SetShopperDiscountInput!) { setShopperDiscount(input: $i) { offer { id } } }",
        json!({ "i": { "offerId": shop.code_offer, "type": "FIXED_AMOUNT", "value": "5" } }),
    )
    .await;
    let started = std::time::Instant::now();
    while code_of(&app, admin, &shop.code_membership).await.1["state"] != "SYNCED" {
        assert!(started.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(shopify.codes_of("Creator codes"), vec!["CREATORANA".to_string()]);
    assert!(shop_codes(&shopify).0.is_empty(), "{:?}", shopify.discounts());
    let deactivate = "mutation($i: SetMembershipActiveInput!) { setMembershipActive(input: $i) { __typename } }";
    app.ok(
        admin,
        deactivate,
        json!({ "i": { "membershipIds": [shop.code_membership], "active": false } }),
    )
    .await;
    let started = std::time::Instant::now();
    while !shopify.codes_of("Creator codes").is_empty() {
        assert!(started.elapsed() < Duration::from_secs(30), "{:?}", shopify.discounts());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_token_revoked_mid_sync_or_a_failing_shopify_shows_on_the_store() {
    let shopify = ShopifyStandIn::start().await;
    let app = TestApp::with_config(config(&shopify, &secrets_key())).await;
    let shop = crate::tracking::shop(&app).await;
    let admin = &shop.brand.admin;
    app.ok(admin, CONNECT, connect_input(TOKEN)).await;
    let discount = |percent: &str| percent_off(&shop.code_offer, percent);
    app.ok(admin, SET_DISCOUNT, discount("10")).await;
    let (code, _) = code_of(&app, admin, &shop.code_membership).await;
    until_shop(&shopify, &[&code], true).await;
    // The store's webhooks are set up first, so the failure scripted below is the
    // code sync's (the setup job retries a 5xx without a word on the store).
    let started = std::time::Instant::now();
    while shopify.subscriptions().len() < 5 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            shopify.subscriptions()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Shopify fails until it is back: the error shows, and the next change goes
    // through after. (One scripted failure is not enough under load: a round already
    // woken could take it and the next round clear the error before it is read.)
    shopify.script(Script {
        unavailable: usize::MAX,
        ..Default::default()
    });
    app.ok(admin, SET_DISCOUNT, discount("20")).await;
    let store = until_store(&app, admin, |store| store["lastError"].is_string()).await;
    assert!(store["lastError"].as_str().unwrap().contains("503"), "{store}");
    shopify.script(Script::default());
    app.ok(admin, RECONCILE, json!({ "d": DOMAIN })).await;
    until_store(&app, admin, synced).await;
    let started = std::time::Instant::now();
    while shopify.discounts()[0].input["customerGets"]["value"]["percentage"] != 0.2 {
        assert!(started.elapsed() < Duration::from_secs(30), "{:?}", shopify.discounts());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The app is uninstalled behind our back: the store says the token was refused.
    shopify.state.lock().unwrap().tokens.clear();
    app.ok(admin, RECONCILE, json!({ "d": DOMAIN })).await;
    let store = until_store(&app, admin, |store| store["lastError"].is_string()).await;
    assert_eq!(
        store["lastError"], "Shopify refused the access token: connect the store again",
        "{store}"
    );
}

#[tokio::test]
async fn a_discount_made_just_before_shopify_fails_is_kept_and_not_made_twice() {
    let shopify = ShopifyStandIn::start().await;
    let app = TestApp::with_config(config(&shopify, &secrets_key())).await;
    let shop = crate::tracking::shop(&app).await;
    let admin = &shop.brand.admin;
    shopify.script(Script {
        down_after_create: true,
        ..Default::default()
    });
    app.ok(admin, CONNECT, connect_input(TOKEN)).await;
    let discount = |percent: &str| percent_off(&shop.code_offer, percent);
    app.ok(admin, SET_DISCOUNT, discount("10")).await;
    let store = until_store(&app, admin, |store| store["lastError"].is_string()).await;
    assert!(store["lastError"].as_str().unwrap().contains("503"), "{store}");
    assert_eq!(shopify.discounts().len(), 1);

    // Shopify is back, and the terms change: the one discount made takes them.
    shopify.script(Script::default());
    app.ok(admin, SET_DISCOUNT, discount("20")).await;
    app.ok(admin, RECONCILE, json!({ "d": DOMAIN })).await;
    let (code, _) = code_of(&app, admin, &shop.code_membership).await;
    let started = std::time::Instant::now();
    loop {
        let sync = code_of(&app, admin, &shop.code_membership).await.1;
        let discounts = shopify.discounts();
        let percentage = &discounts[0].input["customerGets"]["value"]["percentage"];
        if sync["state"] == "SYNCED" && *percentage == 0.2 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{sync} {:?}", discounts);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let discounts = shopify.discounts();
    assert_eq!(discounts.len(), 1, "{discounts:?}");
    assert_eq!(
        discounts[0].codes.iter().map(|(_, c)| c.as_str()).collect::<Vec<_>>(),
        [code.as_str()]
    );
    until_shop(&shopify, &[&code], true).await;
}

#[tokio::test]
async fn offers_take_their_shopper_discount_when_made_or_edited() {
    let shopify = ShopifyStandIn::start().await;
    let app = TestApp::with_config(config(&shopify, &secrets_key())).await;
    let shop = crate::tracking::shop(&app).await;
    let admin = &shop.brand.admin;
    let create = "mutation($i: CreateOfferInput!) { createOffer(input: $i) { offer { id shopperDiscount { type value oncePerCustomer minimumSubtotal } } } }";
    let offers = "{ offers(first: 50) { totalCount } }";
    let before = app.ok(admin, offers, json!({})).await["offers"]["totalCount"].clone();
    // A sales link has no codes: refused whole, no offer made.
    let link = json!({ "i": { "name": "Boots", "type": "SALES_LINK", "destinationUrl": "https://shop.example.com/boots",
        "payout": { "type": "PERCENT_OF_SALE", "percent": "10" }, "shopperDiscount": { "type": "PERCENTAGE", "value": "10" } } });
    assert_eq!(app.error_code(Some(admin), create, link).await, "BAD_USER_INPUT");
    let bad_value = json!({ "i": { "name": "Socks", "type": "PROMO_CODE", "codePrefix": "SOCK",
        "payout": { "type": "PERCENT_OF_SALE", "percent": "10" }, "shopperDiscount": { "type": "PERCENTAGE", "value": "0" } } });
    assert_eq!(app.error_code(Some(admin), create, bad_value).await, "BAD_USER_INPUT");
    assert_eq!(app.ok(admin, offers, json!({})).await["offers"]["totalCount"], before);

    let made = app
        .ok(
            admin,
            create,
            json!({ "i": { "name": "Socks", "type": "PROMO_CODE", "codePrefix": "SOCK",
            "payout": { "type": "PERCENT_OF_SALE", "percent": "10" },
            "shopperDiscount": { "type": "FIXED_AMOUNT", "value": "7.5", "minimumSubtotal": "30" } } }),
        )
        .await["createOffer"]["offer"]
        .clone();
    assert_eq!(
        made["shopperDiscount"],
        json!({ "type": "FIXED_AMOUNT", "value": "7.50", "oncePerCustomer": false, "minimumSubtotal": "30.00" })
    );
    let update = "mutation($i: UpdateOfferInput!) { updateOffer(input: $i) { offer { shopperDiscount { type value oncePerCustomer } } } }";
    let updated = app
        .ok(admin, update, json!({ "i": { "id": made["id"], "shopperDiscount": { "type": "PERCENTAGE", "value": "20", "oncePerCustomer": true } } }))
        .await;
    assert_eq!(
        updated["updateOffer"]["offer"]["shopperDiscount"],
        json!({ "type": "PERCENTAGE", "value": "20.00", "oncePerCustomer": true })
    );
    let on_link = json!({ "i": { "id": shop.link_offer, "shopperDiscount": { "type": "PERCENTAGE", "value": "20" } } });
    assert_eq!(app.error_code(Some(admin), update, on_link).await, "BAD_USER_INPUT");
}

/// An order as the Admin API's orders query selects it.
pub fn order_node(id: u64, created_at: chrono::DateTime<chrono::Utc>, total: &str, codes: &[&str]) -> Value {
    json!({
        "legacyResourceId": id.to_string(),
        "createdAt": created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "cancelledAt": null,
        "totalPriceSet": { "shopMoney": { "amount": total, "currencyCode": "USD" } },
        "discountCodes": codes,
        "customerJourneySummary": null,
        "refunds": [],
    })
}

pub fn days_ago(days: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now() - chrono::Duration::days(days)
}

const IMPORT: &str =
    "mutation($i: ImportShopifyOrdersInput!) { importShopifyOrders(input: $i) { shopifyImport { state payable } } }";
const IMPORT_STATE: &str = "{ shopifyImport { state shopDomain from to total processed recorded alreadyRecorded skipped error startedAt finishedAt } }";

/// Waits until the brand's latest import is no longer running.
async fn until_imported(app: &TestApp, key: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let import = app.ok(key, IMPORT_STATE, json!({})).await["shopifyImport"].clone();
        if import["state"] != "RUNNING" {
            return import;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{import}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct Booked {
    #[diesel(sql_type = diesel::sql_types::Text)]
    order_id: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    attribution: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    status: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    sale: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    commission: String,
    /// Whether the commission is marked paid.
    #[diesel(sql_type = diesel::sql_types::Bool)]
    paid: bool,
}

fn booked(order_id: &str, attribution: Option<&str>, status: &str, sale: &str, commission: &str, paid: bool) -> Booked {
    Booked {
        order_id: order_id.into(),
        attribution: attribution.map(str::to_string),
        status: status.into(),
        sale: sale.into(),
        commission: commission.into(),
        paid,
    }
}

/// The Shopify orders booked, by order id (the filler orders left out).
async fn booked_orders(app: &TestApp) -> Vec<Booked> {
    let mut conn = app.db.connect().await;
    diesel_async::RunQueryDsl::load(
        diesel::sql_query(
            "SELECT c.external_order_id AS order_id, c.attribution, c.status, c.sale_amount::text AS sale,
                    c.commission::text AS commission, COALESCE(e.payment_item_id IS NOT NULL, false) AS paid
             FROM conversions c
             LEFT JOIN ledger_entries e ON e.brand_id = c.brand_id AND e.conversion_id = c.id AND e.kind = 'CONVERSION'
             WHERE c.source = 'shopify' AND c.external_order_id NOT LIKE '9%'
             ORDER BY c.external_order_id",
        ),
        &mut conn,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn importing_history_books_each_order_once_by_the_codes_and_clicks_of_its_time() {
    let shopify = ShopifyStandIn::start().await;
    let app = TestApp::with_config(config(&shopify, &secrets_key())).await;
    let shop = crate::tracking::shop(&app).await;
    let admin = &shop.brand.admin;
    let slug = &shop.brand.slug;
    // Nothing to import from before a store is connected.
    let from = days_ago(365).date_naive().to_string();
    let range = json!({ "i": { "from": from } });
    assert_eq!(app.error_code(Some(admin), IMPORT, range.clone()).await, "NOT_FOUND");
    // Connected without a webhook secret: the brand's signs the webhooks below.
    let connect = json!({ "i": { "shopDomain": DOMAIN, "accessToken": TOKEN } });
    app.ok(admin, CONNECT, connect).await;
    until_store(&app, admin, synced).await;

    // The brand ran its offers for a year before joining: its code was issued
    // then, and has just been replaced.
    let mut conn = app.db.connect().await;
    for backdate in [
        "UPDATE promo_codes SET created_at = now() - interval '400 days'",
        "UPDATE offers SET starts_on = current_date - 400",
    ] {
        diesel_async::RunQueryDsl::execute(diesel::sql_query(backdate), &mut conn)
            .await
            .unwrap();
    }
    let old_code = shop.promo_code.clone();
    let refresh =
        "mutation($i: RefreshPromoCodesInput!) { refreshPromoCodes(input: $i) { memberships { promoCode } } }";
    let new_code = "TRAILNEW1";
    app.ok(
        admin,
        refresh,
        json!({ "i": { "membershipIds": [shop.code_membership], "code": new_code } }),
    )
    .await;
    let (_, location) = crate::tracking::click(&app, &shop.link_code, crate::tracking::BROWSER).await;
    let click_id = crate::tracking::stored_click_id(&app, &location).await;

    // The old code, used while it was the member's: the member's, 15 % of 200.
    shopify.add_order(order_node(1001, days_ago(100), "200.00", &[&old_code.to_lowercase()]));
    // The new code did not exist yet: unattributed.
    shopify.add_order(order_node(1002, days_ago(100), "50.00", &[new_code]));
    // Refunded 40 of 100 before the brand paid: 15 % of 60.
    let mut refunded = order_node(1003, days_ago(90), "100.00", &[&old_code]);
    refunded["refunds"] =
        json!([{ "legacyResourceId": "77", "totalRefundedSet": { "shopMoney": { "amount": "40.00" } } }]);
    shopify.add_order(refunded);
    // Cancelled: booked, then reversed.
    let mut cancelled = order_node(1004, days_ago(80), "30.00", &[&old_code]);
    cancelled["cancelledAt"] = json!(days_ago(79).to_rfc3339());
    shopify.add_order(cancelled);
    // In another currency, with no rate known for its day (this server has none): skipped.
    let mut euros = order_node(1005, days_ago(95), "70.00", &[]);
    euros["totalPriceSet"]["shopMoney"]["currencyCode"] = json!("EUR");
    shopify.add_order(euros);
    // Through the creator's link, just now: still within its hold period.
    // (A second after the click: the node's time has whole seconds.)
    let mut clicked = order_node(1006, chrono::Utc::now() + chrono::Duration::seconds(1), "80.00", &[]);
    clicked["customerJourneySummary"] = json!({
        "firstVisit": { "landingPage": "https://shop.example.com/" },
        "lastVisit": { "landingPage": format!("https://shop.example.com/shoes?st_click={click_id}") },
    });
    shopify.add_order(clicked);
    // Already delivered by its webhook, with the new code.
    let body = crate::tracking::shopify_order(1007, "20.00", &[new_code], "/");
    let (status, answer) = crate::tracking::webhook(&app, slug, "shopify", Some("orders/create"), &body, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    shopify.add_order(order_node(1007, chrono::Utc::now(), "20.00", &[new_code]));
    // Before the range: left alone.
    shopify.add_order(order_node(1008, days_ago(500), "999.00", &[&old_code]));
    // Enough orders for a second page.
    for n in 0..50 {
        shopify.add_order(order_node(9000 + n, days_ago(200), "10.00", &[]));
    }

    // Analysts may look, not import.
    let analyst = &shop.brand.analyst;
    assert_eq!(app.error_code(Some(analyst), IMPORT, range.clone()).await, "FORBIDDEN");
    let bad = json!({ "i": { "from": "2026-03-02", "to": "2026-03-01" } });
    assert_eq!(app.error_code(Some(admin), IMPORT, bad).await, "BAD_USER_INPUT");

    let started_on = chrono::Utc::now()
        .with_timezone(&chrono_tz::America::New_York)
        .date_naive()
        .to_string();
    let started = app.ok(admin, IMPORT, range.clone()).await["importShopifyOrders"]["shopifyImport"].clone();
    assert_eq!(started, json!({ "state": "RUNNING", "payable": false }));
    let import = until_imported(&app, admin).await;
    assert_eq!(import["state"], "DONE", "{import}");
    assert_eq!(import["shopDomain"], DOMAIN);
    assert_eq!(
        (&import["from"], &import["to"]),
        (&json!(from), &json!(started_on)),
        "{import}"
    );
    assert_eq!(
        (
            &import["total"],
            &import["processed"],
            &import["recorded"],
            &import["alreadyRecorded"],
            &import["skipped"]
        ),
        (&json!(57), &json!(57), &json!(55), &json!(1), &json!(1)),
        "{import}"
    );
    assert!(import["finishedAt"].is_string() && import["error"].is_null());
    assert_eq!(shopify.order_pages(), 2, "50 orders a page");

    let paid_outside = |order: &str, commission: &str, sale: &str| {
        booked(order, Some("PROMO_CODE"), "ACCEPTED", sale, commission, true)
    };
    assert_eq!(
        booked_orders(&app).await,
        [
            paid_outside("1001", "30.00", "200.00"),
            booked("1002", None, "ACCEPTED", "50.00", "0.00", false),
            paid_outside("1003", "9.00", "60.00"),
            booked("1004", Some("PROMO_CODE"), "REVERSED", "0.00", "0.00", false),
            booked("1006", Some("LINK"), "ACCEPTED", "80.00", "8.00", false),
            booked("1007", Some("PROMO_CODE"), "ACCEPTED", "20.00", "3.00", false),
        ]
    );
    // Commissions past their hold period were paid outside; the recent ones wait.
    let kpis = app
        .ok(
            admin,
            "{ kpis(dateRange: { preset: ALL_TIME }) { conversions totalSales commissionsEarned paymentsDue } }",
            json!({}),
        )
        .await["kpis"]
        .clone();
    // The KPIs count the attributed orders, imported or not.
    assert_eq!(kpis["conversions"], 4, "{kpis}");
    assert_eq!(kpis["totalSales"], "360.00", "{kpis}");
    assert_eq!(kpis["commissionsEarned"], "50.00", "{kpis}");
    assert_eq!(kpis["paymentsDue"], "0.00", "{kpis}");
    let payments = app
        .ok(
            admin,
            "{ payments(first: 5) { nodes { scope provider state totalAmount items { amount state } } } }",
            json!({}),
        )
        .await["payments"]["nodes"]
        .clone();
    assert_eq!(
        payments,
        json!([{ "scope": "SHOP_IMPORT", "provider": "MANUAL", "state": "PAID", "totalAmount": "39.00",
                  "items": [{ "amount": "39.00", "state": "PAID" }] }])
    );

    // Webhooks for what was imported change nothing: the order and its refund count once.
    let again = crate::tracking::shopify_order(1001, "200.00", &[&old_code], "/");
    let (status, answer) = crate::tracking::webhook(&app, slug, "shopify", Some("orders/create"), &again, None).await;
    assert_eq!(
        (status, answer["status"].clone()),
        (StatusCode::OK, json!("duplicate")),
        "{answer}"
    );
    let refund =
        json!({ "id": 77, "order_id": 1003, "transactions": [{ "kind": "refund", "amount": "40.00" }] }).to_string();
    let (status, answer) = crate::tracking::webhook(&app, slug, "shopify", Some("refunds/create"), &refund, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["conversion"]["saleAmount"], "60.00", "{answer}");

    // Importing the range again books nothing twice, and with `payable` the
    // commissions it does book stay due.
    shopify.add_order(order_node(1009, days_ago(60), "100.00", &[&old_code]));
    let payable = json!({ "i": { "from": from, "payable": true } });
    app.ok(admin, IMPORT, payable).await;
    let import = until_imported(&app, admin).await;
    assert_eq!(
        (&import["recorded"], &import["alreadyRecorded"]),
        (&json!(1), &json!(56)),
        "{import}"
    );
    let due = app
        .ok(
            admin,
            "{ kpis(dateRange: { preset: ALL_TIME }) { paymentsDue } }",
            json!({}),
        )
        .await;
    assert_eq!(due["kpis"]["paymentsDue"], "15.00", "{due}");
}

#[tokio::test]
async fn an_import_waits_out_a_failing_shopify_and_resumes_where_a_revoked_token_stopped_it() {
    let shopify = ShopifyStandIn::start().await;
    let app = TestApp::with_config(config(&shopify, &secrets_key())).await;
    let shop = crate::tracking::shop(&app).await;
    let admin = &shop.brand.admin;
    app.ok(admin, CONNECT, connect_input(TOKEN)).await;
    until_store(&app, admin, synced).await;
    for n in 0..120 {
        shopify.add_order(order_node(9000 + n, days_ago(20), "10.00", &[]));
    }
    let range = json!({ "i": { "from": days_ago(30).date_naive().to_string() } });

    // Shopify fails a page, then throttles one: the import waits and goes on.
    // While it runs, a second import is refused.
    shopify.script(Script {
        orders_unavailable: 1,
        orders_throttled: 1,
        ..Default::default()
    });
    app.ok(admin, IMPORT, range.clone()).await;
    assert_eq!(app.error_code(Some(admin), IMPORT, range.clone()).await, "CONFLICT");
    let import = until_imported(&app, admin).await;
    assert_eq!(
        (&import["state"], &import["processed"], &import["recorded"]),
        (&json!("DONE"), &json!(120), &json!(120)),
        "{import}"
    );

    // The token is revoked after the first page of the next import: it fails
    // with the reason, having booked that page.
    for n in 120..220 {
        shopify.add_order(order_node(9000 + n, days_ago(10), "10.00", &[]));
    }
    shopify.script(Script {
        revoke_after_order_pages: Some(shopify.order_pages() + 1),
        ..Default::default()
    });
    app.ok(admin, IMPORT, range.clone()).await;
    let failed = until_imported(&app, admin).await;
    assert_eq!(failed["state"], "FAILED", "{failed}");
    assert_eq!(
        failed["error"],
        "Shopify refused the access token: connect the store again"
    );
    assert_eq!(
        (&failed["processed"], &failed["alreadyRecorded"]),
        (&json!(50), &json!(50)),
        "{failed}"
    );

    // With the token back, importing the same range resumes at the next page.
    shopify.grant(TOKEN, &["read_orders", "write_discounts"]);
    let pages = shopify.order_pages();
    app.ok(admin, IMPORT, range).await;
    let resumed = until_imported(&app, admin).await;
    assert_eq!(
        (
            &resumed["state"],
            &resumed["processed"],
            &resumed["recorded"],
            &resumed["alreadyRecorded"],
            &resumed["error"]
        ),
        (&json!("DONE"), &json!(220), &json!(100), &json!(120), &Value::Null),
        "{resumed}"
    );
    assert_eq!(shopify.order_pages() - pages, 4, "pages 2 to 5 of 220 orders");
    assert_eq!(app.rows("conversions").await, 220);
}

#[tokio::test]
async fn the_command_line_imports_with_progress_as_an_operator() {
    let shopify = ShopifyStandIn::start().await;
    let key = secrets_key();
    let app = TestApp::with_config(config(&shopify, &key)).await;
    let shop = crate::tracking::shop(&app).await;
    app.ok(&shop.brand.admin, CONNECT, connect_input(TOKEN)).await;
    shopify.add_order(order_node(1001, days_ago(40), "200.00", &[&shop.promo_code]));
    for n in 0..60 {
        shopify.add_order(order_node(9000 + n, days_ago(40), "10.00", &[]));
    }
    let from = days_ago(60).date_naive().to_string();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_sales-tracking"))
        .env("FX_RATES_URL", "none")
        .args(["import-shopify", "--brand", &shop.brand.slug, "--from", &from])
        .env("DATABASE_URL", app.db.url())
        .env("SECRETS_KEY", &key)
        .env("SHOPIFY_ADMIN_BASE_URL", &shopify.url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("import DONE: 61 orders read, 61 recorded, 0 already booked, 0 skipped"),
        "{stdout}"
    );
    let import = app.ok(&shop.brand.admin, IMPORT_STATE, json!({})).await["shopifyImport"].clone();
    assert_eq!((&import["state"], &import["total"]), (&json!("DONE"), &json!(61)));
    // The operator's import is in the audit trail, without an API key.
    let audit = app
        .ok(
            &shop.brand.admin,
            "{ auditEvents(first: 5) { nodes { action apiKeyId details } } }",
            json!({}),
        )
        .await;
    let event = &audit["auditEvents"]["nodes"][0];
    assert_eq!(
        (&event["action"], &event["apiKeyId"]),
        (&json!("importShopifyOrders"), &Value::Null),
        "{audit}"
    );
    assert_eq!(event["details"]["shopDomain"], DOMAIN);

    // An unknown brand is a clear refusal.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_sales-tracking"))
        .env("FX_RATES_URL", "none")
        .args(["import-shopify", "--brand", "missing", "--from", &from])
        .env("DATABASE_URL", app.db.url())
        .env("SECRETS_KEY", &key)
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("brand with this slug"));
}

/// A brand changing its shopper discount while the first round is making it in
/// the shop (made, its id not yet recorded): the next round writes the new terms.
#[tokio::test]
async fn terms_changed_while_the_first_round_makes_the_discount_are_written_after() {
    use sales_tracking::db::shop_codes::{DiscountTerms, of_brand, record_shop_discount, set_terms};
    let app = TestApp::new().await;
    let shop = crate::tracking::shop(&app).await;
    let mut conn = app.db.connect().await;
    let brand = shop.brand.id;
    let offer = sales_tracking::domain::ids::OfferId(
        crate::common::count(
            &mut conn,
            &format!("SELECT min(id) AS n FROM offers WHERE brand_id = {}", brand.0),
        )
        .await,
    );
    let terms = |percent: i64| DiscountTerms {
        discount_type: sales_tracking::domain::enums::ShopperDiscountType::Percentage,
        value: rust_decimal::Decimal::new(percent, 0),
        once_per_customer: false,
        minimum_subtotal: None,
    };
    set_terms(&mut conn, brand, offer, &terms(10)).await.unwrap();
    // A round reads the terms and makes the discount in the shop...
    let read = of_brand(&mut conn, brand).await.unwrap().remove(0);
    // ...the brand changes them before the round records the discount's id...
    set_terms(&mut conn, brand, offer, &terms(20)).await.unwrap();
    // ...and the round records what it made, from what it read.
    let made = async |conn: &mut diesel_async::AsyncPgConnection, read_at| {
        let id = Some("gid://shopify/DiscountCodeNode/1");
        record_shop_discount(conn, brand, offer, id, Some(true), Some(read_at))
            .await
            .unwrap()
    };
    made(&mut conn, read.updated_at).await;
    let after = of_brand(&mut conn, brand).await.unwrap().remove(0);
    assert!(after.terms_changed, "the 20% are still to be written");

    // Once a round writes the terms it read last, nothing is left to write.
    made(&mut conn, after.updated_at).await;
    assert!(!of_brand(&mut conn, brand).await.unwrap().remove(0).terms_changed);
}
