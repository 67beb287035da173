//! Orders sold in other currencies than the brand's: valued at their day's
//! reference rate (the ECB's, from a stand-in), refunded at the order's rate, and
//! adding up exactly in the brand's currency.

use std::time::Duration;

use axum::http::StatusCode;
use chrono::{Days, Utc};
use serde_json::{Value, json};

use rust_decimal::Decimal;
use std::str::FromStr;

use crate::common::TestApp;
use crate::exchange_rates::{app_with_rates, app_with_rates_and, eurofxref, eventually};
use crate::paypal::{members_due, paypal_config};
use crate::paypal_stand_in;
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
    // The orders export carries both: what each order was sold for, and its value.
    let (status, _, file) = app.get_as(key, "/export/orders.csv?preset=LAST_7_DAYS").await;
    assert_eq!(status, StatusCode::OK, "{file}");
    let mut reader = csv::Reader::from_reader(file.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(
        header[8..],
        [
            "Sold for",
            "Sold in",
            "Refunded (sold in)",
            "Exchange rate",
            "Rate date",
            "Rate source",
            "Sale",
            "Commission",
            "Currency"
        ]
    );
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|row| row.unwrap().iter().map(str::to_string).collect())
        .collect();
    let row_of = |order: &str| rows.iter().find(|row| row[0] == order).unwrap()[7..].to_vec();
    assert_eq!(
        row_of("EUR-1"),
        [
            "REVERSED",
            "100.00",
            "EUR",
            "100.00",
            "1.0512",
            newer_day.as_str(),
            "ECB",
            "0.00",
            "0.00",
            "USD"
        ]
    );
    assert_eq!(
        row_of("JPY-1"),
        [
            "ACCEPTED",
            "10000",
            "JPY",
            "0",
            "0.0066908859145952836201402167",
            older_day.as_str(),
            "ECB",
            "66.91",
            "10.04",
            "USD"
        ],
        "1.0498 / 156.90 at full precision"
    );
    assert_eq!(rows.len(), 4, "EUR, GBP, JPY and the franc order once its rate came");

    // Shown in euros at one stated day's rate (an estimate): each figure converted once.
    const IN: &str = "query($in: String, $on: Date) { kpis(dateRange: { preset: LAST_7_DAYS }, in: $in, rateOn: $on) {
        currency conversions totalSales commissionsEarned exchangeRate { from to publishedOn source } } }";
    let in_euros = app.ok(key, IN, json!({ "in": "EUR", "on": newer_day })).await["kpis"].clone();
    assert_eq!(
        in_euros,
        json!({ "currency": "EUR", "conversions": 3, "totalSales": "237.42", "commissionsEarned": "35.62",
                "exchangeRate": { "from": "USD", "to": "EUR", "publishedOn": newer_day, "source": "ECB" } }),
        "249.58 / 1.0512 = 237.42, 37.44 / 1.0512 = 35.616…"
    );
    let in_dollars = app.ok(key, IN, json!({ "in": null })).await["kpis"].clone();
    assert_eq!(
        (in_dollars["currency"].clone(), in_dollars["exchangeRate"].clone()),
        (json!("USD"), Value::Null)
    );
    for refused in ["XYZ", "euro"] {
        assert_eq!(
            app.error_code(Some(key), IN, json!({ "in": refused })).await,
            "BAD_USER_INPUT",
            "{refused}"
        );
    }
    crate::common::assert_summaries_rebuild(&mut conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creators_are_paid_in_their_currency_at_the_payment_days_rate() {
    let (paypal_url, paypal) = paypal_stand_in::start().await;
    let yesterday = (Utc::now().date_naive() - Days::new(1)).to_string();
    let rates: &[(&str, &str)] = &[("USD", "1.0512"), ("JPY", "157.23")];
    let config = sales_tracking::AppConfig {
        paypal: Some(paypal_config(&paypal_url)),
        reconcile_every: Duration::from_secs(3600),
        ..Default::default()
    };
    let (app, _) = app_with_rates_and(&[(yesterday.as_str(), rates)], config).await;
    let shop = shop(&app).await;
    let admin = shop.brand.admin.as_str();
    eventually("the rates", async || {
        !app.ok(
            admin,
            "{ exchangeRate(from: \"USD\", to: \"EUR\") { rate } }",
            json!({}),
        )
        .await["exchangeRate"]
            .is_null()
    })
    .await;
    // Four creators, each owed 15.00 USD.
    let addresses = [
        "ok-eur@example.com",
        "fail-eur@example.com",
        "ok-usd@example.com",
        "ok-jpy@example.com",
    ];
    members_due(&app, &shop, &addresses).await;
    let members = app
        .ok(
            admin,
            "{ members(first: 10) { nodes { id payoutEmail payoutCurrency } } }",
            json!({}),
        )
        .await["members"]["nodes"]
        .clone();
    let id_of = |address: &str| {
        let member = members
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["payoutEmail"] == address)
            .unwrap();
        assert_eq!(member["payoutCurrency"], "USD", "the brand's currency by default");
        member["id"].clone()
    };
    const PAY_IN: &str = "mutation($id: ID!, $c: String!) { updateMember(input: { id: $id, payoutCurrency: $c }) { member { payoutCurrency } } }";
    for (address, currency) in [
        ("ok-eur@example.com", "EUR"),
        ("fail-eur@example.com", "EUR"),
        ("ok-jpy@example.com", "JPY"),
    ] {
        let set = app
            .ok(admin, PAY_IN, json!({ "id": id_of(address), "c": currency }))
            .await;
        assert_eq!(set["updateMember"]["member"]["payoutCurrency"], currency);
    }
    for refused in ["CHF", "eur", "EURO"] {
        let code = app
            .error_code(
                Some(admin),
                PAY_IN,
                json!({ "id": id_of("ok-usd@example.com"), "c": refused }),
            )
            .await;
        assert_eq!(code, "BAD_USER_INPUT", "{refused}: not quoted, or not a code");
    }

    // The preview shows each amount in both currencies, and the rate.
    let preview = app
        .ok(
            admin,
            "{ paymentPreview(scope: ALL_OFFERS) { totalAmount itemCount leftOut { reason }
               items { amount payoutAmount { amount currency } exchangeRate { from to rate publishedOn source }
                       membership { member { payoutEmail } } } } }",
            json!({}),
        )
        .await["paymentPreview"]
        .clone();
    assert_eq!(
        (preview["totalAmount"].clone(), preview["itemCount"].clone()),
        (json!("60.00"), json!(4))
    );
    let by_address = |items: &Value, address: &str| {
        items
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["membership"]["member"]["payoutEmail"] == address)
            .unwrap()
            .clone()
    };
    let eur = by_address(&preview["items"], "ok-eur@example.com");
    assert_eq!(eur["amount"], "15.00");
    assert_eq!(
        eur["payoutAmount"],
        json!({ "amount": "14.27", "currency": "EUR" }),
        "15 / 1.0512 = 14.269…"
    );
    assert_eq!(eur["exchangeRate"]["from"], "USD");
    assert_eq!(eur["exchangeRate"]["publishedOn"], yesterday.as_str());
    assert_eq!(eur["exchangeRate"]["source"], "ECB");
    let jpy = by_address(&preview["items"], "ok-jpy@example.com");
    assert_eq!(
        jpy["payoutAmount"],
        json!({ "amount": "2244", "currency": "JPY" }),
        "15 × 157.23 / 1.0512 = 2243.57…"
    );
    let usd = by_address(&preview["items"], "ok-usd@example.com");
    assert_eq!(usd["payoutAmount"], json!({ "amount": "15.00", "currency": "USD" }));
    assert!(usd["exchangeRate"].is_null());

    // PayPal gets one item per creator, each in the creator's currency.
    let sent = app
        .ok(
            admin,
            "mutation($i: SendPaymentInput!) { sendPayment(input: $i) { payment { totalAmount state
               items { amount state payoutAmount { amount currency } exchangeRate { to rate } membership { member { payoutEmail } } } } } }",
            json!({ "i": { "scope": "ALL_OFFERS", "provider": "PAYPAL", "idempotencyKey": "pay-in-currencies" } }),
        )
        .await["sendPayment"]["payment"]
        .clone();
    assert_eq!(
        (sent["totalAmount"].clone(), sent["state"].clone()),
        (json!("60.00"), json!("PARTIALLY_PAID"))
    );
    let batches = paypal.batches();
    assert_eq!(batches.len(), 1);
    let mut sent_to_paypal: Vec<(String, String, String)> = batches[0]
        .items
        .iter()
        .map(|item| (item.receiver.clone(), item.amount.clone(), item.currency.clone()))
        .collect();
    sent_to_paypal.sort();
    assert_eq!(
        sent_to_paypal,
        [
            ("fail-eur@example.com", "14.27", "EUR"),
            ("ok-eur@example.com", "14.27", "EUR"),
            ("ok-jpy@example.com", "2244", "JPY"),
            ("ok-usd@example.com", "15.00", "USD"),
        ]
        .map(|(r, a, c)| (r.to_string(), a.to_string(), c.to_string()))
    );
    let paid_eur = by_address(&sent["items"], "ok-eur@example.com");
    assert_eq!(
        paid_eur["payoutAmount"],
        json!({ "amount": "14.27", "currency": "EUR" })
    );
    assert_eq!(paid_eur["exchangeRate"]["to"], "EUR");
    let rate: Decimal = paid_eur["exchangeRate"]["rate"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        (Decimal::ONE / Decimal::from_str("1.0512").unwrap()).round_dp(20),
        rate.round_dp(20)
    );
    assert_eq!(by_address(&sent["items"], "fail-eur@example.com")["state"], "FAILED");

    // The failed item returns exactly its 15.00 USD to due, whatever the euro did.
    let due = app
        .ok(
            admin,
            "{ paymentPreview(scope: ALL_OFFERS) { totalAmount items { amount payoutAmount { amount currency } } } }",
            json!({}),
        )
        .await["paymentPreview"]
        .clone();
    assert_eq!(due["totalAmount"], "15.00");
    assert_eq!(
        due["items"][0]["payoutAmount"],
        json!({ "amount": "14.27", "currency": "EUR" })
    );

    // Paid outside, the bulk file carries the euro amount and its currency.
    let manual = app
        .ok(
            admin,
            "mutation { sendPayment(input: { scope: ALL_OFFERS, idempotencyKey: \"by-hand\" }) { payment { id } } }",
            json!({}),
        )
        .await["sendPayment"]["payment"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _, file) = app.get_as(admin, &format!("/export/payments/{manual}.csv")).await;
    assert_eq!(status, StatusCode::OK);
    let row: Vec<&str> = file.lines().next().unwrap().split(',').collect();
    assert_eq!(row[..3], ["fail-eur@example.com", "14.27", "EUR"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shop_and_api_orders_keep_the_buyers_currency_to_its_minor_unit() {
    let yesterday = (Utc::now().date_naive() - Days::new(1)).to_string();
    let rates: &[(&str, &str)] = &[
        ("USD", "1.0512"),
        ("KWD", "0.3245"),
        ("JPY", "157.23"),
        ("IDR", "17000"),
    ];
    let (app, publication) = app_with_rates(&[(yesterday.as_str(), rates)]).await;
    let shop = shop(&app).await;
    let key = shop.brand.admin.as_str();
    eventually("the rates", async || {
        !app.ok(key, "{ exchangeRate(from: \"KWD\", to: \"USD\") { rate } }", json!({}))
            .await["exchangeRate"]
            .is_null()
    })
    .await;
    let slug = shop.brand.slug.as_str();

    // A USD shop selling in euros: the buyer paid 90.00 EUR, the shop got 95.40 USD.
    // Booked as the shop got it, the buyer's price kept, Shopify's rate named.
    let created_at = Utc::now().to_rfc3339();
    let order = json!({ "id": 5001, "total_price": "95.40", "currency": "USD", "created_at": created_at,
        "discount_codes": [{ "code": shop.promo_code, "amount": "0.00", "type": "percentage" }], "landing_site": "/",
        "total_price_set": { "shop_money": { "amount": "95.40", "currency_code": "USD" },
                             "presentment_money": { "amount": "90.00", "currency_code": "EUR" } } });
    let (status, answer) = webhook(&app, slug, "shopify", Some("orders/create"), &order.to_string(), None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let booked = order_of(&app, key, &shop.code_offer, "5001").await;
    assert_eq!(
        (booked["saleAmount"].clone(), booked["commission"].clone()),
        (json!("95.40"), json!("14.31"))
    );
    assert_eq!(
        booked["originalAmount"],
        json!({ "amount": "90.00", "currency": "EUR" })
    );
    assert_eq!(booked["exchangeRate"]["source"], "SHOPIFY");
    assert_eq!(booked["exchangeRate"]["rate"], "1.06");
    assert_eq!(booked["exchangeRate"]["publishedOn"], created_at[..10]);
    // Its refund comes in the buyer's euros: half of them is half of the sale.
    let refund = json!({ "id": 61, "order_id": 5001, "transactions": [{ "kind": "refund", "amount": "45.00", "currency": "EUR" }] });
    let (status, answer) = webhook(&app, slug, "shopify", Some("refunds/create"), &refund.to_string(), None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        order_of(&app, key, &shop.code_offer, "5001").await["saleAmount"],
        "47.70"
    );

    let send = async |id: &str, amount: &str, currency: &str| {
        let body = json!({ "event": "order.created", "order_id": id, "amount": amount, "currency": currency,
            "occurred_at": Utc::now().to_rfc3339(), "promo_code": shop.promo_code });
        webhook(&app, slug, "store", None, &body.to_string(), None).await
    };
    // Dinars have three decimals, kept exactly: 12.345 × 1.0512 / 0.3245 = 39.9909…
    let (status, answer) = send("KWD-1", "12.345", "KWD").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let dinars = order_of(&app, key, &shop.code_offer, "KWD-1").await;
    assert_eq!(
        dinars["originalAmount"],
        json!({ "amount": "12.345", "currency": "KWD" })
    );
    assert_eq!(dinars["saleAmount"], "39.99");
    // Yen have none; a fraction of one is refused, not rounded.
    let (status, answer) = send("JPY-1", "1000.5", "JPY").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer.to_string().contains("decimals"), "{answer}");
    // A big number of a small currency is a normal order: the limit is on its value.
    let (status, answer) = send("IDR-1", "20000000.00", "IDR").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        order_of(&app, key, &shop.code_offer, "IDR-1").await["saleAmount"],
        "1236.71"
    );
    let (status, _) = send("IDR-2", "200000000000.00", "IDR").await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "valued at 12.4M USD, over the order limit"
    );

    // recordConversion takes a currency too.
    const RECORD: &str = "mutation($i: RecordConversionInput!) { recordConversion(input: $i) {
        awaitingRate duplicate conversion { saleAmount originalAmount { amount currency } exchangeRate { from source } } } }";
    let recorded = app
        .ok(
            key,
            RECORD,
            json!({ "i": { "externalOrderId": "API-EUR", "saleAmount": "100.00", "currency": "eur", "promoCode": shop.promo_code } }),
        )
        .await["recordConversion"]
        .clone();
    assert_eq!(recorded["awaitingRate"], false);
    assert_eq!(recorded["conversion"]["saleAmount"], "105.12");
    assert_eq!(
        recorded["conversion"]["originalAmount"],
        json!({ "amount": "100.00", "currency": "EUR" })
    );
    assert_eq!(
        recorded["conversion"]["exchangeRate"],
        json!({ "from": "EUR", "source": "ECB" })
    );
    // Three decimals for dinars, exactly, through the API too.
    let dinars = app
        .ok(
            key,
            RECORD,
            json!({ "i": { "externalOrderId": "API-KWD", "saleAmount": "12.345", "currency": "KWD" } }),
        )
        .await["recordConversion"]["conversion"]
        .clone();
    assert_eq!(
        dinars["originalAmount"],
        json!({ "amount": "12.345", "currency": "KWD" })
    );
    assert_eq!(dinars["saleAmount"], "39.99");
    let cents_past = json!({ "i": { "externalOrderId": "API-USD", "saleAmount": "10.005" } });
    assert_eq!(
        app.error_code(Some(key), RECORD, cents_past).await,
        "BAD_USER_INPUT",
        "dollars have two decimals"
    );
    // A currency without a rate yet is kept, not refused.
    let held = app
        .ok(
            key,
            RECORD,
            json!({ "i": { "externalOrderId": "API-CHF", "saleAmount": "50.00", "currency": "CHF", "promoCode": shop.promo_code } }),
        )
        .await["recordConversion"]
        .clone();
    assert_eq!(
        held,
        json!({ "awaitingRate": true, "duplicate": false, "conversion": null })
    );
    assert_eq!(
        app.ok(key, "{ ordersAwaitingRate }", json!({})).await["ordersAwaitingRate"],
        1
    );
    for (amount, currency) in [("100.50", "JPY"), ("1.00", "EURO")] {
        let input = json!({ "i": { "externalOrderId": "API-BAD", "saleAmount": amount, "currency": currency } });
        assert_eq!(
            app.error_code(Some(key), RECORD, input).await,
            "BAD_USER_INPUT",
            "{amount} {currency}"
        );
    }

    // A refund that comes while its order waits waits with it (once, whatever the
    // retries), and applies when the order is recorded.
    let refund = json!({ "event": "order.refunded", "order_id": "API-CHF", "amount": "20.00", "refund_id": "R-CHF" });
    for _ in 0..2 {
        let (status, answer) = webhook(&app, slug, "manual", None, &refund.to_string(), None).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        assert_eq!(answer["status"], "awaiting_rate");
    }
    let nowhere = json!({ "event": "order.refunded", "order_id": "NOWHERE", "amount": "1.00", "refund_id": "R-X" });
    let (status, _) = webhook(&app, slug, "manual", None, &nowhere.to_string(), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "neither recorded nor waiting");
    let with_franc: Vec<(&str, &str)> = rates.iter().copied().chain([("CHF", "0.9350")]).collect();
    *publication.lock().unwrap() = (StatusCode::OK, eurofxref(&[(yesterday.as_str(), &with_franc)]));
    eventually("the held order", async || {
        app.ok(key, "{ ordersAwaitingRate }", json!({})).await["ordersAwaitingRate"] == 0
    })
    .await;
    let francs = order_of(&app, key, &shop.code_offer, "API-CHF").await;
    assert_eq!(
        francs["originalAmount"],
        json!({ "amount": "50.00", "currency": "CHF" })
    );
    assert_eq!(
        francs["saleAmount"], "33.73",
        "30 of the 50 francs left, at the order's rate: 30 × 1.0512 / 0.9350 = 33.728…"
    );
}
