use serde_json::json;

use crate::common::{TestApp, count};

#[tokio::test]
async fn the_demo_brand_has_a_year_of_both_kinds_of_activity() {
    let app = TestApp::new().await;
    let key = sales_tracking::fixtures::demo::ensure_demo_brand(&app.pool)
        .await
        .unwrap();
    let data = app.ok(&key, "{ viewer { role brand { slug } } offers(first: 100, filter: { statuses: [ACTIVE, PAUSED, EXPIRED, ARCHIVED] }) { totalCount edges { node { type status } } } members { totalCount } projects { name } }", json!({})).await;
    assert_eq!(data["viewer"]["role"], "ADMIN");
    assert_eq!(data["viewer"]["brand"]["slug"], "demo");
    let offers = data["offers"]["edges"].as_array().unwrap();
    assert!(offers.iter().any(|o| o["node"]["type"] == "SALES_LINK"));
    assert!(offers.iter().any(|o| o["node"]["type"] == "PROMO_CODE"));
    assert!(offers.iter().any(|o| o["node"]["status"] == "PAUSED"));
    assert!(offers.iter().any(|o| o["node"]["status"] == "ARCHIVED"));
    assert!(data["members"]["totalCount"].as_i64().unwrap() >= 30);
    assert_eq!(data["projects"].as_array().unwrap().len(), 3);

    let mut conn = app.db.connect().await;
    let old_clicks = count(
        &mut conn,
        "SELECT count(*) AS n FROM clicks WHERE clicked_at < now() - interval '9 months'",
    )
    .await;
    let recent_clicks = count(
        &mut conn,
        "SELECT count(*) AS n FROM clicks WHERE clicked_at > now() - interval '1 month'",
    )
    .await;
    assert!(
        old_clicks > 0 && recent_clicks > 0,
        "clicks span the year: {old_clicks} old, {recent_clicks} recent"
    );
    let accepted = count(
        &mut conn,
        "SELECT count(*) AS n FROM conversions WHERE status = 'ACCEPTED' AND membership_id IS NOT NULL",
    )
    .await;
    assert!(accepted > 100, "{accepted} accepted conversions");
    let priced = count(&mut conn, "SELECT count(*) AS n FROM conversions c JOIN ledger_entries l ON l.conversion_id = c.id AND l.brand_id = c.brand_id WHERE l.amount <> c.commission").await;
    assert_eq!(priced, 0, "every ledger entry carries its conversion's commission");

    // The planner knows the year just written (plans made before it would scan).
    let analyzed = count(
        &mut conn,
        "SELECT count(*) AS n FROM pg_class WHERE relname IN ('conversions', 'ledger_entries', 'memberships') AND reltuples > 0",
    )
    .await;
    assert_eq!(analyzed, 3, "the seeded tables have statistics");

    // A second start reuses the brand and hands out another working key.
    let second = sales_tracking::fixtures::demo::ensure_demo_brand(&app.pool)
        .await
        .unwrap();
    assert_ne!(second, key);
    assert_eq!(app.rows("brands").await, 1);
    app.ok(&second, "{ viewer { role } }", json!({})).await;
}

#[tokio::test]
async fn send_payment_on_the_demo_pays_everything_due_once() {
    let app = TestApp::new().await;
    let key = sales_tracking::fixtures::demo::ensure_demo_brand(&app.pool)
        .await
        .unwrap();
    let due = app
        .ok(
            &key,
            "{ kpis { paymentsDue } paymentPreview(scope: ALL_OFFERS) { totalAmount itemCount } }",
            json!({}),
        )
        .await;
    let preview_total = due["paymentPreview"]["totalAmount"].as_str().unwrap().to_string();
    assert!(due["paymentPreview"]["itemCount"].as_i64().unwrap() > 5, "{due}");
    let send = "mutation { sendPayment(input: { scope: ALL_OFFERS, idempotencyKey: \"demo-payday\" }) { payment { id totalAmount } } }";
    let answers = futures_util::future::join_all((0..20).map(|_| app.graphql(Some(&key), send, json!({})))).await;
    for (_, body) in &answers {
        assert_eq!(
            body["data"]["sendPayment"]["payment"]["totalAmount"],
            preview_total.as_str(),
            "{body}"
        );
    }
    assert_eq!(app.rows("payments").await, 1);
    let after = app
        .ok(&key, "{ kpis { paymentsDue membersWithPaymentsDue } }", json!({}))
        .await;
    assert_eq!(
        after["kpis"],
        json!({ "paymentsDue": "0.00", "membersWithPaymentsDue": 0 })
    );
}
