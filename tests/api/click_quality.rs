//! Click quality: every click is stored and every non-bot click counts, but a
//! per-click commission is earned only by clicks that pass the rules: not a bot,
//! not a repeat of the same visitor on the same link within the window. The
//! shopper's address comes from `X-Forwarded-For` only through trusted proxies.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use futures_util::future::join_all;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::TestApp;
use crate::tracking::{Shop, shop};

/// A redirect from `peer`, with this user agent and `X-Forwarded-For`.
pub async fn visit(app: &TestApp, code: &str, peer: &str, user_agent: &str, forwarded_for: Option<&str>) -> StatusCode {
    let mut request = Request::get(format!("/r/{code}")).header(header::USER_AGENT, user_agent);
    if let Some(forwarded_for) = forwarded_for {
        request = request.header("x-forwarded-for", forwarded_for);
    }
    let mut request = request.body(Body::empty()).unwrap();
    let peer: SocketAddr = format!("{peer}:40000").parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    app.router.clone().oneshot(request).await.unwrap().status()
}

/// The shop's sales link paying 0.50 per click, payable at once.
async fn per_click(app: &TestApp, shop: &Shop) {
    let admin = &shop.brand.admin;
    app.ok(
        admin,
        "mutation($id: ID!) { updateOffer(input: { id: $id, holdPeriodDays: 0 }) { offer { id } } }",
        json!({ "id": shop.link_offer }),
    )
    .await;
    app.ok(
        admin,
        "mutation($id: ID!) { editPayout(input: { id: $id, payout: { type: FLAT_PER_CLICK, flatAmount: \"0.50\" } }) { offer { id } } }",
        json!({ "id": shop.link_offer }),
    )
    .await;
}

async fn due(app: &TestApp, shop: &Shop) -> Decimal {
    let data = app
        .ok(
            &shop.brand.admin,
            "{ paymentPreview(scope: ALL_OFFERS) { totalAmount } }",
            json!({}),
        )
        .await;
    data["paymentPreview"]["totalAmount"].as_str().unwrap().parse().unwrap()
}

async fn clicks_kpi(app: &TestApp, shop: &Shop) -> i64 {
    app.ok(&shop.brand.admin, "{ kpis { clicks } }", json!({})).await["kpis"]["clicks"]
        .as_i64()
        .unwrap()
}

/// How many of the membership's stored clicks have each verdict.
async fn verdicts(app: &TestApp, shop: &Shop) -> std::collections::BTreeMap<String, usize> {
    let data = app
        .ok(
            &shop.brand.admin,
            "query($id: ID!) { membership(id: $id) { clicks(first: 100) { nodes { commission unpaidReason } } } }",
            json!({ "id": shop.link_membership }),
        )
        .await;
    let mut counts = std::collections::BTreeMap::new();
    for click in data["membership"]["clicks"]["nodes"].as_array().unwrap() {
        let verdict = match &click["unpaidReason"] {
            Value::Null => format!("PAID {}", click["commission"].as_str().unwrap()),
            reason => reason.as_str().unwrap().to_string(),
        };
        *counts.entry(verdict).or_default() += 1;
    }
    counts
}

pub const BROWSER: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148";

#[tokio::test]
async fn a_flood_from_one_visitor_earns_once_and_every_click_still_counts() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    per_click(&app, &shop).await;
    let flood = (0..500).map(|_| visit(&app, &shop.link_code, "203.0.113.7", BROWSER, None));
    assert!(join_all(flood).await.iter().all(|s| *s == StatusCode::FOUND));
    for _ in 0..20 {
        visit(&app, &shop.link_code, "203.0.113.7", BROWSER, None).await;
    }
    assert_eq!(
        due(&app, &shop).await,
        Decimal::new(50, 2),
        "520 clicks from one visitor earn once"
    );
    assert_eq!(clicks_kpi(&app, &shop).await, 520, "every non-bot click still counts");

    // Other visitors each earn: other addresses, or the same address with another browser.
    for peer in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        visit(&app, &shop.link_code, peer, BROWSER, None).await;
    }
    visit(
        &app,
        &shop.link_code,
        "203.0.113.7",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/133.0",
        None,
    )
    .await;
    assert_eq!(due(&app, &shop).await, Decimal::new(250, 2));
    // Robots are stored, never counted, never paid.
    for bot in [
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
        "facebookexternalhit/1.1",
        "python-requests/2.31",
        "",
    ] {
        visit(&app, &shop.link_code, "192.0.2.50", bot, None).await;
    }
    assert_eq!(due(&app, &shop).await, Decimal::new(250, 2));
    assert_eq!(clicks_kpi(&app, &shop).await, 524);

    let mut conn = app.db.connect().await;
    assert_eq!(
        crate::common::count(&mut conn, "SELECT count(*) AS n FROM clicks").await,
        528,
        "every click is stored"
    );
    assert_eq!(
        sales_tracking::db::stats::mismatches_with_raw_events(&mut conn)
            .await
            .unwrap(),
        0,
        "the rollups and the ledger agree with each click's verdict"
    );
    // The newest 100 clicks: the 4 bots, the 4 other visitors, and 92 repeats of the flood.
    let seen = verdicts(&app, &shop).await;
    let expected = [("BOT", 4), ("PAID 0.50", 4), ("REPEAT_VISITOR", 92)].map(|(v, n)| (v.to_string(), n));
    assert_eq!(seen, expected.into_iter().collect(), "{seen:?}");
}

#[tokio::test]
async fn forwarded_addresses_count_only_through_trusted_proxies() {
    // No trusted proxies: X-Forwarded-For is whatever the client wrote, and is ignored.
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    per_click(&app, &shop).await;
    for n in 0..5 {
        visit(
            &app,
            &shop.link_code,
            "203.0.113.7",
            BROWSER,
            Some(&format!("198.51.100.{n}")),
        )
        .await;
    }
    assert_eq!(
        due(&app, &shop).await,
        Decimal::new(50, 2),
        "spoofed addresses are one visitor"
    );

    // Behind a trusted load balancer, the address it saw is the shopper's.
    let proxied = TestApp::with_config(sales_tracking::AppConfig {
        trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        ..Default::default()
    })
    .await;
    let shop = crate::tracking::shop(&proxied).await;
    per_click(&proxied, &shop).await;
    for n in 0..5 {
        let chain = format!("6.6.6.6, 198.51.100.{n}");
        visit(&proxied, &shop.link_code, "10.0.0.2", BROWSER, Some(&chain)).await;
        visit(&proxied, &shop.link_code, "10.0.0.3", BROWSER, Some(&chain)).await;
    }
    assert_eq!(
        due(&proxied, &shop).await,
        Decimal::new(250, 2),
        "five shoppers, each twice"
    );
}

/// One batch holding clicks on a link that pays per click and on one that does
/// not: the second kind is stored by the batch's single statement, the first by
/// the transaction that claims visitors. Each click is stored, counted and paid
/// once, and the same batch stored again (a spool replay) changes nothing.
#[tokio::test]
async fn a_batch_across_per_click_and_per_sale_links_stores_each_click_once() {
    use sales_tracking::app::clicks::{BatchOutcome, ClickRules, store_batch};
    use sales_tracking::db::clicks::NewClick;

    let app = TestApp::new().await;
    let shop = shop(&app).await;
    per_click(&app, &shop).await;
    let click = |membership: &str, visitor: u8, is_bot: bool| NewClick {
        brand_id: shop.brand.id,
        membership_id: sales_tracking::domain::public_id::parse(membership).unwrap(),
        id: uuid::Uuid::now_v7(),
        clicked_at: chrono::Utc::now(),
        ip_hash: Some(vec![visitor; 16]),
        user_agent: BROWSER.into(),
        is_bot,
    };
    let batch = vec![
        click(&shop.link_membership, 1, false),
        click(&shop.code_membership, 1, false),
        click(&shop.link_membership, 2, false),
        click(&shop.code_membership, 2, false),
        click(&shop.link_membership, 1, false),
        click(&shop.code_membership, 3, true),
    ];
    let mut conn = app.pool.get().await.unwrap();
    let stored = store_batch(&mut conn, batch.clone(), ClickRules::default())
        .await
        .unwrap();
    assert_eq!(
        stored,
        BatchOutcome {
            counted: 5,
            bots: 1,
            ignored: 0,
            duplicates: 0
        }
    );
    let again = store_batch(&mut conn, batch, ClickRules::default()).await.unwrap();
    assert_eq!(
        again,
        BatchOutcome {
            counted: 0,
            bots: 0,
            ignored: 0,
            duplicates: 6
        }
    );
    drop(conn);

    assert_eq!(clicks_kpi(&app, &shop).await, 5);
    assert_eq!(
        due(&app, &shop).await,
        Decimal::new(100, 2),
        "two visitors paid on the per-click link"
    );
    let mut conn = app.db.connect().await;
    assert_eq!(
        crate::common::count(
            &mut conn,
            "SELECT count(*) AS n FROM clicks WHERE unpaid_reason = 'NO_PER_CLICK_PAYOUT'"
        )
        .await,
        2
    );
    assert_eq!(
        sales_tracking::db::stats::mismatches_with_raw_events(&mut conn)
            .await
            .unwrap(),
        0,
        "every rollup level agrees with the clicks"
    );
}
