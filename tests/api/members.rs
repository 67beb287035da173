use serde_json::json;

use crate::common::TestApp;

const CREATE: &str = "mutation($input: CreateMemberInput!) { createMember(input: $input) { member { id name email payoutEmail country createdAt } } }";
const LIST: &str = "query($first: Int, $after: String, $search: String) { members(first: $first, after: $after, search: $search) { totalCount edges { cursor node { name } } pageInfo { hasNextPage hasPreviousPage endCursor } } }";

#[tokio::test]
async fn a_member_is_created_and_read_back() {
    let app = TestApp::new().await;
    let acme = app.brand("Acme").await;
    let input = json!({ "name": " Ana Rivera ", "email": "Ana@Example.com", "payoutEmail": "pay@example.com", "country": "us" });
    let data = app.ok(&acme.admin, CREATE, json!({ "input": input })).await;
    let member = &data["createMember"]["member"];
    assert_eq!(member["name"], "Ana Rivera");
    assert_eq!(member["email"], "Ana@Example.com");
    assert_eq!(member["payoutEmail"], "pay@example.com");
    assert_eq!(member["country"], "US");

    let read = app
        .ok(
            &acme.analyst,
            "query($id: ID!) { member(id: $id) { id name country } }",
            json!({ "id": member["id"] }),
        )
        .await;
    assert_eq!(read["member"]["name"], "Ana Rivera");
    assert_eq!(read["member"]["id"], member["id"]);
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_stores_nothing() {
    let app = TestApp::new().await;
    let acme = app.brand("Acme").await;
    app.ok(
        &acme.admin,
        CREATE,
        json!({ "input": { "name": "Ana", "email": "ana@example.com" } }),
    )
    .await;
    let cases = [
        (json!({ "name": "", "email": "b@example.com" }), "BAD_USER_INPUT"),
        (json!({ "name": "Bo", "email": "not-an-email" }), "BAD_USER_INPUT"),
        (
            json!({ "name": "Bo", "email": "b@example.com", "payoutEmail": "paypal" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "name": "Bo", "email": "b@example.com", "country": "USA" }),
            "BAD_USER_INPUT",
        ),
        (json!({ "name": "Bo" }), "BAD_USER_INPUT"),
        (json!({ "name": "Ana Again", "email": "ANA@example.com" }), "CONFLICT"),
    ];
    for (input, code) in cases {
        assert_eq!(
            app.error_code(Some(&acme.admin), CREATE, json!({ "input": input }))
                .await,
            code,
            "{input}"
        );
    }
    assert_eq!(app.rows("members").await, 1);

    let by_id = "query($id: ID!) { member(id: $id) { name } }";
    assert_eq!(
        app.error_code(Some(&acme.admin), by_id, json!({ "id": "member_abc" }))
            .await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.error_code(Some(&acme.admin), by_id, json!({ "id": "offer_1" }))
            .await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.error_code(Some(&acme.admin), by_id, json!({ "id": "member_424242" }))
            .await,
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn members_page_newest_first_and_search_by_name_or_email() {
    let app = TestApp::new().await;
    let acme = app.brand("Acme").await;
    for (name, email) in [
        ("Ana", "ana@example.com"),
        ("Ben", "ben@shop.io"),
        ("Cleo", "cleo@example.com"),
        ("Dev", "dev@example.com"),
        ("Eve", "eve@example.com"),
    ] {
        app.ok(
            &acme.admin,
            CREATE,
            json!({ "input": { "name": name, "email": email } }),
        )
        .await;
    }
    let mut names = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let data = app.ok(&acme.admin, LIST, json!({ "first": 2, "after": after })).await;
        let list = &data["members"];
        assert_eq!(list["totalCount"], 5);
        assert_eq!(list["pageInfo"]["hasPreviousPage"], after.is_some());
        names.extend(
            list["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["name"].as_str().unwrap().to_string()),
        );
        pages += 1;
        if list["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = list["pageInfo"]["endCursor"].as_str().map(str::to_string);
    }
    assert_eq!(pages, 3);
    assert_eq!(names, ["Eve", "Dev", "Cleo", "Ben", "Ana"]);

    let found = app.ok(&acme.admin, LIST, json!({ "search": "SHOP" })).await;
    assert_eq!(found["members"]["totalCount"], 1);
    assert_eq!(found["members"]["edges"][0]["node"]["name"], "Ben");
    let found = app.ok(&acme.admin, LIST, json!({ "search": "e" })).await;
    assert_eq!(found["members"]["totalCount"], 5, "every email contains an e");
}

const UPDATE: &str = "mutation($input: UpdateMemberInput!) { updateMember(input: $input) { member { id name email payoutEmail country } } }";

#[tokio::test]
async fn a_member_is_edited_field_by_field_and_the_edit_is_audited() {
    let app = TestApp::new().await;
    let acme = app.brand("Acme").await;
    let create = |name: &str, email: &str| json!({ "input": { "name": name, "email": email, "payoutEmail": "old@example.com", "country": "US" } });
    let ana =
        app.ok(&acme.admin, CREATE, create("Ana", "ana@example.com")).await["createMember"]["member"]["id"].clone();
    app.ok(&acme.admin, CREATE, create("Bo", "bo@example.com")).await;

    let edited = app
        .ok(
            &acme.admin,
            UPDATE,
            json!({ "input": { "id": ana, "payoutEmail": "+15551234567", "name": " Ana R. " } }),
        )
        .await;
    assert_eq!(
        edited["updateMember"]["member"],
        json!({ "id": ana, "name": "Ana R.", "email": "ana@example.com", "payoutEmail": "+15551234567", "country": "US" })
    );
    // null clears an optional field; a field left out stays.
    let cleared = app
        .ok(
            &acme.admin,
            UPDATE,
            json!({ "input": { "id": ana, "payoutEmail": null, "country": null } }),
        )
        .await;
    assert_eq!(cleared["updateMember"]["member"]["payoutEmail"], json!(null));
    assert_eq!(cleared["updateMember"]["member"]["country"], json!(null));
    assert_eq!(cleared["updateMember"]["member"]["name"], "Ana R.");

    let code = |input: serde_json::Value, key: String| {
        let app = &app;
        async move { app.error_code(Some(&key), UPDATE, json!({ "input": input })).await }
    };
    assert_eq!(
        code(json!({ "id": ana, "email": "BO@example.com" }), acme.admin.clone()).await,
        "CONFLICT"
    );
    assert_eq!(
        code(json!({ "id": ana, "email": "not an email" }), acme.admin.clone()).await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        code(json!({ "id": ana, "country": "USA" }), acme.admin.clone()).await,
        "BAD_USER_INPUT"
    );
    assert_eq!(code(json!({ "id": ana }), acme.admin.clone()).await, "BAD_USER_INPUT");
    assert_eq!(
        code(json!({ "id": ana, "name": "X" }), acme.analyst.clone()).await,
        "FORBIDDEN"
    );
    let other = app.brand("Other").await;
    assert_eq!(
        code(json!({ "id": ana, "name": "X" }), other.admin.clone()).await,
        "NOT_FOUND"
    );

    let audit = app
        .ok(
            &acme.admin,
            "{ auditEvents(first: 5) { edges { node { action details } } } }",
            json!({}),
        )
        .await;
    let latest = &audit["auditEvents"]["edges"][0]["node"];
    assert_eq!(latest["action"], "updateMember");
    assert_eq!(latest["details"]["changed"], json!(["payoutEmail", "country"]));
    let updates = audit["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["node"]["action"] == "updateMember")
        .count();
    assert_eq!(updates, 2, "refused edits leave no audit event: {audit}");
}
