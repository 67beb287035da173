//! API keys managed over GraphQL: made with their secret shown once, listed with
//! their last use, revoked at once, admins only, every change audited.

use serde_json::json;

use crate::common::TestApp;

const CREATE: &str = "mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { secret apiKey { id label role keyPrefix revokedAt } } }";
const REVOKE: &str = "mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id revokedAt } } }";
const LIST: &str = "{ apiKeys { id label role keyPrefix lastUsedAt revokedAt } }";

#[tokio::test]
async fn an_admin_makes_lists_and_revokes_keys_and_a_revoked_key_is_refused() {
    let app = TestApp::new().await;
    let brand = app.brand("Keys Co").await;
    let made = app
        .ok(
            &brand.admin,
            CREATE,
            json!({ "i": { "label": "Mobile app", "role": "ANALYST" } }),
        )
        .await["createApiKey"]
        .clone();
    let secret = made["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("stk_"), "{secret}");
    assert!(secret.starts_with(made["apiKey"]["keyPrefix"].as_str().unwrap()));
    assert_eq!(made["apiKey"]["role"], "ANALYST");
    assert_eq!(made["apiKey"]["revokedAt"], json!(null));

    // The new key works, and its use is noted; its secret is never listed.
    let viewer = app.ok(&secret, "{ viewer { role } }", json!({})).await;
    assert_eq!(viewer["viewer"]["role"], "ANALYST");
    let listed = app.ok(&brand.admin, LIST, json!({})).await;
    let keys = listed["apiKeys"].as_array().unwrap();
    let mobile = keys.iter().find(|k| k["id"] == made["apiKey"]["id"]).unwrap();
    assert_eq!(mobile["label"], "Mobile app");
    assert!(mobile["lastUsedAt"].is_string(), "{mobile}");
    assert!(!listed.to_string().contains(&secret));

    // An analyst key can neither list nor make nor revoke keys.
    assert_eq!(app.error_code(Some(&secret), LIST, json!({})).await, "FORBIDDEN");
    let admin_wanted = json!({ "i": { "label": "x", "role": "ADMIN" } });
    assert_eq!(app.error_code(Some(&secret), CREATE, admin_wanted).await, "FORBIDDEN");

    // Revoked: refused from the next request on.
    let revoked = app
        .ok(&brand.admin, REVOKE, json!({ "id": made["apiKey"]["id"] }))
        .await;
    assert!(revoked["revokeApiKey"]["apiKey"]["revokedAt"].is_string());
    let (status, body) = app.graphql(Some(&secret), "{ viewer { role } }", json!({})).await;
    assert_eq!(status, axum::http::StatusCode::UNAUTHORIZED, "{body}");
    // Revoking again keeps the first time.
    let again = app
        .ok(&brand.admin, REVOKE, json!({ "id": made["apiKey"]["id"] }))
        .await;
    assert_eq!(
        again["revokeApiKey"]["apiKey"]["revokedAt"],
        revoked["revokeApiKey"]["apiKey"]["revokedAt"]
    );

    let audit = app
        .ok(
            &brand.admin,
            "{ auditEvents(first: 10) { edges { node { action details } } } }",
            json!({}),
        )
        .await;
    let actions: Vec<&str> = audit["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["revokeApiKey", "revokeApiKey", "createApiKey"]);
    assert!(!audit.to_string().contains(&secret));
}

#[tokio::test]
async fn a_key_cannot_revoke_itself_or_another_brands_key_and_bad_labels_are_refused() {
    let app = TestApp::new().await;
    let brand = app.brand("Keys Co").await;
    let other = app.brand("Other Co").await;
    let own_id = app.ok(&brand.admin, LIST, json!({})).await["apiKeys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == "ADMIN")
        .unwrap()["id"]
        .clone();
    assert_eq!(
        app.error_code(Some(&brand.admin), REVOKE, json!({ "id": own_id }))
            .await,
        "CONFLICT"
    );
    // Another brand's admin sees no such key.
    assert_eq!(
        app.error_code(Some(&other.admin), REVOKE, json!({ "id": own_id }))
            .await,
        "NOT_FOUND"
    );
    assert_eq!(
        app.ok(&brand.admin, "{ viewer { role } }", json!({})).await["viewer"]["role"],
        "ADMIN"
    );
    for label in ["", "   ", &"x".repeat(201)] {
        let input = json!({ "i": { "label": label, "role": "ANALYST" } });
        assert_eq!(
            app.error_code(Some(&brand.admin), CREATE, input).await,
            "BAD_USER_INPUT"
        );
    }
    assert_eq!(app.rows("audit_events").await, 0);
}
