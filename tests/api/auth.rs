use axum::http::StatusCode;
use serde_json::json;

use crate::common::TestApp;

const VIEWER: &str = "{ viewer { role brand { id slug name timeZone currency } } }";
const CREATE_PROJECT: &str =
    "mutation($name: String!) { createProject(input: { name: $name }) { project { id name } } }";

#[tokio::test]
async fn a_key_decides_the_brand_and_role() {
    let app = TestApp::new().await;
    let acme = app.brand("Acme Outdoor").await;
    let data = app.ok(&acme.admin, VIEWER, json!({})).await;
    assert_eq!(data["viewer"]["role"], "ADMIN");
    assert_eq!(data["viewer"]["brand"]["slug"], acme.slug.as_str());
    assert_eq!(acme.slug, "acme-outdoor");
    assert_eq!(data["viewer"]["brand"]["name"], "Acme Outdoor");
    assert_eq!(data["viewer"]["brand"]["timeZone"], "America/New_York");
    assert_eq!(data["viewer"]["brand"]["currency"], "USD");
    assert_eq!(data["viewer"]["brand"]["id"], acme.id.to_string());

    let data = app.ok(&acme.analyst, VIEWER, json!({})).await;
    assert_eq!(data["viewer"]["role"], "ANALYST");
}

#[tokio::test]
async fn no_key_is_unauthenticated_but_the_schema_is_public() {
    let app = TestApp::new().await;
    assert_eq!(app.error_code(None, VIEWER, json!({})).await, "UNAUTHENTICATED");
    assert_eq!(
        app.error_code(None, "{ offers { totalCount } }", json!({})).await,
        "UNAUTHENTICATED"
    );
    assert_eq!(
        app.error_code(None, CREATE_PROJECT, json!({ "name": "X" })).await,
        "UNAUTHENTICATED"
    );

    let (status, body) = app
        .graphql(None, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
    assert_eq!(app.rows("projects").await, 0);
}

#[tokio::test]
async fn a_wrong_or_revoked_key_is_refused_with_401() {
    let app = TestApp::new().await;
    let acme = app.brand("Acme").await;
    for bad in ["stk_not-a-real-key", "", "   "] {
        let (status, body) = app.graphql(Some(bad), VIEWER, json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "key {bad:?}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    }

    let mut conn = app.db.connect().await;
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query("UPDATE api_keys SET revoked_at = now() WHERE role = 'ADMIN'"),
        &mut conn,
    )
    .await
    .unwrap();
    let (status, _) = app.graphql(Some(&acme.admin), VIEWER, json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.graphql(Some(&acme.analyst), VIEWER, json!({})).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn analysts_read_but_every_mutation_is_forbidden_and_changes_nothing() {
    let app = TestApp::new().await;
    let acme = app.brand("Acme").await;
    let mutations = [
        (CREATE_PROJECT, json!({ "name": "Spring" })),
        (
            "mutation { createMember(input: { name: \"Ana\", email: \"ana@example.com\" }) { member { id } } }",
            json!({}),
        ),
        (
            "mutation { createOffer(input: { name: \"Shoes\", type: SALES_LINK, destinationUrl: \"https://x.example.com\", payout: { type: PERCENT_OF_SALE, percent: \"10\" } }) { offer { id } } }",
            json!({}),
        ),
    ];
    for (mutation, variables) in &mutations {
        assert_eq!(
            app.error_code(Some(&acme.analyst), mutation, variables.clone()).await,
            "FORBIDDEN"
        );
    }
    for table in ["projects", "members", "offers"] {
        assert_eq!(app.rows(table).await, 0, "{table} changed");
    }
    for (mutation, variables) in &mutations {
        app.ok(&acme.admin, mutation, variables.clone()).await;
    }
    assert_eq!(
        app.ok(&acme.analyst, "{ offers { totalCount } }", json!({})).await["offers"]["totalCount"],
        1
    );
}

#[tokio::test]
async fn another_brands_ids_behave_like_ids_that_do_not_exist() {
    let app = TestApp::new().await;
    let acme = app.brand("Acme").await;
    let rival = app.brand("Rival").await;
    let created = app
        .ok(
            &acme.admin,
            "mutation { createOffer(input: { name: \"Secret plan\", type: PROMO_CODE, codePrefix: \"ACME\", payout: { type: FLAT_PER_CONVERSION, flatAmount: \"5.00\" } }) { offer { id } } }",
            json!({}),
        )
        .await;
    let offer_id = created["createOffer"]["offer"]["id"].as_str().unwrap().to_string();
    let member = app
        .ok(
            &acme.admin,
            "mutation { createMember(input: { name: \"Ana\", email: \"ana@example.com\" }) { member { id } } }",
            json!({}),
        )
        .await;
    let member_id = member["createMember"]["member"]["id"].as_str().unwrap().to_string();
    let project = app.ok(&acme.admin, CREATE_PROJECT, json!({ "name": "Hidden" })).await;
    let project_id = project["createProject"]["project"]["id"].as_str().unwrap().to_string();

    let offer_query = "query($id: ID!) { offer(id: $id) { name } }";
    assert_eq!(
        app.error_code(Some(&rival.admin), offer_query, json!({ "id": offer_id }))
            .await,
        "NOT_FOUND"
    );
    assert_eq!(
        app.error_code(Some(&rival.admin), offer_query, json!({ "id": "offer_999999" }))
            .await,
        "NOT_FOUND"
    );
    let member_query = "query($id: ID!) { member(id: $id) { name } }";
    assert_eq!(
        app.error_code(Some(&rival.admin), member_query, json!({ "id": member_id }))
            .await,
        "NOT_FOUND"
    );

    let lists = app
        .ok(
            &rival.admin,
            "{ offers { totalCount edges { node { id } } } members { totalCount } projects { id } }",
            json!({}),
        )
        .await;
    assert_eq!(lists["offers"]["totalCount"], 0);
    assert_eq!(lists["members"]["totalCount"], 0);
    assert_eq!(lists["projects"], json!([]));

    // Connecting another brand's project is refused like an unknown one.
    let connect = "mutation($p: [ID!]!) { createOffer(input: { name: \"Copy\", type: PROMO_CODE, codePrefix: \"R\", payout: { type: PERCENT_OF_SALE, percent: \"5\" }, projectIds: $p }) { offer { id } } }";
    assert_eq!(
        app.error_code(Some(&rival.admin), connect, json!({ "p": [project_id] }))
            .await,
        "NOT_FOUND"
    );
    assert_eq!(app.rows("offers").await, 1);

    let own = app.ok(&acme.admin, offer_query, json!({ "id": offer_id })).await;
    assert_eq!(own["offer"]["name"], "Secret plan");
}
