//! Refunds count exactly once: a retried refund is applied once and two real refunds
//! each count, through the API and through every webhook shape.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::tracking::{Shop, shop, shopify_delivery, webhook};

const REFUND: &str = "mutation($id: ID!, $amount: Money, $key: String!) { refundConversion(input: { id: $id, amount: $amount, idempotencyKey: $key }) { conversion { saleAmount commission } } }";

/// Records a generic order of `amount` with the shop's promo code (15% commission).
async fn generic_order(app: &TestApp, shop: &Shop, order_id: &str, amount: &str) {
    let order =
        json!({ "event": "order.created", "order_id": order_id, "amount": amount, "promo_code": shop.promo_code });
    let (status, answer) = webhook(app, &shop.brand.slug, "store", None, &order.to_string(), None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

async fn sale_of(app: &TestApp, shop: &Shop) -> Value {
    let data = app
        .ok(
            &shop.brand.admin,
            "query($id: ID!) { offer(id: $id) { conversions { nodes { id saleAmount commission } } } }",
            json!({ "id": shop.code_offer }),
        )
        .await;
    data["offer"]["conversions"]["nodes"][0].clone()
}

/// The order's sale and commission, without its id.
async fn amounts_of(app: &TestApp, shop: &Shop) -> Value {
    let mut sale = sale_of(app, shop).await;
    sale.as_object_mut().unwrap().remove("id");
    sale
}

#[tokio::test]
async fn refund_conversion_needs_its_key_and_counts_each_key_once() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    generic_order(&app, &shop, "A-1", "100.00").await;
    let id = sale_of(&app, &shop).await["id"].clone();
    let keyless =
        "mutation($id: ID!) { refundConversion(input: { id: $id, amount: \"10.00\" }) { conversion { id } } }";
    assert_eq!(
        app.error_code(Some(&shop.brand.admin), keyless, json!({ "id": id }))
            .await,
        "BAD_USER_INPUT"
    );
    assert_eq!(
        sale_of(&app, &shop).await["saleAmount"],
        "100.00",
        "a refund without a key changes nothing"
    );

    for key in ["r-1", "r-1", "r-2"] {
        app.ok(
            &shop.brand.admin,
            REFUND,
            json!({ "id": id, "amount": "10.00", "key": key }),
        )
        .await;
    }
    assert_eq!(
        amounts_of(&app, &shop).await,
        json!({ "saleAmount": "80.00", "commission": "12.00" }),
        "two refunds of 10.00, one of them retried"
    );
}

#[tokio::test]
async fn generic_refunds_need_a_refund_id_and_count_once_per_id() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    generic_order(&app, &shop, "A-1", "100.00").await;
    let refund = |refund_id: Value| {
        let mut body = json!({ "event": "order.refunded", "order_id": "A-1", "amount": "10.00" });
        if !refund_id.is_null() {
            body["refund_id"] = refund_id;
        }
        body.to_string()
    };
    let (status, answer) = webhook(&app, &shop.brand.slug, "store", None, &refund(Value::Null), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["error"]["code"], "BAD_REQUEST");
    assert_eq!(sale_of(&app, &shop).await["saleAmount"], "100.00");

    for refund_id in ["R-1", "R-1", "R-2"] {
        let (status, answer) = webhook(&app, &shop.brand.slug, "store", None, &refund(json!(refund_id)), None).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    assert_eq!(
        amounts_of(&app, &shop).await,
        json!({ "saleAmount": "80.00", "commission": "12.00" }),
        "two distinct refunds of 10.00 each count; the repeated one counts once"
    );
}

#[tokio::test]
async fn a_shopify_delivery_is_applied_once_by_its_webhook_id() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let slug = &shop.brand.slug;
    let refund = |refund_id: u64| {
        json!({ "id": refund_id, "order_id": 77, "transactions": [{ "kind": "refund", "amount": "10.00" }] })
            .to_string()
    };
    // A refund that arrives before its order fails and is not remembered: its retry applies.
    let (status, _) = shopify_delivery(&app, slug, "refunds/create", &refund(1), "delivery-r1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let order = json!({ "id": 77, "total_price": "100.00", "currency": "USD", "discount_codes": [{ "code": shop.promo_code }], "created_at": chrono::Utc::now().to_rfc3339() });
    let (status, answer) = shopify_delivery(&app, slug, "orders/create", &order.to_string(), "delivery-o").await;
    assert_eq!((status, answer["status"].clone()), (StatusCode::OK, json!("recorded")));
    let (status, answer) = shopify_delivery(&app, slug, "refunds/create", &refund(1), "delivery-r1").await;
    assert_eq!(
        (status, answer["status"].clone()),
        (StatusCode::OK, json!("refunded")),
        "{answer}"
    );

    // The same delivery again, whatever it carries, changes nothing.
    let (status, answer) = shopify_delivery(&app, slug, "refunds/create", &refund(2), "delivery-r1").await;
    assert_eq!((status, answer["status"].clone()), (StatusCode::OK, json!("duplicate")));
    let (_, answer) = shopify_delivery(
        &app,
        slug,
        "orders/cancelled",
        &json!({ "id": 77 }).to_string(),
        "delivery-o",
    )
    .await;
    assert_eq!(answer["status"], "duplicate");
    // Another delivery of the same refund is still one refund (its refund id); a new refund counts.
    shopify_delivery(&app, slug, "refunds/create", &refund(1), "delivery-r1-again").await;
    shopify_delivery(&app, slug, "refunds/create", &refund(2), "delivery-r2").await;
    assert_eq!(
        amounts_of(&app, &shop).await,
        json!({ "saleAmount": "80.00", "commission": "12.00" })
    );
    let (status, _) = shopify_delivery(&app, slug, "refunds/create", &refund(3), &"x".repeat(201)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a delivery id is 1 to 200 characters");
}

#[tokio::test]
async fn concurrent_refunds_count_once_per_key_and_each_distinct_one_counts() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    generic_order(&app, &shop, "A-1", "100.00").await;
    let id = sale_of(&app, &shop).await["id"].clone();
    // Twenty retries of one refund at once, and ten distinct refunds at once.
    let same = (0..20).map(|_| {
        app.graphql(
            Some(&shop.brand.admin),
            REFUND,
            json!({ "id": id, "amount": "5.00", "key": "same" }),
        )
    });
    let distinct = (0..10).map(|n| {
        app.graphql(
            Some(&shop.brand.admin),
            REFUND,
            json!({ "id": id, "amount": "1.00", "key": format!("distinct-{n}") }),
        )
    });
    let webhooks = (0..10).map(|_| {
        let body = json!({ "event": "order.refunded", "order_id": "A-1", "amount": "2.00", "refund_id": "R-web" });
        let body = body.to_string();
        let slug = shop.brand.slug.clone();
        let app = &app;
        async move { webhook(app, &slug, "store", None, &body, None).await }
    });
    let (same, distinct, webhooks) = tokio::join!(
        futures_util::future::join_all(same),
        futures_util::future::join_all(distinct),
        futures_util::future::join_all(webhooks)
    );
    assert!(
        same.iter()
            .chain(&distinct)
            .all(|(status, body)| *status == StatusCode::OK && body["errors"].is_null())
    );
    assert!(webhooks.iter().all(|(status, _)| *status == StatusCode::OK));
    // 100.00 - 5.00 (once) - 10 × 1.00 - 2.00 (once) = 83.00, commission 15% of it.
    assert_eq!(
        amounts_of(&app, &shop).await,
        json!({ "saleAmount": "83.00", "commission": "12.45" })
    );
    let mut conn = app.db.connect().await;
    assert_eq!(
        crate::common::count(&mut conn, "SELECT count(*) AS n FROM conversion_adjustments").await,
        12,
        "one adjustment per distinct refund"
    );
    assert_eq!(
        sales_tracking::db::stats::mismatches_with_raw_events(&mut conn)
            .await
            .unwrap(),
        0
    );
}
