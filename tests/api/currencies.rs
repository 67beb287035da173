//! Orders sold in other currencies than the brand's: valued at their day's
//! reference rate (the ECB's, from a stand-in), refunded at the order's rate, and
//! adding up exactly in the brand's currency.

use std::time::Duration;

use axum::http::StatusCode;
use chrono::{Days, Utc};
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::exchange_rates::{app_with_rates, eurofxref};
use crate::tracking::{shop, webhook};

async fn order_of(app: &TestApp, key: &str, code_offer: &str, external_id: &str) -> Value {
    let data = app
        .ok(
            key,
            "query($id: ID!) { offer(id: $id) { memberships(first: 5) { nodes { conversions(first: 50) { nodes {
               externalOrderId saleAmount commission currency status originalAmount { amount currency }
               exchangeRate { from to rate publishedOn source } } } } } } }",
            json!({ "id": code_offer }),
        )
        .await;
    data["offer"]["memberships"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["conversions"]["nodes"].as_array().unwrap().clone())
        .find(|c| c["externalOrderId"] == external_id)
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_in_other_currencies_are_valued_at_their_days_rate_and_refunded_at_it() {
    // Rates for three and two days ago; yesterday and today have none yet.
    let today = Utc::now().date_naive();
    let (older, newer) = (today - Days::new(3), today - Days::new(2));
    let newer_rates: &[(&str, &str)] = &[("USD", "1.0512"), ("GBP", "0.83125"), ("JPY", "157.23")];
    let older_rates: &[(&str, &str)] = &[("USD", "1.0498"), ("GBP", "0.83010"), ("JPY", "156.90")];
    let (older_day, newer_day) = (older.to_string(), newer.to_string());
    let (app, publication) =
        app_with_rates(&[(newer_day.as_str(), newer_rates), (older_day.as_str(), older_rates)]).await;
    let shop = shop(&app).await;
    let key = shop.brand.admin.as_str();
    let started = std::time::Instant::now();
    while app
        .ok(
            key,
            "query($on: Date) { exchangeRate(from: \"EUR\", to: \"USD\", on: $on) { rate } }",
            json!({ "on": newer_day }),
        )
        .await["exchangeRate"]
        .is_null()
    {
        assert!(started.elapsed() < Duration::from_secs(20), "the rates never arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The offer ran before the orders' days.
    app.ok(
        key,
        "mutation($id: ID!, $d: Date!) { updateOffer(input: { id: $id, startsOn: $d }) { offer { id } } }",
        json!({ "id": shop.code_offer, "d": (today - Days::new(10)).to_string() }),
    )
    .await;
    // And its codes were given out before (a held order is attributed with the codes
    // valid at its time, as an imported one is).
    let mut conn = app.db.connect().await;
    diesel_async::RunQueryDsl::execute(
        diesel::sql_query("UPDATE promo_codes SET created_at = now() - interval '10 days'"),
        &mut conn,
    )
    .await
    .unwrap();
    let at = |day: chrono::NaiveDate| format!("{day}T16:00:00Z");
    let send = async |id: &str, amount: &str, currency: &str, occurred_at: &str| {
        let body = json!({ "event": "order.created", "order_id": id, "amount": amount, "currency": currency,
            "occurred_at": occurred_at, "promo_code": shop.promo_code });
        webhook(&app, &shop.brand.slug, "store", None, &body.to_string(), None).await
    };

    // 100 EUR on the day of the newer rates: 105.12 USD, 15% of it earned.
    let (status, answer) = send("EUR-1", "100.00", "EUR", &at(newer)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let eur = order_of(&app, key, &shop.code_offer, "EUR-1").await;
    assert_eq!(eur["saleAmount"], "105.12");
    assert_eq!(eur["commission"], "15.77");
    assert_eq!(eur["currency"], "USD");
    assert_eq!(eur["originalAmount"], json!({ "amount": "100.00", "currency": "EUR" }));
    assert_eq!(
        eur["exchangeRate"],
        json!({ "from": "EUR", "to": "USD", "rate": "1.0512", "publishedOn": newer_day, "source": "ECB" })
    );

    // 100 GBP yesterday, a day without rates: the business day before's, crossed through the euro.
    let (status, answer) = send("GBP-1", "100.00", "gbp", &at(today - Days::new(1))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let gbp = order_of(&app, key, &shop.code_offer, "GBP-1").await;
    assert_eq!(gbp["exchangeRate"]["publishedOn"], newer_day.as_str());
    assert_eq!(gbp["saleAmount"], "126.46", "100 × 1.0512 / 0.83125 = 126.4601…");

    // 10,000 yen on the older day: yen have no minor unit.
    let (status, answer) = send("JPY-1", "10000", "JPY", &at(older)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let jpy = order_of(&app, key, &shop.code_offer, "JPY-1").await;
    assert_eq!(jpy["originalAmount"], json!({ "amount": "10000", "currency": "JPY" }));
    assert_eq!(jpy["saleAmount"], "66.91", "10,000 × 1.0498 / 156.90 = 66.908…");

    // A currency not quoted yet: the order is kept, not refused, and recorded (and
    // counted) once its day's rate is published.
    let rows = app.rows("conversions").await;
    let (status, answer) = send("CHF-1", "50.00", "CHF", &at(newer)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(answer["status"], "awaiting_rate");
    assert_eq!(
        send("CHF-1", "50.00", "CHF", &at(newer)).await.0,
        StatusCode::ACCEPTED,
        "sent again: kept once"
    );
    assert_eq!(app.rows("conversions").await, rows);
    let awaiting = async || app.ok(key, "{ ordersAwaitingRate }", json!({})).await["ordersAwaitingRate"].clone();
    assert_eq!(awaiting().await, 1);
    let with_franc: Vec<(&str, &str)> = newer_rates.iter().copied().chain([("CHF", "0.9350")]).collect();
    *publication.lock().unwrap() = (
        StatusCode::OK,
        eurofxref(&[(newer_day.as_str(), &with_franc), (older_day.as_str(), older_rates)]),
    );
    let started = std::time::Instant::now();
    while awaiting().await != 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the held order was never recorded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let chf = order_of(&app, key, &shop.code_offer, "CHF-1").await;
    assert_eq!(chf["saleAmount"], "56.21", "50 × 1.0512 / 0.9350 = 56.2139…");
    assert_eq!(chf["originalAmount"], json!({ "amount": "50.00", "currency": "CHF" }));
    let (status, _) = send("BAD-1", "50.00", "euro", &at(newer)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Three refunds in euros that add up to the order take back exactly its 105.12.
    let refund = async |amount: &str, refund_id: &str| {
        let body = json!({ "event": "order.refunded", "order_id": "EUR-1", "amount": amount, "refund_id": refund_id });
        webhook(&app, &shop.brand.slug, "store", None, &body.to_string(), None).await
    };
    assert_eq!(refund("33.33", "r1").await.0, StatusCode::OK);
    assert_eq!(
        order_of(&app, key, &shop.code_offer, "EUR-1").await["saleAmount"],
        "70.08",
        "66.67 × 1.0512"
    );
    assert_eq!(refund("33.33", "r2").await.0, StatusCode::OK);
    let (status, answer) = refund("33.35", "r3").await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "more than the 33.34 euros left: {answer}"
    );
    assert_eq!(refund("33.34", "r3").await.0, StatusCode::OK);
    let eur = order_of(&app, key, &shop.code_offer, "EUR-1").await;
    assert_eq!(
        (eur["saleAmount"].as_str(), eur["status"].as_str()),
        (Some("0.00"), Some("REVERSED"))
    );

    // The KPIs are the exact sums of what is stored, in dollars.
    let kpis = app
        .ok(
            key,
            "{ kpis(dateRange: { preset: LAST_7_DAYS }) { conversions totalSales commissionsEarned } }",
            json!({}),
        )
        .await["kpis"]
        .clone();
    assert_eq!(
        kpis,
        json!({ "conversions": 3, "totalSales": "249.58", "commissionsEarned": "37.44" })
    );
    crate::common::assert_summaries_rebuild(&mut conn).await;
}
