use serde_json::json;

use crate::common::TestApp;

const GET: &str = "query($t: KpiTable!) { tableColumns(table: $t) }";
const SET: &str = "mutation($t: KpiTable!, $c: [TableColumn!]!) { setTableColumns(input: { table: $t, columns: $c }) { table columns } }";

#[tokio::test]
async fn each_key_remembers_its_columns_per_table() {
    let app = TestApp::new().await;
    let brand = app.brand("Columns").await;
    let defaults = app.ok(&brand.admin, GET, json!({ "t": "OFFERS" })).await;
    assert_eq!(defaults["tableColumns"][0], "NAME");
    assert!(defaults["tableColumns"].as_array().unwrap().len() > 5);

    let chosen = json!(["COMMISSIONS_EARNED", "NAME", "CLICKS"]);
    let saved = app.ok(&brand.analyst, SET, json!({ "t": "OFFERS", "c": chosen })).await;
    assert_eq!(saved["setTableColumns"]["columns"], chosen);
    assert_eq!(
        app.ok(&brand.analyst, GET, json!({ "t": "OFFERS" })).await["tableColumns"],
        chosen,
        "read back in order"
    );
    assert_eq!(
        app.ok(&brand.admin, GET, json!({ "t": "OFFERS" })).await["tableColumns"],
        defaults["tableColumns"],
        "another key keeps its own"
    );
    assert_eq!(
        app.ok(&brand.analyst, GET, json!({ "t": "MEMBERSHIPS" })).await["tableColumns"][1],
        "STATUS",
        "another table keeps its own"
    );

    let replaced = json!(["NAME"]);
    app.ok(&brand.analyst, SET, json!({ "t": "OFFERS", "c": replaced }))
        .await;
    assert_eq!(
        app.ok(&brand.analyst, GET, json!({ "t": "OFFERS" })).await["tableColumns"],
        replaced
    );

    for bad in [json!([]), json!(["NAME", "NAME"]), json!(["BANANA"])] {
        assert_eq!(
            app.error_code(Some(&brand.admin), SET, json!({ "t": "OFFERS", "c": bad }))
                .await,
            "BAD_USER_INPUT",
            "{bad}"
        );
    }
    assert_eq!(
        app.error_code(None, GET, json!({ "t": "OFFERS" })).await,
        "UNAUTHENTICATED"
    );
}
