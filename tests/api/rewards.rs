//! Rewards by hand and by rules.

use serde_json::{Value, json};

use crate::common::{TestApp, count};
use crate::tracking::shop;

const GRANT: &str = "mutation($m: ID!, $r: RewardInput!, $k: String!) { grantReward(input: { membershipId: $m, reward: $r, idempotencyKey: $k }) { replayed reward { id kind cashAmount description discountCode ruleId membership { id } } } }";
const RULE: &str = "mutation($o: ID!, $i: RewardRuleInput!) { createRewardRule(input: { offerId: $o, rule: $i }) { rule { id trigger everyN salesThreshold rewardKind cashAmount description active } } }";
const RECORD: &str = "mutation($id: String!, $code: String!) { recordConversion(input: { externalOrderId: $id, saleAmount: \"100.00\", promoCode: $code }) { duplicate } }";

async fn rewards_of(app: &TestApp, key: &str, membership: &str) -> Vec<Value> {
    let data = app
        .ok(
            key,
            "query($id: ID!) { membership(id: $id) { rewards { kind cashAmount description discountCode ruleId } } }",
            json!({ "id": membership }),
        )
        .await;
    data["membership"]["rewards"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_cash_bonus_is_earned_once_and_paid_with_the_next_payment() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let admin = &shop.brand.admin;
    let bonus = json!({ "m": shop.code_membership, "r": { "kind": "CASH_BONUS", "cashAmount": "25.00", "description": "Launch week" }, "k": "bonus-1" });
    let granted = app.ok(admin, GRANT, bonus.clone()).await["grantReward"].clone();
    assert_eq!(granted["replayed"], false);
    assert_eq!(granted["reward"]["cashAmount"], "25.00");
    assert_eq!(granted["reward"]["ruleId"], json!(null));
    let again = app.ok(admin, GRANT, bonus).await["grantReward"].clone();
    assert_eq!(again["replayed"], true);
    assert_eq!(again["reward"]["id"], granted["reward"]["id"]);
    let elsewhere =
        json!({ "m": shop.link_membership, "r": { "kind": "CASH_BONUS", "cashAmount": "25.00" }, "k": "bonus-1" });
    assert_eq!(app.error_code(Some(admin), GRANT, elsewhere).await, "CONFLICT");
    assert_eq!(app.rows("rewards").await, 1);

    let kpis = app
        .ok(
            admin,
            "{ kpis { commissionsEarned paymentsDue membersWithPaymentsDue } }",
            json!({}),
        )
        .await;
    assert_eq!(
        kpis["kpis"],
        json!({ "commissionsEarned": "25.00", "paymentsDue": "25.00", "membersWithPaymentsDue": 1 })
    );
    let paid = app
        .ok(
            admin,
            "mutation { sendPayment(input: { scope: ALL_OFFERS, idempotencyKey: \"p1\" }) { payment { totalAmount } } }",
            json!({}),
        )
        .await;
    assert_eq!(paid["sendPayment"]["payment"]["totalAmount"], "25.00");

    // Free products and discount codes are recorded, not paid.
    let product = json!({ "m": shop.code_membership, "r": { "kind": "FREE_PRODUCT", "description": "Trail runners" }, "k": "gift-1" });
    app.ok(admin, GRANT, product).await;
    let code = json!({ "m": shop.code_membership, "r": { "kind": "DISCOUNT_CODE", "discountCode": "ana-friends" }, "k": "code-1" });
    let code = app.ok(admin, GRANT, code).await;
    assert_eq!(code["grantReward"]["reward"]["discountCode"], "ANA-FRIENDS");
    let kinds: Vec<Value> = rewards_of(&app, admin, &shop.code_membership)
        .await
        .iter()
        .map(|r| r["kind"].clone())
        .collect();
    assert_eq!(kinds, ["DISCOUNT_CODE", "FREE_PRODUCT", "CASH_BONUS"]);
    let mut conn = app.db.connect().await;
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM ledger_entries WHERE kind = 'REWARD'"
        )
        .await,
        1
    );
    let mismatches = sales_tracking::db::stats::mismatches_with_raw_events(&mut conn)
        .await
        .unwrap();
    assert_eq!(mismatches, 0, "the bonus is in the rollups exactly as in the ledger");
    assert_eq!(
        sales_tracking::db::stats::summary_mismatches(&mut conn).await.unwrap(),
        0
    );
}

#[tokio::test]
async fn bad_rewards_are_refused_and_change_nothing() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let m = shop.code_membership.as_str();
    let cases = [
        (
            json!({ "m": m, "r": { "kind": "CASH_BONUS" }, "k": "a" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "m": m, "r": { "kind": "CASH_BONUS", "cashAmount": "-5.00" }, "k": "a" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "m": m, "r": { "kind": "CASH_BONUS", "cashAmount": "0.00" }, "k": "a" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "m": m, "r": { "kind": "FREE_PRODUCT", "cashAmount": "5.00", "description": "Hat" }, "k": "a" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "m": m, "r": { "kind": "FREE_PRODUCT" }, "k": "a" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "m": m, "r": { "kind": "DISCOUNT_CODE" }, "k": "a" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "m": m, "r": { "kind": "DISCOUNT_CODE", "discountCode": "no spaces" }, "k": "a" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "m": m, "r": { "kind": "FREE_PRODUCT", "description": "Hat" }, "k": "" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "m": "membership_999999", "r": { "kind": "FREE_PRODUCT", "description": "Hat" }, "k": "a" }),
            "NOT_FOUND",
        ),
    ];
    for (variables, code) in cases {
        assert_eq!(
            app.error_code(Some(&shop.brand.admin), GRANT, variables.clone()).await,
            code,
            "{variables}"
        );
    }
    let analyst = json!({ "m": m, "r": { "kind": "CASH_BONUS", "cashAmount": "5.00" }, "k": "a" });
    assert_eq!(
        app.error_code(Some(&shop.brand.analyst), GRANT, analyst).await,
        "FORBIDDEN"
    );
    let rules = [
        json!({ "trigger": "EVERY_N_CONVERSIONS", "reward": { "kind": "FREE_PRODUCT", "description": "Hat" } }),
        json!({ "trigger": "FIRST_CONVERSION", "everyN": 2, "reward": { "kind": "FREE_PRODUCT", "description": "Hat" } }),
        json!({ "trigger": "SALES_OVER_AMOUNT", "salesThreshold": "0.00", "reward": { "kind": "FREE_PRODUCT", "description": "Hat" } }),
        json!({ "trigger": "FIRST_CONVERSION", "reward": { "kind": "DISCOUNT_CODE", "discountCode": "FIXED" } }),
    ];
    for input in rules {
        assert_eq!(
            app.error_code(
                Some(&shop.brand.admin),
                RULE,
                json!({ "o": shop.code_offer, "i": input })
            )
            .await,
            "BAD_USER_INPUT",
            "{input}"
        );
    }
    assert_eq!(app.rows("rewards").await, 0);
    assert_eq!(app.rows("reward_rules").await, 0);
    assert_eq!(app.rows("ledger_entries").await, 0);
}

#[tokio::test]
async fn rules_grant_once_when_a_conversion_crosses_them() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let admin = &shop.brand.admin;
    let rule = |input: Value| app.ok(admin, RULE, json!({ "o": shop.code_offer, "i": input }));
    rule(json!({ "trigger": "FIRST_CONVERSION", "reward": { "kind": "FREE_PRODUCT", "description": "Hoodie" } })).await;
    let every_two = rule(json!({ "trigger": "EVERY_N_CONVERSIONS", "everyN": 2, "reward": { "kind": "CASH_BONUS", "cashAmount": "10.00" } })).await;
    rule(json!({ "trigger": "SALES_OVER_AMOUNT", "salesThreshold": "250.00", "reward": { "kind": "DISCOUNT_CODE", "description": "20% off" } })).await;
    let rules = app
        .ok(
            admin,
            "query($id: ID!) { offer(id: $id) { rewardRules { trigger active } } }",
            json!({ "id": shop.code_offer }),
        )
        .await;
    assert_eq!(rules["offer"]["rewardRules"].as_array().unwrap().len(), 3);

    let code = shop.promo_code.as_str();
    let order = |n: u32| app.ok(admin, RECORD, json!({ "id": format!("o{n}"), "code": code }));
    let kinds = |rewards: Vec<Value>| -> Vec<String> {
        rewards
            .iter()
            .rev()
            .map(|r| r["kind"].as_str().unwrap().to_string())
            .collect()
    };
    order(1).await;
    assert_eq!(
        kinds(rewards_of(&app, admin, &shop.code_membership).await),
        ["FREE_PRODUCT"]
    );
    order(2).await;
    assert_eq!(
        kinds(rewards_of(&app, admin, &shop.code_membership).await),
        ["FREE_PRODUCT", "CASH_BONUS"]
    );
    order(3).await; // 300.00 in sales crosses 250.00
    let rewards = rewards_of(&app, admin, &shop.code_membership).await;
    assert_eq!(kinds(rewards.clone()), ["FREE_PRODUCT", "CASH_BONUS", "DISCOUNT_CODE"]);
    assert!(rewards[0]["discountCode"].as_str().unwrap().starts_with("REWARD-"));
    // A replayed order grants nothing; the fourth conversion is the second crossing of "every 2".
    assert_eq!(order(3).await["recordConversion"]["duplicate"], true);
    order(4).await;
    assert_eq!(rewards_of(&app, admin, &shop.code_membership).await.len(), 4);

    // An inactive rule grants nothing.
    let rule_id = every_two["createRewardRule"]["rule"]["id"].clone();
    app.ok(
        admin,
        "mutation($id: ID!) { setRewardRuleActive(input: { id: $id, active: false }) { rule { active } } }",
        json!({ "id": rule_id }),
    )
    .await;
    order(5).await;
    order(6).await;
    assert_eq!(rewards_of(&app, admin, &shop.code_membership).await.len(), 4);

    let balance = app
        .ok(
            admin,
            "query($id: ID!) { membership(id: $id) { balance { earned } } }",
            json!({ "id": shop.code_membership }),
        )
        .await;
    // Six orders at 15% of 100.00, plus two cash bonuses of 10.00.
    assert_eq!(balance["membership"]["balance"]["earned"], "110.00");
    let mut conn = app.db.connect().await;
    let mismatches = sales_tracking::db::stats::mismatches_with_raw_events(&mut conn)
        .await
        .unwrap();
    assert_eq!(mismatches, 0);
    assert_eq!(
        sales_tracking::db::stats::summary_mismatches(&mut conn).await.unwrap(),
        0
    );
}

#[tokio::test]
async fn refunds_that_un_cross_a_rule_take_its_reward_back_and_a_new_crossing_grants_again() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let admin = &shop.brand.admin;
    app.ok(
        admin,
        "mutation($id: ID!) { updateOffer(input: { id: $id, holdPeriodDays: 0 }) { offer { id } } }",
        json!({ "id": shop.code_offer }),
    )
    .await;
    let over_150 = json!({ "trigger": "SALES_OVER_AMOUNT", "salesThreshold": "150.00", "reward": { "kind": "CASH_BONUS", "cashAmount": "10.00", "description": "Past 150" } });
    let first = json!({ "trigger": "FIRST_CONVERSION", "reward": { "kind": "CASH_BONUS", "cashAmount": "5.00", "description": "First sale" } });
    for rule in [over_150, first] {
        app.ok(admin, RULE, json!({ "o": shop.code_offer, "i": rule })).await;
    }
    for id in ["r-1", "r-2"] {
        app.ok(admin, RECORD, json!({ "id": id, "code": shop.promo_code }))
            .await;
    }
    let conversions = app
        .ok(
            admin,
            "query($id: ID!) { offer(id: $id) { conversions { nodes { id } } } }",
            json!({ "id": shop.code_offer }),
        )
        .await["offer"]["conversions"]["nodes"]
        .clone();
    let standing = |rewards: &[Value]| rewards.iter().filter(|r| r["reversedAt"].is_null()).count();
    let rewards = || async {
        app.ok(
            admin,
            "query($id: ID!) { membership(id: $id) { rewards { description cashAmount reversedAt } } }",
            json!({ "id": shop.code_membership }),
        )
        .await["membership"]["rewards"]
            .as_array()
            .unwrap()
            .clone()
    };
    assert_eq!(standing(&rewards().await), 2);
    // 2 × 15.00 commission + 10.00 + 5.00 in rewards.
    assert_eq!(due(&app, admin).await, "45.00");

    // Pay it all, then refund 60.00: sales fall to 140.00, under the rule's 150.00.
    app.ok(
        admin,
        "mutation { sendPayment(input: { scope: ALL_OFFERS, idempotencyKey: \"pay\" }) { payment { totalAmount } } }",
        json!({}),
    )
    .await;
    let refund = "mutation($id: ID!, $a: Money, $k: String!) { refundConversion(input: { id: $id, amount: $a, idempotencyKey: $k }) { conversion { status } } }";
    app.ok(
        admin,
        refund,
        json!({ "id": conversions[0]["id"], "a": "60.00", "k": "refund-60" }),
    )
    .await;
    let after = rewards().await;
    assert_eq!(standing(&after), 1, "{after:?}");
    assert!(
        after
            .iter()
            .any(|r| r["description"] == "Past 150" && r["reversedAt"].is_string())
    );
    // The paid 10.00 is clawed back with the refund's 9.00 commission: -19.00 nets into the next payment.
    let mut conn = app.db.connect().await;
    assert_eq!(
        count(&mut conn, "SELECT (SUM(amount) * 100)::bigint AS n FROM ledger_entries WHERE kind = 'CLAWBACK' AND reward_id IS NOT NULL").await,
        -1000
    );

    // Both orders fully refunded: no conversion stands, the first-sale reward goes too.
    app.ok(
        admin,
        refund,
        json!({ "id": conversions[0]["id"], "k": "refund-rest-0" }),
    )
    .await;
    app.ok(
        admin,
        refund,
        json!({ "id": conversions[1]["id"], "k": "refund-rest-1" }),
    )
    .await;
    assert_eq!(standing(&rewards().await), 0);
    // A new first sale crosses FIRST_CONVERSION again: a new reward.
    app.ok(admin, RECORD, json!({ "id": "r-3", "code": shop.promo_code }))
        .await;
    let again = rewards().await;
    assert_eq!(standing(&again), 1);
    assert_eq!(again.len(), 3);
    assert_eq!(
        sales_tracking::db::stats::mismatches_with_raw_events(&mut conn)
            .await
            .unwrap(),
        0,
        "rollups, ledger and rewards agree"
    );
    assert_eq!(
        sales_tracking::db::stats::summary_mismatches(&mut conn).await.unwrap(),
        0
    );
}

async fn due(app: &TestApp, key: &str) -> String {
    app.ok(key, "{ paymentPreview(scope: ALL_OFFERS) { totalAmount } }", json!({}))
        .await["paymentPreview"]["totalAmount"]
        .as_str()
        .unwrap()
        .to_string()
}

const EMAILS: &str = "query($id: ID!) { membership(id: $id) { emails { to subject body rewardId } } }";

async fn emails_of(app: &TestApp, key: &str, membership: &str) -> Vec<Value> {
    app.ok(key, EMAILS, json!({ "id": membership })).await["membership"]["emails"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn free_products_and_discount_codes_are_emailed_to_the_member_through_the_outbox() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let admin = &shop.brand.admin;
    let m = shop.code_membership.as_str();
    let grant_with_email = "mutation($m: ID!, $r: RewardInput!, $k: String!, $e: EmailTemplateInput) { grantReward(input: { membershipId: $m, reward: $r, idempotencyKey: $k, email: $e }) { reward { id discountCode } } }";

    // A discount code with the brand's own message, `{{discountCode}}` filled.
    let custom = json!({ "subject": "Your code, {{memberName}}", "body": "Use {{discountCode}} at {{brandName}} ({{promoCode}})." });
    let code =
        json!({ "m": m, "r": { "kind": "DISCOUNT_CODE", "discountCode": "ana-friends" }, "k": "code-1", "e": custom });
    let reward = app.ok(admin, grant_with_email, code.clone()).await["grantReward"]["reward"].clone();
    let emails = emails_of(&app, admin, m).await;
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0]["rewardId"], reward["id"]);
    assert!(emails[0]["subject"].as_str().unwrap().starts_with("Your code, "));
    assert_eq!(
        emails[0]["body"],
        format!("Use ANA-FRIENDS at Trail Co ({}).", shop.promo_code)
    );
    // A replay grants nothing new and sends nothing new.
    app.ok(admin, grant_with_email, code).await;
    assert_eq!(emails_of(&app, admin, m).await.len(), 1);

    // A free product without a message gets the default one, naming the product.
    let gift = json!({ "m": m, "r": { "kind": "FREE_PRODUCT", "description": "Trail runners" }, "k": "gift-1" });
    app.ok(admin, grant_with_email, gift).await;
    let emails = emails_of(&app, admin, m).await;
    assert_eq!(emails.len(), 2);
    assert!(
        emails[0]["body"]
            .as_str()
            .unwrap()
            .contains("Your reward: Trail runners.")
    );

    // Cash is paid, not emailed; a message that cannot be filled is refused with no reward.
    let cash = json!({ "m": m, "r": { "kind": "CASH_BONUS", "cashAmount": "5.00" }, "k": "cash-1" });
    app.ok(admin, grant_with_email, cash).await;
    let refused = [
        json!({ "m": m, "r": { "kind": "CASH_BONUS", "cashAmount": "5.00" }, "k": "cash-2", "e": { "subject": "Hi", "body": "Cash" } }),
        json!({ "m": m, "r": { "kind": "FREE_PRODUCT", "description": "Hat" }, "k": "hat-1", "e": { "subject": "Hi", "body": "{{link}}" } }),
        json!({ "m": m, "r": { "kind": "FREE_PRODUCT", "description": "Hat" }, "k": "hat-2", "e": { "subject": "Hi", "body": "{{discountCode}}" } }),
        json!({ "m": m, "r": { "kind": "FREE_PRODUCT", "description": "Hat" }, "k": "hat-3", "e": { "subject": "", "body": "Hi" } }),
    ];
    for variables in refused {
        assert_eq!(
            app.error_code(Some(admin), grant_with_email, variables.clone()).await,
            "BAD_USER_INPUT",
            "{variables}"
        );
    }
    assert_eq!(app.rows("rewards").await, 3);
    assert_eq!(emails_of(&app, admin, m).await.len(), 2);

    // A rule's discount code is made up per grant and its message carries it.
    let rule = json!({ "trigger": "FIRST_CONVERSION", "reward": { "kind": "DISCOUNT_CODE", "description": "20% off" },
                       "email": { "subject": "A code for you", "body": "{{rewardDescription}}: {{discountCode}}" } });
    app.ok(admin, RULE, json!({ "o": shop.code_offer, "i": rule })).await;
    let unfillable = json!({ "trigger": "FIRST_CONVERSION", "reward": { "kind": "FREE_PRODUCT", "description": "Cap" },
                             "email": { "subject": "Hi", "body": "{{discountCode}}" } });
    assert_eq!(
        app.error_code(Some(admin), RULE, json!({ "o": shop.code_offer, "i": unfillable }))
            .await,
        "BAD_USER_INPUT"
    );
    app.ok(admin, RECORD, json!({ "id": "order-1", "code": shop.promo_code }))
        .await;
    let emails = emails_of(&app, admin, m).await;
    assert_eq!(emails.len(), 3);
    let granted = app
        .ok(
            admin,
            "query($id: ID!) { node(id: $id) { ... on Reward { discountCode ruleId } } }",
            json!({ "id": emails[0]["rewardId"] }),
        )
        .await["node"]
        .clone();
    assert!(granted["ruleId"].is_string());
    let code = granted["discountCode"].as_str().unwrap();
    assert!(code.starts_with("REWARD-"));
    assert_eq!(emails[0]["subject"], "A code for you");
    assert_eq!(emails[0]["body"], format!("20% off: {code}"));
}

#[tokio::test]
async fn a_revoked_cash_reward_drops_before_payment_and_is_clawed_back_after() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let admin = &shop.brand.admin;
    let m = shop.code_membership.as_str();
    let grant =
        |amount: &str, key: &str| json!({ "m": m, "r": { "kind": "CASH_BONUS", "cashAmount": amount }, "k": key });
    let launch = app.ok(admin, GRANT, grant("25.00", "launch")).await["grantReward"]["reward"]["id"].clone();
    app.ok(admin, GRANT, grant("10.00", "second")).await;
    app.ok(
        admin,
        "mutation { sendPayment(input: { scope: ALL_OFFERS, idempotencyKey: \"pay\" }) { payment { totalAmount } } }",
        json!({}),
    )
    .await;
    let revoke = "mutation($id: ID!, $r: String!) { revokeReward(input: { id: $id, reason: $r }) { reward { reversedAt reversalReason } } }";
    assert_eq!(
        app.error_code(Some(&shop.brand.analyst), revoke, json!({ "id": launch, "r": "x" }))
            .await,
        "FORBIDDEN"
    );
    assert_eq!(
        app.error_code(Some(admin), revoke, json!({ "id": launch, "r": " " }))
            .await,
        "BAD_USER_INPUT"
    );
    let revoked =
        app.ok(admin, revoke, json!({ "id": launch, "r": "Posted late" })).await["revokeReward"]["reward"].clone();
    assert!(revoked["reversedAt"].is_string());
    assert_eq!(revoked["reversalReason"], "Posted late");
    assert_eq!(
        app.error_code(Some(admin), revoke, json!({ "id": launch, "r": "again" }))
            .await,
        "CONFLICT"
    );
    let other = app.brand("Elsewhere").await;
    assert_eq!(
        app.error_code(Some(&other.admin), revoke, json!({ "id": launch, "r": "x" }))
            .await,
        "NOT_FOUND"
    );

    // Unpaid: its entry drops to zero, no clawback.
    let late = app.ok(admin, GRANT, grant("7.00", "late")).await["grantReward"]["reward"]["id"].clone();
    app.ok(admin, revoke, json!({ "id": late, "r": "Mistake" })).await;

    let mut conn = app.db.connect().await;
    assert_eq!(
        count(
            &mut conn,
            "SELECT (SUM(amount) * 100)::bigint AS n FROM ledger_entries WHERE kind = 'CLAWBACK'"
        )
        .await,
        -2500,
        "only the paid reward is clawed back"
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT (SUM(amount) * 100)::bigint AS n FROM ledger_entries WHERE payment_item_id IS NULL"
        )
        .await,
        -2500,
        "the next payment nets the 25.00 owed"
    );
    let kpis = app.ok(admin, "{ kpis { commissionsEarned } }", json!({})).await;
    assert_eq!(kpis["kpis"]["commissionsEarned"], "10.00");
    assert_eq!(
        sales_tracking::db::stats::mismatches_with_raw_events(&mut conn)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        sales_tracking::db::stats::summary_mismatches(&mut conn).await.unwrap(),
        0
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM audit_events WHERE action = 'revokeReward'"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn a_rules_reward_and_message_change_but_not_its_trigger() {
    let app = TestApp::new().await;
    let shop = shop(&app).await;
    let admin = &shop.brand.admin;
    let rule = json!({ "trigger": "EVERY_N_CONVERSIONS", "everyN": 2, "reward": { "kind": "CASH_BONUS", "cashAmount": "5.00" } });
    let id =
        app.ok(admin, RULE, json!({ "o": shop.code_offer, "i": rule })).await["createRewardRule"]["rule"]["id"].clone();
    let update = "mutation($i: UpdateRewardRuleInput!) { updateRewardRule(input: $i) { rule { trigger everyN rewardKind cashAmount description email { subject body } } } }";
    let changed = app
        .ok(
            admin,
            update,
            json!({ "i": { "id": id, "reward": { "kind": "FREE_PRODUCT", "description": "Socks" },
                           "email": { "subject": "Socks!", "body": "{{rewardDescription}} for {{memberName}}" } } }),
        )
        .await["updateRewardRule"]["rule"]
        .clone();
    assert_eq!(
        changed,
        json!({ "trigger": "EVERY_N_CONVERSIONS", "everyN": 2, "rewardKind": "FREE_PRODUCT", "cashAmount": null,
                "description": "Socks", "email": { "subject": "Socks!", "body": "{{rewardDescription}} for {{memberName}}" } })
    );
    // Back to cash while the rule still has a message: refused, nothing changes.
    let cash = json!({ "i": { "id": id, "reward": { "kind": "CASH_BONUS", "cashAmount": "5.00" } } });
    assert_eq!(app.error_code(Some(admin), update, cash).await, "BAD_USER_INPUT");
    let cleared = app.ok(admin, update, json!({ "i": { "id": id, "email": null } })).await;
    assert_eq!(cleared["updateRewardRule"]["rule"]["email"], json!(null));
    assert_eq!(cleared["updateRewardRule"]["rule"]["rewardKind"], "FREE_PRODUCT");
    for id in ["o-1", "o-2"] {
        app.ok(admin, RECORD, json!({ "id": id, "code": shop.promo_code }))
            .await;
    }
    let emails = emails_of(&app, admin, &shop.code_membership).await;
    assert_eq!(
        emails.len(),
        1,
        "the second conversion granted socks, announced by the default message"
    );
    assert!(emails[0]["body"].as_str().unwrap().contains("Socks"));
    assert_eq!(
        app.error_code(
            Some(admin),
            update,
            json!({ "i": { "id": "reward_rule_999", "email": null } })
        )
        .await,
        "NOT_FOUND"
    );
}
