//! Random sequences of clicks, orders, refunds, rejections and payments: the
//! ledger identity holds, the ledger agrees with the conversions, and the
//! maintained rollups equal a rebuild from raw events.

use chrono::{Duration, Utc};
use diesel_async::SimpleAsyncConnection;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde_json::json;

use sales_tracking::app::clicks::store_batch;
use sales_tracking::app::orders::{self, Change, ChangeRequest, OrderInput};
use sales_tracking::db::clicks::NewClick;
use sales_tracking::db::{ledger, stats};
use sales_tracking::domain::ids::MembershipId;
use sales_tracking::domain::public_id;

use crate::common::{TestApp, count};

#[tokio::test]
async fn random_event_sequences_keep_the_ledger_and_rollups_consistent() {
    let app = TestApp::new().await;
    let brand = app.brand("Ledger Co").await;
    let create = "mutation($i: CreateOfferInput!) { createOffer(input: $i) { offer { id } } }";
    // The offers started before the orders' dates, or the orders would not attribute.
    let starts_on = (Utc::now() - Duration::days(60)).date_naive().to_string();
    let code_offer = app
        .ok(&brand.admin, create, json!({ "i": { "name": "Codes", "type": "PROMO_CODE", "codePrefix": "L", "holdPeriodDays": 7, "startsOn": starts_on, "payout": { "type": "PERCENT_PLUS_FLAT", "percent": "12.5", "flatAmount": "0.99" } } }))
        .await["createOffer"]["offer"]["id"]
        .clone();
    let link_offer = app
        .ok(&brand.admin, create, json!({ "i": { "name": "Clicks", "type": "SALES_LINK", "destinationUrl": "https://x.example.com", "holdPeriodDays": 0, "startsOn": starts_on, "payout": { "type": "FLAT_PER_CLICK", "flatAmount": "0.07" } } }))
        .await["createOffer"]["offer"]["id"]
        .clone();
    let mut member_ids = Vec::new();
    for i in 0..3 {
        let member = app
            .ok(
                &brand.admin,
                "mutation($e: String!) { createMember(input: { name: \"M\", email: $e }) { member { id } } }",
                json!({ "e": format!("m{i}@example.com") }),
            )
            .await;
        member_ids.push(member["createMember"]["member"]["id"].clone());
    }
    let add = "mutation($o: ID!, $m: [ID!]!) { addMembers(input: { offerId: $o, memberIds: $m }) { memberships { id promoCode } } }";
    let coded = app
        .ok(&brand.admin, add, json!({ "o": code_offer, "m": member_ids }))
        .await["addMembers"]["memberships"]
        .clone();
    let linked = app
        .ok(&brand.admin, add, json!({ "o": link_offer, "m": member_ids }))
        .await["addMembers"]["memberships"]
        .clone();
    let number = |id: &serde_json::Value| public_id::parse::<MembershipId>(id.as_str().unwrap()).unwrap();
    let codes: Vec<String> = coded
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["promoCode"].as_str().unwrap().to_string())
        .collect();
    let link_memberships: Vec<MembershipId> = linked.as_array().unwrap().iter().map(|m| number(&m["id"])).collect();
    let all_memberships: Vec<MembershipId> = coded
        .as_array()
        .unwrap()
        .iter()
        .chain(linked.as_array().unwrap())
        .map(|m| number(&m["id"]))
        .collect();

    let zone = chrono_tz::America::New_York;
    let mut conn = app.db.connect().await;
    let mut orders = Vec::new();
    for seed in 0..4u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        for step in 0..40 {
            match rng.random_range(0..10) {
                0..=3 => {
                    let order = OrderInput {
                        source: "test".into(),
                        external_order_id: format!("{seed}-{step}"),
                        occurred_at: Utc::now() - Duration::hours(rng.random_range(0..24 * 20)),
                        sale_amount: Decimal::new(rng.random_range(1..50_000), 2),
                        currency: "USD".into(),
                        promo_codes: vec![codes[rng.random_range(0..codes.len())].clone()],
                        click_id: None,
                        history: false,
                        valuation: None,
                    };
                    if let orders::Recorded::New(row) = orders::record(&mut conn, brand.id, zone, order).await.unwrap()
                    {
                        orders.push(row.id);
                    }
                }
                4..=5 if !orders.is_empty() => {
                    let id = orders[rng.random_range(0..orders.len())];
                    let amount = Decimal::new(rng.random_range(1..20_000), 2);
                    let request = ChangeRequest {
                        change: Change::Refund(Some(amount)),
                        reference: format!("r{seed}-{step}"),
                    };
                    // Refusals (more than is left, not accepted) must change nothing; the checks below prove it.
                    let _ = orders::change(&mut conn, brand.id, zone, id, request).await;
                }
                6 if !orders.is_empty() => {
                    let id = orders[rng.random_range(0..orders.len())];
                    let request = ChangeRequest {
                        change: Change::Reject("test".into()),
                        reference: "reject".into(),
                    };
                    let _ = orders::change(&mut conn, brand.id, zone, id, request).await;
                }
                7 => {
                    let batch = (0..rng.random_range(1..30))
                        .map(|_| NewClick {
                            brand_id: brand.id,
                            membership_id: link_memberships[rng.random_range(0..link_memberships.len())],
                            id: uuid::Uuid::now_v7(),
                            clicked_at: Utc::now() - Duration::hours(rng.random_range(0..24 * 20)),
                            // A few repeat visitors, and clicks with no address (paid without the repeat rule).
                            ip_hash: rng.random_bool(0.5).then(|| vec![rng.random_range(0..3u8); 16]),
                            user_agent: if rng.random_bool(0.2) {
                                "bot".into()
                            } else {
                                "Mozilla/5.0".into()
                            },
                            is_bot: false,
                        })
                        .map(|mut c| {
                            c.is_bot = sales_tracking::domain::tracking::is_bot(&c.user_agent);
                            c
                        })
                        .collect();
                    store_batch(&mut conn, batch, Default::default()).await.unwrap();
                }
                _ => {
                    // Pay everything payable, as Send Payment does: paid entries are final.
                    let key = format!("pay-{seed}-{step}");
                    conn.batch_execute(&format!(
                        "WITH payable AS (
                             SELECT membership_id, SUM(amount) AS amount FROM ledger_entries
                             WHERE payment_item_id IS NULL AND payable_at <= now() GROUP BY membership_id HAVING SUM(amount) > 0),
                         payment AS (
                             INSERT INTO payments (brand_id, idempotency_key, scope, state, total_amount)
                             SELECT {b}, '{key}', 'ALL_OFFERS', 'PAID', COALESCE(SUM(amount), 0) FROM payable RETURNING id),
                         items AS (
                             INSERT INTO payment_items (brand_id, payment_id, membership_id, amount, state)
                             SELECT {b}, payment.id, payable.membership_id, payable.amount, 'PAID' FROM payment, payable
                             RETURNING id, membership_id)
                         UPDATE ledger_entries l SET payment_item_id = items.id FROM items
                         WHERE l.membership_id = items.membership_id AND l.payment_item_id IS NULL AND l.payable_at <= now()",
                        b = brand.id.0
                    ))
                    .await
                    .unwrap();
                }
            }
        }
    }
    assert!(orders.len() > 30, "the sequences recorded {} orders", orders.len());
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM conversions WHERE membership_id IS NULL"
        )
        .await,
        0
    );
    assert!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM ledger_entries WHERE kind = 'CLAWBACK'"
        )
        .await
            > 0,
        "some refunds came after payment"
    );
    assert!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM ledger_entries WHERE payment_item_id IS NOT NULL"
        )
        .await
            > 0
    );

    let balances = ledger::balances(&mut conn, brand.id, &all_memberships, Utc::now())
        .await
        .unwrap();
    for b in &balances {
        assert_eq!(
            b.earned - b.reversed - b.paid,
            b.due + b.on_hold,
            "membership {}: {b:?}",
            b.membership_id
        );
    }
    // Independently of the ledger: what is owed overall is every conversion's current
    // commission plus what every click earned (7 cents, when the click rules let it).
    let earned_net: Decimal = balances.iter().map(|b| b.earned - b.reversed).sum();
    let conversion_cents = count(
        &mut conn,
        "SELECT (COALESCE(SUM(commission), 0) * 100)::bigint AS n FROM conversions",
    )
    .await;
    let click_cents = count(
        &mut conn,
        "SELECT (count(*) * 7)::bigint AS n FROM clicks WHERE unpaid_reason IS NULL AND commission = 0.07",
    )
    .await;
    assert_eq!(
        earned_net * Decimal::ONE_HUNDRED,
        Decimal::from(conversion_cents + click_cents)
    );
    // Paid amounts equal what the payment items say.
    let paid: Decimal = balances.iter().map(|b| b.paid).sum();
    let items_cents = count(
        &mut conn,
        "SELECT (COALESCE(SUM(amount), 0) * 100)::bigint AS n FROM payment_items",
    )
    .await;
    assert_eq!(paid * Decimal::ONE_HUNDRED, Decimal::from(items_cents));

    assert_eq!(
        stats::mismatches_with_raw_events(&mut conn).await.unwrap(),
        0,
        "rollups differ from a rebuild"
    );
    assert_eq!(
        stats::summary_mismatches(&mut conn).await.unwrap(),
        0,
        "monthly or offer rollups or balances differ from what they sum"
    );
    // The checks can fail: disturb one row of each and they notice.
    conn.batch_execute("UPDATE membership_daily_stats SET clicks = clicks + 1 WHERE ctid = (SELECT ctid FROM membership_daily_stats LIMIT 1)").await.unwrap();
    assert_eq!(stats::mismatches_with_raw_events(&mut conn).await.unwrap(), 1);
    conn.batch_execute("UPDATE membership_monthly_stats SET sales = sales + 1 WHERE ctid = (SELECT ctid FROM membership_monthly_stats LIMIT 1)").await.unwrap();
    conn.batch_execute("UPDATE membership_balances SET unpaid = unpaid + 1 WHERE ctid = (SELECT ctid FROM membership_balances LIMIT 1)").await.unwrap();
    conn.batch_execute("UPDATE offer_daily_stats SET conversions = conversions + 1 WHERE ctid = (SELECT ctid FROM offer_daily_stats LIMIT 1)").await.unwrap();
    assert_eq!(stats::summary_mismatches(&mut conn).await.unwrap(), 3);
    conn.batch_execute("UPDATE offer_monthly_stats SET clicks = clicks + 1 WHERE ctid = (SELECT ctid FROM offer_monthly_stats LIMIT 1)").await.unwrap();
    conn.batch_execute("UPDATE offer_member_counts SET memberships = memberships + 1 WHERE ctid = (SELECT ctid FROM offer_member_counts LIMIT 1)").await.unwrap();
    assert_eq!(stats::summary_mismatches(&mut conn).await.unwrap(), 5);
    conn.batch_execute(
        "DELETE FROM offer_converting_members WHERE ctid = (SELECT ctid FROM offer_converting_members LIMIT 1)",
    )
    .await
    .unwrap();
    assert_eq!(stats::summary_mismatches(&mut conn).await.unwrap(), 6);

    // Memberships and conversions are never deleted (their references are not
    // foreign keys), and a row naming one that is not there is counted.
    assert_eq!(stats::dangling_references(&mut conn).await.unwrap(), 0);
    for table in ["conversions", "memberships"] {
        let refused = conn
            .batch_execute(&format!(
                "DELETE FROM {table} WHERE ctid = (SELECT ctid FROM {table} LIMIT 1)"
            ))
            .await
            .expect_err("deleting is refused");
        assert!(refused.to_string().contains("never deleted"), "{refused}");
    }
    // Without triggers, which would carry the balances to a membership that is not there.
    conn.batch_execute(
        "SET session_replication_role = replica;
         UPDATE ledger_entries SET membership_id = -1 WHERE ctid = (SELECT ctid FROM ledger_entries LIMIT 1);
         UPDATE conversions SET membership_id = -1
             WHERE ctid = (SELECT ctid FROM conversions WHERE membership_id IS NOT NULL LIMIT 1);
         UPDATE ledger_entries SET conversion_id = -1
             WHERE ctid = (SELECT ctid FROM ledger_entries WHERE membership_id > 0 AND conversion_id IS NOT NULL LIMIT 1);
         SET session_replication_role = DEFAULT;",
    )
    .await
    .unwrap();
    assert_eq!(stats::dangling_references(&mut conn).await.unwrap(), 3);
}
