//! What an app developer expects of the API: Relay's `node`/`nodes`, Apollo's
//! automatic persisted queries (over GET with cache headers too), and one `input:`
//! argument on every mutation.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::TestApp;
use crate::tracking::shop;

#[tokio::test]
async fn node_finds_any_object_by_its_id_within_the_brand() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let admin = &shop.brand.admin;
    let ids = app
        .ok(
            admin,
            "query($m: ID!) { viewer { brand { id } } membership(id: $m) { id member { id } offer { id } } apiKeys { id } }",
            json!({ "m": shop.code_membership }),
        )
        .await;
    let brand = ids["viewer"]["brand"]["id"].clone();
    let member = ids["membership"]["member"]["id"].clone();
    let key = ids["apiKeys"][0]["id"].clone();
    let query = "query($id: ID!) { node(id: $id) { __typename id ... on Offer { name } ... on Member { name } ... on Membership { promoCode } } }";
    for (id, typename) in [
        (json!(shop.code_offer), "Offer"),
        (json!(shop.code_membership), "Membership"),
        (member.clone(), "Member"),
        (brand.clone(), "Brand"),
        (key.clone(), "ApiKey"),
    ] {
        let node = app.ok(admin, query, json!({ "id": id })).await["node"].clone();
        assert_eq!(node["__typename"], typename);
        assert_eq!(node["id"], id);
    }
    let offer = app.ok(admin, query, json!({ "id": shop.code_offer })).await;
    assert_eq!(offer["node"]["name"], "Codes");

    // In order, repeats kept, null for what the brand does not have.
    let nodes = app
        .ok(
            admin,
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": [shop.link_offer, "member_999999", member, shop.link_offer] }),
        )
        .await["nodes"]
        .clone();
    assert_eq!(
        nodes,
        json!([{ "id": shop.link_offer }, null, { "id": member }, { "id": shop.link_offer }])
    );

    // Another brand sees none of it, its own brand id included.
    let other = app.brand("Elsewhere").await;
    let seen = app
        .ok(
            &other.admin,
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": [shop.code_offer, shop.code_membership, member, brand, key] }),
        )
        .await;
    assert_eq!(seen["nodes"], json!([null, null, null, null, null]));

    // Ids that name no node are refused; keys are for admins; at most 100 ids.
    for bad in ["offer42", "ledger_entry_1", "audit_event_1", ""] {
        assert_eq!(
            app.error_code(Some(admin), query, json!({ "id": bad })).await,
            "BAD_USER_INPUT",
            "{bad}"
        );
    }
    assert_eq!(
        app.error_code(Some(&shop.brand.analyst), query, json!({ "id": key }))
            .await,
        "FORBIDDEN"
    );
    let many: Vec<String> = (1..=101).map(|n| format!("offer_{n}")).collect();
    assert_eq!(
        app.error_code(
            Some(admin),
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": many })
        )
        .await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.error_code(None, query, json!({ "id": shop.code_offer })).await,
        "UNAUTHENTICATED"
    );
}

#[tokio::test]
async fn every_type_with_an_id_is_a_node_and_every_mutation_takes_one_input() {
    let app = TestApp::new().await;
    let brand = app.brand("Trail Co").await;
    let schema = app
        .ok(
            &brand.admin,
            "{ __schema { types { name kind interfaces { name } fields { name type { kind ofType { name } } } } mutationType { fields { name args { name type { kind ofType { name } } } } } } }",
            json!({}),
        )
        .await["__schema"]
        .clone();
    for ty in schema["types"].as_array().unwrap() {
        let name = ty["name"].as_str().unwrap();
        let has_id = ty["fields"].as_array().is_some_and(|fields| {
            fields
                .iter()
                .any(|f| f["name"] == "id" && f["type"]["ofType"]["name"] == "ID")
        });
        if ty["kind"] == "OBJECT" && has_id && !name.starts_with("__") {
            let interfaces: Vec<&Value> = ty["interfaces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| &i["name"])
                .collect();
            assert!(
                interfaces.contains(&&json!("Node")),
                "{name} has an id but is not a Node"
            );
        }
    }
    for mutation in schema["mutationType"]["fields"].as_array().unwrap() {
        let args = mutation["args"].as_array().unwrap();
        assert_eq!(args.len(), 1, "{} takes {} arguments", mutation["name"], args.len());
        assert_eq!(args[0]["name"], "input", "{}", mutation["name"]);
        assert_eq!(args[0]["type"]["kind"], "NON_NULL", "{}", mutation["name"]);
    }
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Every byte but letters and digits as `%XX`.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A GET of `/graphql` with the given parameters; status, headers and JSON body.
async fn get(app: &TestApp, key: &str, params: &[(&str, String)]) -> (StatusCode, header::HeaderMap, Value) {
    let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
    let request = Request::get(format!("/graphql?{}", query.join("&")))
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .body(Body::empty())
        .unwrap();
    let response = app.respond(request).await;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, serde_json::from_slice(&bytes).unwrap())
}

async fn post(app: &TestApp, key: &str, body: Value) -> (StatusCode, Value) {
    let request = Request::post("/graphql")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.respond(request).await;
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn persisted_queries_register_on_first_use_and_answer_by_hash_over_get_with_cache_headers() {
    let app = TestApp::new().await;
    let brand = app.brand("Trail Co").await;
    let key = &brand.admin;
    let query = "query Role { viewer { role brand { name } } }";
    let hash = sha256_hex(query);
    let extension = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } }).to_string();

    // Unknown hash: Apollo's "not found", which makes the client send the text once.
    let (status, headers, body) = get(&app, key, &[("extensions", extension.clone())]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    assert_eq!(body["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");

    let (status, registered) = post(
        &app,
        key,
        json!({ "query": query, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } } }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(registered["data"]["viewer"]["role"], "ADMIN");

    // Now the hash alone answers, over GET, and the answer may be cached privately.
    let (status, headers, body) = get(&app, key, &[("extensions", extension.clone())]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"], registered["data"]);
    assert_eq!(headers[header::CACHE_CONTROL], "private, max-age=30");
    assert!(
        headers.get_all(header::VARY).iter().any(|v| v
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("authorization"))
    );
    // Still charged and measured like any query.
    assert!(body["extensions"]["cost"]["requestedQueryCost"].as_u64().unwrap() > 0);

    // A hash that is not the text's is refused, and files nothing.
    let other = "{ apiKeys { id } }";
    let (status, forged) = post(
        &app,
        key,
        json!({ "query": other, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha256_hex("{ x }") } } }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(forged["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let forged_hash = json!({ "persistedQuery": { "version": 1, "sha256Hash": sha256_hex("{ x }") } }).to_string();
    let (_, _, body) = get(&app, key, &[("extensions", forged_hash)]).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND");

    // A persisted mutation is still a mutation: never over GET.
    let mutation = "mutation { setTableColumns(input: { table: OFFERS, columns: [NAME] }) { columns } }";
    let mutation_hash = sha256_hex(mutation);
    let (status, _) = post(
        &app,
        key,
        json!({ "query": mutation, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": mutation_hash } } }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let by_hash = json!({ "persistedQuery": { "version": 1, "sha256Hash": mutation_hash } }).to_string();
    let (status, headers, _) = get(&app, key, &[("extensions", by_hash)]).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[header::ALLOW], "POST");

    // Errors are never cached.
    let (status, headers, body) = get(&app, key, &[("query", "{ offer(id: \"offer_999\") { id } }".into())]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");

    // Malformed extensions are refused with a reason.
    let bad = json!({ "persistedQuery": { "version": 2, "sha256Hash": hash } }).to_string();
    let (status, _, body) = get(&app, key, &[("extensions", bad)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}
