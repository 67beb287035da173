use serde_json::json;

use crate::common::TestApp;

const CREATE: &str =
    "mutation($name: String!) { createProject(input: { name: $name }) { project { id name createdAt } } }";

#[tokio::test]
async fn projects_are_created_and_listed_by_name() {
    let app = TestApp::new().await;
    let acme = app.brand("Acme").await;
    for name in ["Summer", "  Autumn  ", "spring"] {
        let data = app.ok(&acme.admin, CREATE, json!({ "name": name })).await;
        let project = &data["createProject"]["project"];
        assert!(project["id"].as_str().unwrap().starts_with("project_"));
        assert_eq!(project["name"], name.trim());
    }
    let data = app.ok(&acme.analyst, "{ projects { name } }", json!({})).await;
    assert_eq!(
        data["projects"],
        json!([{ "name": "Autumn" }, { "name": "Summer" }, { "name": "spring" }])
    );
}

#[tokio::test]
async fn bad_or_duplicate_names_are_refused_and_change_nothing() {
    let app = TestApp::new().await;
    let acme = app.brand("Acme").await;
    app.ok(&acme.admin, CREATE, json!({ "name": "Summer" })).await;
    assert_eq!(
        app.error_code(Some(&acme.admin), CREATE, json!({ "name": "SUMMER" }))
            .await,
        "CONFLICT"
    );
    assert_eq!(
        app.error_code(Some(&acme.admin), CREATE, json!({ "name": "   " }))
            .await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.error_code(Some(&acme.admin), CREATE, json!({ "name": "x".repeat(201) }))
            .await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.error_code(Some(&acme.admin), CREATE, json!({})).await,
        "BAD_USER_INPUT"
    );
    assert_eq!(app.rows("projects").await, 1);

    // Names are unique per brand, not across brands.
    let rival = app.brand("Rival").await;
    app.ok(&rival.admin, CREATE, json!({ "name": "Summer" })).await;
}
