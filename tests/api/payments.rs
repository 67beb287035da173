//! Send Payment: what is paid, exactly once, under concurrency, and the payout file.

use futures_util::future::join_all;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::common::{TestApp, count};
use crate::tracking::{Shop, shop};

pub const SEND: &str = "mutation($i: SendPaymentInput!) { sendPayment(input: $i) { replayed payment { id state scope provider totalAmount idempotencyKey payoutFileUrl completedAt items { amount state providerReference membership { id } } } } }";
const RECORD: &str =
    "mutation($i: RecordConversionInput!) { recordConversion(input: $i) { conversion { id commission } } }";

/// Makes the promo-code offer pay at once (no hold period) and records `sales` with `code`.
pub async fn due_orders(app: &TestApp, shop: &Shop, code: &str, first_order: u32, sales: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for (n, sale) in sales.iter().enumerate() {
        let data = app
            .ok(
                &shop.brand.admin,
                RECORD,
                json!({ "i": { "externalOrderId": format!("order-{}", first_order as usize + n), "saleAmount": sale, "promoCode": code } }),
            )
            .await;
        ids.push(
            data["recordConversion"]["conversion"]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    ids
}

pub async fn no_hold(app: &TestApp, shop: &Shop) {
    app.ok(
        &shop.brand.admin,
        "mutation($id: ID!) { updateOffer(input: { id: $id, holdPeriodDays: 0 }) { offer { holdPeriodDays } } }",
        json!({ "id": shop.code_offer }),
    )
    .await;
}

fn money(value: &Value) -> Decimal {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not money: {value}"))
        .parse()
        .unwrap()
}

async fn payments_due(app: &TestApp, key: &str) -> Decimal {
    money(&app.ok(key, "{ kpis { paymentsDue } }", json!({})).await["kpis"]["paymentsDue"])
}

#[tokio::test]
async fn send_payment_pays_what_is_due_once_and_nets_later_clawbacks() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    no_hold(&app, &shop).await;
    // 15% of 100.00 and 50.00.
    let conversions = due_orders(&app, &shop, &shop.promo_code, 1, &["100.00", "50.00"]).await;
    let admin = &shop.brand.admin;
    assert_eq!(payments_due(&app, admin).await, Decimal::new(2250, 2));

    let preview = app
        .ok(
            admin,
            "{ paymentPreview(scope: ALL_OFFERS) { totalAmount itemCount items { amount membership { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(preview["paymentPreview"]["totalAmount"], "22.50");
    assert_eq!(
        preview["paymentPreview"]["items"][0]["membership"]["id"],
        shop.code_membership.as_str()
    );

    let input = json!({ "i": { "scope": "ALL_OFFERS", "idempotencyKey": "payday-1" } });
    let sent = app.ok(admin, SEND, input.clone()).await["sendPayment"].clone();
    let payment = &sent["payment"];
    assert_eq!(sent["replayed"], false);
    assert_eq!(payment["state"], "PAID");
    assert_eq!(payment["provider"], "MANUAL");
    assert_eq!(payment["totalAmount"], "22.50");
    assert!(payment["completedAt"].is_string());
    assert_eq!(payment["items"].as_array().unwrap().len(), 1);
    assert_eq!(payment["items"][0]["amount"], "22.50");
    assert_eq!(payment["items"][0]["state"], "PAID");
    assert_eq!(payments_due(&app, admin).await, Decimal::ZERO);

    // The same key returns the first payment and pays nothing more.
    let again = app.ok(admin, SEND, input).await["sendPayment"].clone();
    assert_eq!(again["replayed"], true);
    assert_eq!(again["payment"]["id"], payment["id"]);
    assert_eq!(app.rows("payments").await, 1);
    // The same key for another scope is a conflict; a new key with nothing due too.
    let other_scope = json!({ "i": { "scope": "OFFER", "offerId": shop.code_offer, "idempotencyKey": "payday-1" } });
    assert_eq!(app.error_code(Some(admin), SEND, other_scope).await, "CONFLICT");
    let nothing = json!({ "i": { "scope": "ALL_OFFERS", "idempotencyKey": "payday-2" } });
    assert_eq!(app.error_code(Some(admin), SEND, nothing.clone()).await, "CONFLICT");
    assert_eq!(app.rows("payments").await, 1, "a refused payment leaves nothing behind");

    // A refund after payment is clawed back from the next payment: 30.00 earned - 15.00 back.
    app.ok(
        admin,
        "mutation($id: ID!) { refundConversion(input: { id: $id, idempotencyKey: \"refund-all\" }) { conversion { status } } }",
        json!({ "id": conversions[0] }),
    )
    .await;
    due_orders(&app, &shop, &shop.promo_code, 3, &["200.00"]).await;
    assert_eq!(payments_due(&app, admin).await, Decimal::new(1500, 2));
    let second = app.ok(admin, SEND, nothing).await["sendPayment"]["payment"].clone();
    assert_eq!(second["totalAmount"], "15.00");
    let balance = app
        .ok(
            admin,
            "query($id: ID!) { membership(id: $id) { balance { earned reversed paid due onHold } } }",
            json!({ "id": shop.code_membership }),
        )
        .await["membership"]["balance"]
        .clone();
    assert_eq!(
        balance,
        json!({ "earned": "52.50", "reversed": "15.00", "paid": "37.50", "due": "0.00", "onHold": "0.00" })
    );

    // The history, newest first, and the audit trail.
    let history = app
        .ok(
            admin,
            "{ payments { edges { node { id totalAmount items { amount } } } } }",
            json!({}),
        )
        .await;
    let totals: Vec<&str> = history["payments"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["totalAmount"].as_str().unwrap())
        .collect();
    assert_eq!(totals, ["15.00", "22.50"]);
    let fetched = app
        .ok(
            admin,
            "query($id: ID!) { payment(id: $id) { idempotencyKey } }",
            json!({ "id": payment["id"] }),
        )
        .await;
    assert_eq!(fetched["payment"]["idempotencyKey"], "payday-1");
    let mut conn = app.db.connect().await;
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM audit_events WHERE action = 'sendPayment'"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn the_payout_file_has_paypal_columns_and_is_for_admins() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    no_hold(&app, &shop).await;
    due_orders(&app, &shop, &shop.promo_code, 1, &["80.00"]).await;
    let sent = app
        .ok(
            &shop.brand.admin,
            SEND,
            json!({ "i": { "scope": "MEMBERSHIPS", "membershipIds": [shop.code_membership], "idempotencyKey": "k" } }),
        )
        .await;
    let url = sent["sendPayment"]["payment"]["payoutFileUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, content_type, body) = app.get_as(&shop.brand.admin, &url).await;
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with("text/csv"));
    let rows = csv_rows(&body);
    // PayPal reads every row as a payment: no header row.
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        rows[0],
        [
            "ana@example.com",
            "12.00",
            "USD",
            rows[0][3].as_str(),
            "Commission from Trail Co",
            "PAYPAL"
        ]
    );
    assert!(rows[0][3].starts_with("payment_item_"), "{:?}", rows[0]);

    let (status, _, _) = app.get_as(&shop.brand.analyst, &url).await;
    assert_eq!(status, 403);
    let (status, _, _) = app
        .get_as(&shop.brand.admin, "/export/payments/payment_999999.csv")
        .await;
    assert_eq!(status, 404);
    let other = app.brand("Other Co").await;
    let (status, _, _) = app.get_as(&other.admin, &url).await;
    assert_eq!(status, 404, "another brand's payment is not there");
}

#[tokio::test]
async fn bad_payment_requests_change_nothing() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    no_hold(&app, &shop).await;
    due_orders(&app, &shop, &shop.promo_code, 1, &["10.00"]).await;
    let other = app.brand("Other Co").await;
    let other_offer = app
        .ok(
            &other.admin,
            "mutation { createOffer(input: { name: \"X\", type: PROMO_CODE, codePrefix: \"X\", payout: { type: PERCENT_OF_SALE, percent: \"5\" } }) { offer { id } } }",
            json!({}),
        )
        .await["createOffer"]["offer"]["id"]
        .clone();
    let cases = [
        (json!({ "scope": "OFFER", "idempotencyKey": "a" }), "BAD_USER_INPUT"),
        (
            json!({ "scope": "ALL_OFFERS", "offerId": shop.code_offer, "idempotencyKey": "a" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "scope": "MEMBERSHIPS", "membershipIds": [], "idempotencyKey": "a" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "scope": "MEMBERSHIPS", "membershipIds": ["membership_999999"], "idempotencyKey": "a" }),
            "NOT_FOUND",
        ),
        (
            json!({ "scope": "OFFER", "offerId": other_offer, "idempotencyKey": "a" }),
            "NOT_FOUND",
        ),
        (
            json!({ "scope": "ALL_OFFERS", "idempotencyKey": "  " }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "scope": "ACTIVE_OFFERS", "offerId": shop.code_offer, "idempotencyKey": "a" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "scope": "OFFER", "offerId": shop.code_offer, "filter": {}, "idempotencyKey": "a" }),
            "BAD_USER_INPUT",
        ),
    ];
    for (input, code) in cases {
        assert_eq!(
            app.error_code(Some(&shop.brand.admin), SEND, json!({ "i": input }))
                .await,
            code,
            "{input}"
        );
    }
    let analyst = json!({ "i": { "scope": "ALL_OFFERS", "idempotencyKey": "a" } });
    assert_eq!(
        app.error_code(Some(&shop.brand.analyst), SEND, analyst).await,
        "FORBIDDEN"
    );
    assert_eq!(app.rows("payments").await, 0);
    assert_eq!(payments_due(&app, &shop.brand.admin).await, Decimal::new(150, 2));
}

const PREVIEW: &str =
    "query($s: PaymentScope!, $f: OfferFilter) { paymentPreview(scope: $s, filter: $f) { totalAmount } }";

/// What concurrent `sendPayment` answers paid in all; each one that paid nothing
/// must be the `CONFLICT` of finding nothing due.
pub fn total_paid<'a>(bodies: impl IntoIterator<Item = &'a Value>) -> Decimal {
    let mut paid = Decimal::ZERO;
    for body in bodies {
        match body["data"]["sendPayment"]["payment"]["totalAmount"].as_str() {
            Some(total) => paid += total.parse::<Decimal>().unwrap(),
            None => assert_eq!(body["errors"][0]["extensions"]["code"], "CONFLICT", "{body}"),
        }
    }
    paid
}

async fn preview_total(app: &TestApp, key: &str, scope: &str, filter: Value) -> Decimal {
    money(&app.ok(key, PREVIEW, json!({ "s": scope, "f": filter })).await["paymentPreview"]["totalAmount"])
}

async fn filtered_payments_due(app: &TestApp, key: &str, filter: Value) -> Decimal {
    let data = app
        .ok(
            key,
            "query($f: OfferFilter) { kpis(filter: $f) { paymentsDue } }",
            json!({ "f": filter }),
        )
        .await;
    money(&data["kpis"]["paymentsDue"])
}

#[tokio::test]
async fn active_offers_pays_exactly_the_payments_due_the_home_page_shows() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let admin = &shop.brand.admin;
    no_hold(&app, &shop).await;
    due_orders(&app, &shop, &shop.promo_code, 1, &["100.00"]).await;
    // A second promo-code offer with money due, then paused: the home page leaves it out.
    let winter = app
        .ok(
            admin,
            "mutation { createOffer(input: { name: \"Winter\", type: PROMO_CODE, codePrefix: \"WINTER\", holdPeriodDays: 0, payout: { type: PERCENT_OF_SALE, percent: \"20\" } }) { offer { id } } }",
            json!({}),
        )
        .await["createOffer"]["offer"]["id"]
        .clone();
    let member = app
        .ok(
            admin,
            "query($id: ID!) { offer(id: $id) { memberships { nodes { member { id } } } } }",
            json!({ "id": shop.code_offer }),
        )
        .await["offer"]["memberships"]["nodes"][0]["member"]["id"]
        .clone();
    let added = app
        .ok(
            admin,
            "mutation($o: ID!, $m: [ID!]!) { addMembers(input: { offerId: $o, memberIds: $m }) { memberships { promoCode } } }",
            json!({ "o": winter, "m": [member] }),
        )
        .await;
    let winter_code = added["addMembers"]["memberships"][0]["promoCode"]
        .as_str()
        .unwrap()
        .to_string();
    due_orders(&app, &shop, &winter_code, 2, &["50.00"]).await;
    app.ok(
        admin,
        "mutation($id: ID!) { setOfferStatus(input: { id: $id, status: PAUSED }) { offer { status } } }",
        json!({ "id": winter }),
    )
    .await;

    // Home page: 15% of 100.00 from the active offer; the paused one's 10.00 is not shown.
    let shown = payments_due(&app, admin).await;
    assert_eq!(shown, Decimal::new(1500, 2));
    assert_eq!(preview_total(&app, admin, "ACTIVE_OFFERS", Value::Null).await, shown);
    assert_eq!(
        preview_total(&app, admin, "ALL_OFFERS", Value::Null).await,
        Decimal::new(2500, 2)
    );
    // With a home filter, the filtered figure.
    let both = json!({ "statuses": ["ACTIVE", "PAUSED"] });
    assert_eq!(
        filtered_payments_due(&app, admin, both.clone()).await,
        Decimal::new(2500, 2)
    );
    assert_eq!(
        preview_total(&app, admin, "ACTIVE_OFFERS", both).await,
        Decimal::new(2500, 2)
    );
    let links_only = json!({ "types": ["SALES_LINK"] });
    assert_eq!(
        filtered_payments_due(&app, admin, links_only.clone()).await,
        Decimal::ZERO
    );
    let nothing = json!({ "i": { "scope": "ACTIVE_OFFERS", "filter": links_only, "idempotencyKey": "links" } });
    assert_eq!(app.error_code(Some(admin), SEND, nothing).await, "CONFLICT");

    let sent = app
        .ok(
            admin,
            SEND,
            json!({ "i": { "scope": "ACTIVE_OFFERS", "idempotencyKey": "home" } }),
        )
        .await;
    let payment = &sent["sendPayment"]["payment"];
    assert_eq!(payment["scope"], "ACTIVE_OFFERS");
    assert_eq!(money(&payment["totalAmount"]), shown);
    assert_eq!(payments_due(&app, admin).await, Decimal::ZERO);
    // The paused offer's commission is still due, to ALL_OFFERS or its own OFFER payment.
    assert_eq!(
        preview_total(&app, admin, "ALL_OFFERS", Value::Null).await,
        Decimal::new(1000, 2)
    );
}

pub fn csv_rows(body: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body.as_bytes())
        .records()
        .map(|row| row.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[tokio::test]
async fn payout_files_split_at_5000_rows_and_keep_phone_receivers_as_given() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let admin = &shop.brand.admin;
    let phone = app
        .ok(
            admin,
            "mutation { createMember(input: { name: \"Bo\", email: \"bo@example.com\", payoutEmail: \"+1 (555) 010-9999\" }) { member { id } } }",
            json!({}),
        )
        .await;
    assert!(phone["createMember"]["member"]["id"].is_string());
    assert_eq!(
        app.error_code(
            Some(admin),
            "mutation { createMember(input: { name: \"Cy\", email: \"cy@example.com\", payoutEmail: \"=1+1\" }) { member { id } } }",
            json!({}),
        )
        .await,
        "BAD_USER_INPUT"
    );
    // 5,001 items, written straight to the tables (the API would take minutes to pay that many).
    let mut conn = app.db.connect().await;
    diesel_async::SimpleAsyncConnection::batch_execute(
        &mut conn,
        &format!(
            "INSERT INTO members (brand_id, name, email) SELECT {b}, 'M' || n, 'm' || n || '@example.com' FROM generate_series(1, 5000) n;
             INSERT INTO memberships (brand_id, offer_id, member_id) SELECT {b}, o.id, m.id FROM offers o, members m WHERE o.brand_id = {b} AND o.offer_type = 'PROMO_CODE' AND m.brand_id = {b} AND m.name <> 'Ana Rivera';
             INSERT INTO payments (brand_id, idempotency_key, scope, state, total_amount) VALUES ({b}, 'big', 'ALL_OFFERS', 'PAID', 5001);
             INSERT INTO payment_items (brand_id, payment_id, membership_id, amount, state)
               SELECT {b}, p.id, m.id, 1.00, 'PAID' FROM payments p, memberships m JOIN members mb ON mb.brand_id = m.brand_id AND mb.id = m.member_id
               WHERE p.brand_id = {b} AND m.brand_id = {b} AND mb.name <> 'Ana Rivera';",
            b = shop.brand.id.0
        ),
    )
    .await
    .unwrap();
    let payment = app
        .ok(
            admin,
            "{ payments { nodes { payoutFileUrls items { amount } } } }",
            json!({}),
        )
        .await["payments"]["nodes"][0]
        .clone();
    assert_eq!(payment["items"].as_array().unwrap().len(), 5001);
    let urls: Vec<String> = payment["payoutFileUrls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect();
    assert_eq!(urls.len(), 2, "{urls:?}");
    let (_, _, first) = app.get_as(admin, &urls[0]).await;
    let (status, _, second) = app.get_as(admin, &urls[1]).await;
    assert_eq!(status, 200);
    let (first, second) = (csv_rows(&first), csv_rows(&second));
    assert_eq!((first.len(), second.len()), (5000, 1));
    let receivers: Vec<&str> = first.iter().chain(&second).map(|row| row[0].as_str()).collect();
    assert!(
        receivers.contains(&"+15550109999"),
        "the phone number goes as given, without a ' before it"
    );
    let (status, _, _) = app.get_as(admin, &format!("{}?part=3", urls[0])).await;
    assert_eq!(status, 404, "no third file");
}

/// Twenty members in the promo-code offer, each with one order due.
async fn many_members_due(app: &TestApp, shop: &Shop, round: u32) {
    let admin = &shop.brand.admin;
    if round == 0 {
        let mut ids = Vec::new();
        for n in 0..20 {
            let input = json!({ "name": format!("Creator {n}"), "email": format!("c{n}@example.com") });
            let data = app
                .ok(
                    admin,
                    "mutation($i: CreateMemberInput!) { createMember(input: $i) { member { id } } }",
                    json!({ "i": input }),
                )
                .await;
            ids.push(data["createMember"]["member"]["id"].clone());
        }
        app.ok(
            admin,
            "mutation($o: ID!, $m: [ID!]!) { addMembers(input: { offerId: $o, memberIds: $m }) { memberships { id } } }",
            json!({ "o": shop.code_offer, "m": ids }),
        )
        .await;
    }
    let memberships = app
        .ok(
            admin,
            "query($id: ID!) { offer(id: $id) { memberships(first: 100) { edges { node { promoCode } } } } }",
            json!({ "id": shop.code_offer }),
        )
        .await;
    let codes: Vec<String> = memberships["offer"]["memberships"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["promoCode"].as_str().unwrap().to_string())
        .collect();
    for (n, code) in codes.iter().enumerate() {
        due_orders(app, shop, code, round * 1000 + n as u32, &["33.33"]).await;
    }
}

#[tokio::test]
async fn concurrent_send_payments_pay_each_entry_once() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    no_hold(&app, &shop).await;
    many_members_due(&app, &shop, 0).await;
    let admin = &shop.brand.admin;
    let due = payments_due(&app, admin).await;
    assert_eq!(due, Decimal::new(500 * 21, 2), "21 memberships x 15% of 33.33");

    // Twenty requests with one key at the same moment: one payment.
    let same_key = json!({ "i": { "scope": "ALL_OFFERS", "idempotencyKey": "same" } });
    let answers = join_all((0..20).map(|_| app.graphql(Some(admin), SEND, same_key.clone()))).await;
    let mut ids: Vec<String> = answers
        .iter()
        .map(|(_, body)| {
            assert!(body.get("errors").is_none(), "{body}");
            body["data"]["sendPayment"]["payment"]["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 1, "every request returns the same payment");
    assert_eq!(app.rows("payments").await, 1);
    assert_eq!(payments_due(&app, admin).await, Decimal::ZERO);

    // Twenty requests with different keys: whatever splits them, each entry is paid once.
    many_members_due(&app, &shop, 1).await;
    let due = payments_due(&app, admin).await;
    let answers = join_all((0..20).map(|n| {
        let input = json!({ "i": { "scope": "ALL_OFFERS", "idempotencyKey": format!("key-{n}") } });
        app.graphql(Some(admin), SEND, input)
    }))
    .await;
    let paid = total_paid(answers.iter().map(|(_, body)| body));
    assert_eq!(paid, due, "the sum paid equals what was due");
    assert_eq!(payments_due(&app, admin).await, Decimal::ZERO);
    let mut conn = app.db.connect().await;
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM payment_items i
             WHERE i.amount <> (SELECT sum(e.amount) FROM ledger_entries e WHERE e.payment_item_id = i.id)"
        )
        .await,
        0,
        "every item pays exactly its entries"
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM payments WHERE total_amount <> (SELECT sum(amount) FROM payment_items i WHERE i.payment_id = payments.id)").await,
        0
    );
}
