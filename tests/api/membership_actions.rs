//! Offer status, membership activation and removal, promo code refresh, and their audit trail.

use serde_json::json;

use crate::common::TestApp;
use crate::tracking::{shop, webhook};

fn order(id: u64, code: &str) -> String {
    json!({ "id": id, "total_price": "100.00", "currency": "USD", "discount_codes": [{ "code": code }] }).to_string()
}

#[tokio::test]
async fn a_refreshed_code_stops_attributing_and_the_new_one_does() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let refresh = "mutation($ids: [ID!]!, $code: String) { refreshPromoCodes(input: { membershipIds: $ids, code: $code }) { memberships { id promoCode } } }";
    let fresh = app
        .ok(&shop.brand.admin, refresh, json!({ "ids": [shop.code_membership] }))
        .await;
    let new_code = fresh["refreshPromoCodes"]["memberships"][0]["promoCode"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_code, shop.promo_code);
    assert!(new_code.starts_with("TRAIL-"));

    let (_, old) = webhook(
        &app,
        &shop.brand.slug,
        "shopify",
        None,
        &order(1, &shop.promo_code),
        None,
    )
    .await;
    assert_eq!(
        old["conversion"]["attribution"],
        serde_json::Value::Null,
        "the old code no longer attributes"
    );
    let (_, new) = webhook(&app, &shop.brand.slug, "shopify", None, &order(2, &new_code), None).await;
    assert_eq!(new["conversion"]["attribution"], "PROMO_CODE");

    // A chosen code: validated, unique in the brand (old codes included), all or nothing.
    assert_eq!(
        app.error_code(
            Some(&shop.brand.admin),
            refresh,
            json!({ "ids": [shop.code_membership], "code": shop.promo_code })
        )
        .await,
        "CONFLICT"
    );
    assert_eq!(
        app.error_code(
            Some(&shop.brand.admin),
            refresh,
            json!({ "ids": [shop.code_membership], "code": "no spaces" })
        )
        .await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.error_code(
            Some(&shop.brand.admin),
            refresh,
            json!({ "ids": [shop.link_membership] })
        )
        .await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.error_code(Some(&shop.brand.admin), refresh, json!({ "ids": [] }))
            .await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.error_code(
            Some(&shop.brand.admin),
            refresh,
            json!({ "ids": ["membership_999999"] })
        )
        .await,
        "NOT_FOUND"
    );
    assert_eq!(
        app.error_code(
            Some(&shop.brand.analyst),
            refresh,
            json!({ "ids": [shop.code_membership] })
        )
        .await,
        "FORBIDDEN"
    );
    let chosen = app
        .ok(
            &shop.brand.admin,
            refresh,
            json!({ "ids": [shop.code_membership], "code": "ana-vip" }),
        )
        .await;
    assert_eq!(chosen["refreshPromoCodes"]["memberships"][0]["promoCode"], "ANA-VIP");
    assert_eq!(app.rows("promo_codes").await, 3, "every code stays in history");
    let history = app
        .ok(
            &shop.brand.analyst,
            "query($id: ID!) { membership(id: $id) { promoCodes { code createdAt disabledAt } } }",
            json!({ "id": shop.code_membership }),
        )
        .await;
    let codes = history["membership"]["promoCodes"].as_array().unwrap();
    let listed: Vec<&str> = codes.iter().map(|c| c["code"].as_str().unwrap()).collect();
    assert_eq!(
        listed,
        ["ANA-VIP", new_code.as_str(), shop.promo_code.as_str()],
        "newest first"
    );
    assert!(codes[0]["disabledAt"].is_null(), "the current code");
    assert!(codes[1..].iter().all(|c| c["disabledAt"].is_string()), "{codes:?}");

    let events = app
        .ok(
            &shop.brand.analyst,
            "{ auditEvents { edges { node { action details apiKeyId createdAt } } } }",
            json!({}),
        )
        .await;
    let actions: Vec<&str> = events["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "refreshPromoCodes",
            "refreshPromoCodes",
            "addMembers",
            "addMembers",
            "createMember",
            "createOffer",
            "createOffer",
            "setWebhookSecret"
        ]
    );
    assert_eq!(events["auditEvents"]["edges"][0]["node"]["details"]["code"], "ANA-VIP");
}

#[tokio::test]
async fn paused_and_inactive_attribute_nothing_and_removal_keeps_history() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let status =
        "mutation($id: ID!, $s: OfferStatus!) { setOfferStatus(input: { id: $id, status: $s }) { offer { status } } }";
    let paused = app
        .ok(
            &shop.brand.admin,
            status,
            json!({ "id": shop.code_offer, "s": "PAUSED" }),
        )
        .await;
    assert_eq!(paused["setOfferStatus"]["offer"]["status"], "PAUSED");
    let (_, during) = webhook(
        &app,
        &shop.brand.slug,
        "shopify",
        None,
        &order(10, &shop.promo_code),
        None,
    )
    .await;
    assert_eq!(during["conversion"]["attribution"], serde_json::Value::Null);
    assert_eq!(
        app.error_code(
            Some(&shop.brand.admin),
            status,
            json!({ "id": shop.code_offer, "s": "EXPIRED" })
        )
        .await,
        "BAD_USER_INPUT"
    );
    app.ok(
        &shop.brand.admin,
        status,
        json!({ "id": shop.code_offer, "s": "ACTIVE" }),
    )
    .await;

    let active = "mutation($ids: [ID!]!, $a: Boolean!) { setMembershipActive(input: { membershipIds: $ids, active: $a }) { memberships { active } } }";
    app.ok(
        &shop.brand.admin,
        active,
        json!({ "ids": [shop.code_membership], "a": false }),
    )
    .await;
    let (_, off) = webhook(
        &app,
        &shop.brand.slug,
        "shopify",
        None,
        &order(11, &shop.promo_code),
        None,
    )
    .await;
    assert_eq!(off["conversion"]["attribution"], serde_json::Value::Null);
    app.ok(
        &shop.brand.admin,
        active,
        json!({ "ids": [shop.code_membership], "a": true }),
    )
    .await;
    let (_, on) = webhook(
        &app,
        &shop.brand.slug,
        "shopify",
        None,
        &order(12, &shop.promo_code),
        None,
    )
    .await;
    assert_eq!(on["conversion"]["attribution"], "PROMO_CODE");

    let member = app
        .ok(
            &shop.brand.admin,
            "query($id: ID!) { membership(id: $id) { member { id } } }",
            json!({ "id": shop.code_membership }),
        )
        .await["membership"]["member"]["id"]
        .clone();
    let remove = "mutation($o: ID!, $m: [ID!]!) { removeMembers(input: { offerId: $o, memberIds: $m }) { memberships { active removedAt } } }";
    let removed = app
        .ok(
            &shop.brand.admin,
            remove,
            json!({ "o": shop.code_offer, "m": [member] }),
        )
        .await;
    assert_eq!(removed["removeMembers"]["memberships"][0]["active"], false);
    assert!(removed["removeMembers"]["memberships"][0]["removedAt"].is_string());
    assert_eq!(
        app.error_code(
            Some(&shop.brand.admin),
            active,
            json!({ "ids": [shop.code_membership], "a": true })
        )
        .await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        app.error_code(
            Some(&shop.brand.admin),
            remove,
            json!({ "o": shop.link_offer, "m": ["member_999999"] })
        )
        .await,
        "NOT_FOUND"
    );
    let history = app
        .ok(
            &shop.brand.admin,
            "query($id: ID!) { membership(id: $id) { conversions { edges { node { externalOrderId } } } } }",
            json!({ "id": shop.code_membership }),
        )
        .await;
    assert_eq!(
        history["membership"]["conversions"]["edges"].as_array().unwrap().len(),
        1,
        "history kept after removal"
    );
    assert_eq!(
        app.error_code(
            Some(&shop.brand.analyst),
            status,
            json!({ "id": shop.code_offer, "s": "PAUSED" })
        )
        .await,
        "FORBIDDEN"
    );
}

#[tokio::test]
async fn every_mutation_that_moves_money_is_audited_and_refusals_are_not() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let admin = &shop.brand.admin;
    let record = "mutation($id: String!) { recordConversion(input: { externalOrderId: $id, saleAmount: \"40.00\", promoCode: \"%CODE%\" }) { conversion { id } } }"
        .replace("%CODE%", &shop.promo_code);
    let first = app.ok(admin, &record, json!({ "id": "a1" })).await["recordConversion"]["conversion"]["id"].clone();
    let second = app.ok(admin, &record, json!({ "id": "a2" })).await["recordConversion"]["conversion"]["id"].clone();
    app.ok(
        admin,
        "mutation($id: ID!) { refundConversion(input: { id: $id, amount: \"10.00\", idempotencyKey: \"r1\" }) { conversion { id } } }",
        json!({ "id": first }),
    )
    .await;
    app.ok(
        admin,
        "mutation($id: ID!) { rejectConversion(input: { id: $id, reason: \"fraud\" }) { conversion { id } } }",
        json!({ "id": second }),
    )
    .await;
    app.ok(
        admin,
        "mutation($m: ID!) { grantReward(input: { membershipId: $m, reward: { kind: CASH_BONUS, cashAmount: \"5.00\" }, idempotencyKey: \"b\" }) { reward { id } } }",
        json!({ "m": shop.code_membership }),
    )
    .await;
    app.ok(
        admin,
        "mutation { sendPayment(input: { scope: ALL_OFFERS, idempotencyKey: \"p\" }) { payment { id } } }",
        json!({}),
    )
    .await;
    let refused = "mutation($id: ID!) { rejectConversion(input: { id: $id, reason: \"x\" }) { conversion { id } } }";
    assert_eq!(
        app.error_code(Some(&shop.brand.analyst), refused, json!({ "id": first }))
            .await,
        "FORBIDDEN"
    );
    let refund_rejected = "mutation($id: ID!) { refundConversion(input: { id: $id, idempotencyKey: \"refund-all\" }) { conversion { id } } }";
    assert_eq!(
        app.error_code(Some(admin), refund_rejected, json!({ "id": second }))
            .await,
        "CONFLICT"
    );

    let events = app
        .ok(
            admin,
            "{ auditEvents(first: 100) { edges { node { action details } } } }",
            json!({}),
        )
        .await;
    let actions: Vec<&str> = events["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "sendPayment",
            "grantReward",
            "rejectConversion",
            "refundConversion",
            "recordConversion",
            "recordConversion",
            "addMembers",
            "addMembers",
            "createMember",
            "createOffer",
            "createOffer",
            "setWebhookSecret"
        ]
    );
    assert_eq!(
        events["auditEvents"]["edges"][3]["node"]["details"]["change"]["refund"],
        "10.00"
    );
}
