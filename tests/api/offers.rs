use serde_json::{Value, json};

use crate::common::{TestApp, TestBrand};

const CREATE: &str = "mutation($input: CreateOfferInput!) { createOffer(input: $input) { offer { id name type status destinationUrl codePrefix payout { type percent flatAmount } attributionWindowDays holdPeriodDays startsOn endsOn projects { id name } createdAt updatedAt } } }";
const LIST: &str = "query($first: Int, $after: String, $search: String) { offers(first: $first, after: $after, search: $search) { totalCount edges { node { name } } pageInfo { hasNextPage endCursor } } }";

fn link_offer(name: &str) -> Value {
    json!({
        "name": name,
        "type": "SALES_LINK",
        "destinationUrl": "https://shop.example.com/shoes?utm=1",
        "payout": { "type": "PERCENT_OF_SALE", "percent": "10" },
    })
}

async fn create(app: &TestApp, brand: &TestBrand, input: Value) -> Value {
    app.ok(&brand.admin, CREATE, json!({ "input": input })).await["createOffer"]["offer"].clone()
}

async fn project(app: &TestApp, brand: &TestBrand, name: &str) -> String {
    let data = app
        .ok(
            &brand.admin,
            "mutation($n: String!) { createProject(input: { name: $n }) { project { id } } }",
            json!({ "n": name }),
        )
        .await;
    data["createProject"]["project"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_sales_link_offer_is_created_with_defaults_and_projects() {
    let app = TestApp::new().await;
    let acme = app.brand("Acme").await;
    let spring = project(&app, &acme, "Spring").await;
    let holiday = project(&app, &acme, "Holiday").await;
    let mut input = link_offer("Trail Shoes");
    input["projectIds"] = json!([holiday, spring, spring]);
    let offer = create(&app, &acme, input).await;
    assert!(offer["id"].as_str().unwrap().starts_with("offer_"));
    assert_eq!(offer["type"], "SALES_LINK");
    assert_eq!(offer["status"], "ACTIVE");
    assert_eq!(offer["destinationUrl"], "https://shop.example.com/shoes?utm=1");
    assert_eq!(offer["codePrefix"], Value::Null);
    assert_eq!(
        offer["payout"],
        json!({ "type": "PERCENT_OF_SALE", "percent": "10", "flatAmount": null })
    );
    assert_eq!(offer["attributionWindowDays"], 30);
    assert_eq!(offer["holdPeriodDays"], 30);
    assert_eq!(offer["endsOn"], Value::Null);
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::America::New_York)
        .date_naive()
        .to_string();
    assert_eq!(offer["startsOn"], today);
    let names: Vec<_> = offer["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Holiday", "Spring"]);
}

#[tokio::test]
async fn a_promo_code_offer_keeps_exact_money_and_dates() {
    let app = TestApp::new().await;
    let acme = app.brand("Acme").await;
    let offer = create(
        &app,
        &acme,
        json!({
            "name": "Summer Codes",
            "type": "PROMO_CODE",
            "codePrefix": "summer24",
            "payout": { "type": "PERCENT_PLUS_FLAT", "percent": "12.5", "flatAmount": "99999999.99" },
            "attributionWindowDays": 7,
            "holdPeriodDays": 0,
            "startsOn": "2026-01-01",
            "endsOn": "2026-01-31",
        }),
    )
    .await;
    assert_eq!(offer["codePrefix"], "SUMMER24");
    assert_eq!(
        offer["payout"],
        json!({ "type": "PERCENT_PLUS_FLAT", "percent": "12.5", "flatAmount": "99999999.99" })
    );
    assert_eq!(offer["attributionWindowDays"], 7);
    assert_eq!(offer["holdPeriodDays"], 0);
    assert_eq!(offer["startsOn"], "2026-01-01");
    assert_eq!(offer["endsOn"], "2026-01-31");
    assert_eq!(offer["status"], "EXPIRED", "its end date has passed");
}

#[tokio::test]
async fn bad_offers_are_refused_with_a_code_and_nothing_is_stored() {
    let app = TestApp::new().await;
    let acme = app.brand("Acme").await;
    let with = |changes: Value| {
        let mut input = link_offer("Shoes");
        for (key, value) in changes.as_object().unwrap() {
            input[key] = value.clone();
        }
        json!({ "input": input })
    };
    let cases = [
        with(json!({ "name": "  " })),
        with(json!({ "type": "BANANA" })),
        with(json!({ "destinationUrl": null })),
        with(json!({ "destinationUrl": "javascript:alert(1)" })),
        with(json!({ "codePrefix": "SHOES" })),
        with(json!({ "payout": { "type": "FLAT_PER_CONVERSION", "flatAmount": "-1.00" } })),
        with(json!({ "payout": { "type": "FLAT_PER_CONVERSION", "flatAmount": "1.005" } })),
        with(json!({ "payout": { "type": "FLAT_PER_CONVERSION", "flatAmount": 5 } })),
        with(json!({ "payout": { "type": "PERCENT_OF_SALE", "percent": "100.5" } })),
        with(json!({ "payout": { "type": "PERCENT_OF_SALE" } })),
        with(json!({ "payout": { "type": "PERCENT_OF_SALE", "percent": "10", "flatAmount": "1.00" } })),
        with(json!({ "attributionWindowDays": 0 })),
        with(json!({ "holdPeriodDays": -1 })),
        with(json!({ "startsOn": "2026-02-01", "endsOn": "2026-01-01" })),
        with(json!({ "startsOn": "2026-02-30" })),
        with(json!({ "projectIds": ["project_x"] })),
        with(json!({ "projectIds": ["member_1"] })),
        json!({ "input": { "name": "Codes", "type": "PROMO_CODE", "payout": { "type": "PERCENT_OF_SALE", "percent": "5" } } }),
        json!({ "input": { "name": "Codes", "type": "PROMO_CODE", "codePrefix": "C", "payout": { "type": "FLAT_PER_CLICK", "flatAmount": "0.10" } } }),
        json!({ "input": { "name": "Codes", "type": "PROMO_CODE", "codePrefix": "NO SPACES", "payout": { "type": "PERCENT_OF_SALE", "percent": "5" } } }),
    ];
    for variables in cases {
        assert_eq!(
            app.error_code(Some(&acme.admin), CREATE, variables.clone()).await,
            "BAD_USER_INPUT",
            "{variables}"
        );
    }
    assert_eq!(
        app.error_code(
            Some(&acme.admin),
            CREATE,
            with(json!({ "projectIds": ["project_987654"] }))
        )
        .await,
        "NOT_FOUND"
    );
    assert_eq!(app.rows("offers").await, 0);
    assert_eq!(app.rows("offer_projects").await, 0);
}

#[tokio::test]
async fn offers_page_newest_first_with_stable_cursors_and_search() {
    let app = TestApp::new().await;
    let acme = app.brand("Acme").await;
    for name in ["Alpha Shoes", "Beta Bags", "Gamma Shoes", "100% Cotton", "Delta shoes"] {
        create(&app, &acme, link_offer(name)).await;
    }
    let first = app.ok(&acme.admin, LIST, json!({ "first": 2 })).await;
    assert_eq!(first["offers"]["totalCount"], 5);
    let names = |data: &Value| -> Vec<String> {
        data["offers"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&first), ["Delta shoes", "100% Cotton"]);
    // A new offer does not shift the pages already handed out.
    create(&app, &acme, link_offer("Epsilon")).await;
    let cursor = first["offers"]["pageInfo"]["endCursor"].clone();
    let second = app.ok(&acme.admin, LIST, json!({ "first": 2, "after": cursor })).await;
    assert_eq!(names(&second), ["Gamma Shoes", "Beta Bags"]);
    let third = app
        .ok(
            &acme.admin,
            LIST,
            json!({ "first": 2, "after": second["offers"]["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(names(&third), ["Alpha Shoes"]);
    assert_eq!(third["offers"]["pageInfo"]["hasNextPage"], false);

    let shoes = app.ok(&acme.admin, LIST, json!({ "search": "SHOES" })).await;
    assert_eq!(names(&shoes), ["Delta shoes", "Gamma Shoes", "Alpha Shoes"]);
    assert_eq!(shoes["offers"]["totalCount"], 3);
    let percent = app.ok(&acme.admin, LIST, json!({ "search": "0%" })).await;
    assert_eq!(names(&percent), ["100% Cotton"], "% is matched literally");
    let none = app.ok(&acme.admin, LIST, json!({ "search": "_" })).await;
    assert_eq!(none["offers"]["totalCount"], 0, "_ is matched literally");

    assert_eq!(
        app.error_code(Some(&acme.admin), LIST, json!({ "first": 101 })).await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.error_code(Some(&acme.admin), LIST, json!({ "first": -1 })).await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.error_code(Some(&acme.admin), LIST, json!({ "after": "garbage!" }))
            .await,
        "BAD_USER_INPUT"
    );
}

#[tokio::test]
async fn offer_by_id_and_its_errors() {
    let app = TestApp::new().await;
    let acme = app.brand("Acme").await;
    let offer = create(&app, &acme, link_offer("Shoes")).await;
    let query = "query($id: ID!) { offer(id: $id) { id name projects { name } } }";
    let data = app.ok(&acme.analyst, query, json!({ "id": offer["id"] })).await;
    assert_eq!(data["offer"]["name"], "Shoes");
    assert_eq!(data["offer"]["projects"], json!([]));
    assert_eq!(
        app.error_code(Some(&acme.admin), query, json!({ "id": "offer_0" }))
            .await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.error_code(Some(&acme.admin), query, json!({ "id": "offer_77777" }))
            .await,
        "NOT_FOUND"
    );
    assert_eq!(
        app.error_code(Some(&acme.admin), "{ offer { id } }", json!({})).await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.error_code(Some(&acme.admin), "{ offers { nope } }", json!({}))
            .await,
        "BAD_USER_INPUT"
    );
}
