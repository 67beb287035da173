//! updateOffer, editPayout and payout overrides.

use serde_json::json;

use crate::common::TestApp;
use crate::tracking::shop;

const UPDATE: &str = "mutation($i: UpdateOfferInput!) { updateOffer(input: $i) { offer { name destinationUrl holdPeriodDays attributionWindowDays startsOn endsOn projects { name } } } }";

/// `{ id, i }` as `updateOffer`'s one input: the offer's id goes inside.
fn edit(variables: serde_json::Value) -> serde_json::Value {
    let mut input = variables["i"].clone();
    input["id"] = variables["id"].clone();
    json!({ "i": input })
}
const RECORD: &str = "mutation($id: String!, $code: String!) { recordConversion(input: { externalOrderId: $id, saleAmount: \"200.00\", promoCode: $code }) { conversion { commission payoutRule { type percent flatAmount } } } }";

#[tokio::test]
async fn update_offer_changes_what_is_given_and_refuses_bad_edits() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let admin = &shop.brand.admin;
    let project = app
        .ok(
            admin,
            "mutation { createProject(input: { name: \"Spring\" }) { project { id } } }",
            json!({}),
        )
        .await["createProject"]["project"]["id"]
        .clone();
    let input = json!({
        "name": "Shoes 2027", "destinationUrl": "https://shop.example.com/new", "holdPeriodDays": 14,
        "attributionWindowDays": 7, "startsOn": "2026-01-01", "endsOn": "2027-01-31", "projectIds": [project]
    });
    let updated = app
        .ok(admin, UPDATE, edit(json!({ "id": shop.link_offer, "i": input })))
        .await;
    assert_eq!(
        updated["updateOffer"]["offer"],
        json!({ "name": "Shoes 2027", "destinationUrl": "https://shop.example.com/new", "holdPeriodDays": 14,
                "attributionWindowDays": 7, "startsOn": "2026-01-01", "endsOn": "2027-01-31", "projects": [{ "name": "Spring" }] })
    );
    // Only what is given changes; `endsOn: null` makes it open-ended; `projectIds: []` disconnects.
    let cleared = app
        .ok(
            admin,
            UPDATE,
            edit(json!({ "id": shop.link_offer, "i": { "endsOn": null, "projectIds": [] } })),
        )
        .await;
    assert_eq!(cleared["updateOffer"]["offer"]["endsOn"], json!(null));
    assert_eq!(cleared["updateOffer"]["offer"]["projects"], json!([]));
    assert_eq!(cleared["updateOffer"]["offer"]["name"], "Shoes 2027");

    let refused = [
        (
            json!({ "id": shop.code_offer, "i": { "destinationUrl": "https://x.example.com" } }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "id": shop.link_offer, "i": { "codePrefix": "ABC" } }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "id": shop.link_offer, "i": { "endsOn": "2025-12-31" } }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "id": shop.link_offer, "i": { "holdPeriodDays": -1 } }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "id": shop.link_offer, "i": { "attributionWindowDays": 0 } }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "id": shop.link_offer, "i": { "name": "  " } }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "id": shop.link_offer, "i": { "name": "X", "projectIds": ["project_999999"] } }),
            "NOT_FOUND",
        ),
        (json!({ "id": "offer_999999", "i": { "name": "X" } }), "NOT_FOUND"),
    ];
    for (variables, code) in refused {
        assert_eq!(
            app.error_code(Some(admin), UPDATE, edit(variables.clone())).await,
            code,
            "{variables}"
        );
    }
    let analyst = json!({ "id": shop.link_offer, "i": { "name": "X" } });
    assert_eq!(
        app.error_code(Some(&shop.brand.analyst), UPDATE, edit(analyst)).await,
        "FORBIDDEN"
    );

    // An archived offer is read-only until it is activated again.
    app.ok(
        admin,
        "mutation($id: ID!) { setOfferStatus(input: { id: $id, status: ARCHIVED }) { offer { status } } }",
        json!({ "id": shop.link_offer }),
    )
    .await;
    let archived = json!({ "id": shop.link_offer, "i": { "name": "X" } });
    assert_eq!(
        app.error_code(Some(admin), UPDATE, edit(archived)).await,
        "BAD_USER_INPUT"
    );
    let name = app
        .ok(
            admin,
            "query($id: ID!) { offer(id: $id) { name } }",
            json!({ "id": shop.link_offer }),
        )
        .await;
    assert_eq!(name["offer"]["name"], "Shoes 2027", "refused edits changed nothing");
}

#[tokio::test]
async fn payout_edits_change_future_conversions_only() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let admin = &shop.brand.admin;
    let code = shop.promo_code.as_str();
    let before = app.ok(admin, RECORD, json!({ "id": "o1", "code": code })).await;
    assert_eq!(before["recordConversion"]["conversion"]["commission"], "30.00");

    let edit = "mutation($id: ID!, $p: PayoutRuleInput!) { editPayout(input: { id: $id, payout: $p }) { offer { payout { type flatAmount } } } }";
    let flat = json!({ "type": "FLAT_PER_CONVERSION", "flatAmount": "5.00" });
    let edited = app.ok(admin, edit, json!({ "id": shop.code_offer, "p": flat })).await;
    assert_eq!(
        edited["editPayout"]["offer"]["payout"],
        json!({ "type": "FLAT_PER_CONVERSION", "flatAmount": "5.00" })
    );
    let after = app.ok(admin, RECORD, json!({ "id": "o2", "code": code })).await;
    assert_eq!(after["recordConversion"]["conversion"]["commission"], "5.00");
    let first = app
        .ok(
            admin,
            "query($id: ID!) { offer(id: $id) { conversions { edges { node { externalOrderId commission } } } } }",
            json!({ "id": shop.code_offer }),
        )
        .await;
    let commissions: Vec<(String, String)> = first["offer"]["conversions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["node"]["externalOrderId"].as_str().unwrap().into(),
                e["node"]["commission"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        commissions,
        [("o2".into(), "5.00".into()), ("o1".to_string(), "30.00".to_string())],
        "the earlier conversion keeps its rule"
    );

    // A member's override beats the default until it is cleared.
    let set = "mutation($ids: [ID!]!, $p: PayoutRuleInput!) { setPayoutOverride(input: { membershipIds: $ids, payout: $p }) { memberships { payoutOverride { type percent } } } }";
    let twenty = json!({ "type": "PERCENT_OF_SALE", "percent": "20" });
    let overridden = app
        .ok(admin, set, json!({ "ids": [shop.code_membership], "p": twenty }))
        .await;
    assert_eq!(
        overridden["setPayoutOverride"]["memberships"][0]["payoutOverride"],
        json!({ "type": "PERCENT_OF_SALE", "percent": "20" })
    );
    let with_override = app.ok(admin, RECORD, json!({ "id": "o3", "code": code })).await;
    assert_eq!(with_override["recordConversion"]["conversion"]["commission"], "40.00");
    let clear = "mutation($ids: [ID!]!) { clearPayoutOverride(input: { membershipIds: $ids }) { memberships { payoutOverride { type } } } }";
    let cleared = app.ok(admin, clear, json!({ "ids": [shop.code_membership] })).await;
    assert_eq!(
        cleared["clearPayoutOverride"]["memberships"][0]["payoutOverride"],
        json!(null)
    );
    let default_again = app.ok(admin, RECORD, json!({ "id": "o4", "code": code })).await;
    assert_eq!(default_again["recordConversion"]["conversion"]["commission"], "5.00");

    // Rules that cannot apply are refused, and change nothing.
    let per_click = json!({ "type": "FLAT_PER_CLICK", "flatAmount": "0.10" });
    assert_eq!(
        app.error_code(Some(admin), edit, json!({ "id": shop.code_offer, "p": per_click }))
            .await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.error_code(
            Some(admin),
            set,
            json!({ "ids": [shop.code_membership], "p": per_click })
        )
        .await,
        "BAD_USER_INPUT"
    );
    let too_much = json!({ "type": "PERCENT_OF_SALE", "percent": "100.5" });
    assert_eq!(
        app.error_code(
            Some(admin),
            set,
            json!({ "ids": [shop.code_membership], "p": too_much })
        )
        .await,
        "BAD_USER_INPUT"
    );
    let negative = json!({ "type": "FLAT_PER_CONVERSION", "flatAmount": "-1.00" });
    assert_eq!(
        app.error_code(Some(admin), edit, json!({ "id": shop.code_offer, "p": negative }))
            .await,
        "BAD_USER_INPUT"
    );
    // All or nothing: one unknown id and no membership changes.
    let mixed = json!({ "ids": [shop.code_membership, "membership_999999"], "p": twenty });
    assert_eq!(app.error_code(Some(admin), set, mixed).await, "NOT_FOUND");
    let analyst = json!({ "ids": [shop.code_membership], "p": twenty });
    assert_eq!(
        app.error_code(Some(&shop.brand.analyst), set, analyst).await,
        "FORBIDDEN"
    );
    let still = app
        .ok(
            admin,
            "query($id: ID!) { membership(id: $id) { payoutOverride { type } } }",
            json!({ "id": shop.code_membership }),
        )
        .await;
    assert_eq!(still["membership"]["payoutOverride"], json!(null));
}
