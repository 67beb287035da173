//! Enumerations read back from the database: a spelling the code does not know is
//! an error that names it, never a substitute (an unknown offer status once read
//! as ARCHIVED, an unknown reward kind as FREE_PRODUCT).

use axum::http::StatusCode;
use diesel_async::SimpleAsyncConnection;
use serde_json::json;

use crate::common::TestApp;

const ALL_OFFERS: &str =
    "{ offers(filter: { statuses: [ACTIVE, PAUSED, EXPIRED, ARCHIVED] }) { edges { node { name status } } } }";

#[tokio::test]
async fn an_unknown_stored_status_is_an_error_not_a_guess() {
    let app = TestApp::new().await;
    let brand = app.brand("Odd Co").await;
    let mut conn = app.db.connect().await;
    conn.batch_execute(&format!(
        "INSERT INTO offers (brand_id, name, offer_type, destination_url, payout_type, payout_percent, starts_on)
         VALUES ({b}, 'Odd', 'SALES_LINK', 'https://x.example.com', 'PERCENT_OF_SALE', 10, current_date)",
        b = brand.id.0
    ))
    .await
    .unwrap();
    let listed = app.ok(&brand.admin, ALL_OFFERS, json!({})).await;
    assert_eq!(listed["offers"]["edges"][0]["node"]["status"], "ACTIVE");

    // A value no release of the code writes, as a newer or a broken writer might leave.
    conn.batch_execute(&format!(
        "ALTER TABLE offers DROP CONSTRAINT offers_status_check;
         UPDATE offers SET status = 'RETIRED' WHERE brand_id = {b}",
        b = brand.id.0
    ))
    .await
    .unwrap();
    // Not even a list that never shows the status may guess it.
    let archived = "{ offers(filter: { statuses: [ARCHIVED] }) { edges { node { name } } } }";
    assert_eq!(
        app.error_code(Some(&brand.admin), archived, json!({})).await,
        "INTERNAL"
    );
    assert_eq!(
        app.error_code(Some(&brand.admin), ALL_OFFERS, json!({})).await,
        "INTERNAL"
    );
    let (status, _, body) = app.get_as(&brand.admin, "/export/offers.csv?statuses=ARCHIVED").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(body.contains("\"INTERNAL\""), "{body}");
    assert!(
        !body.contains("RETIRED"),
        "the database's words stay in the log: {body}"
    );
}

/// The spellings the code writes are exactly those the CHECK constraints allow.
#[tokio::test]
async fn stored_enum_spellings_match_the_check_constraints() {
    use sales_tracking::domain::enums::{AttributionType, JobKind, JobStatus, LedgerKind, WebhookDeliveryStatus};
    let app = TestApp::new().await;
    let mut conn = app.db.connect().await;
    for (constraint, spellings) in [
        (
            "ledger_entries_kind_check",
            LedgerKind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        ),
        (
            "conversions_attribution_check",
            AttributionType::ALL.iter().map(|a| a.as_str()).collect(),
        ),
        ("jobs_kind_check", JobKind::ALL.iter().map(|k| k.as_str()).collect()),
        ("jobs_status_check", JobStatus::ALL.iter().map(|s| s.as_str()).collect()),
        (
            "event_deliveries_status_check",
            WebhookDeliveryStatus::ALL.iter().map(|s| s.as_str()).collect(),
        ),
    ] {
        #[derive(diesel::QueryableByName)]
        struct Definition {
            #[diesel(sql_type = diesel::sql_types::Text)]
            definition: String,
        }
        let found: Definition = diesel_async::RunQueryDsl::get_result(
            diesel::sql_query(format!(
                "SELECT pg_get_constraintdef(oid) AS definition FROM pg_constraint WHERE conname = '{constraint}'"
            )),
            &mut conn,
        )
        .await
        .unwrap_or_else(|e| panic!("{constraint}: {e}"));
        let mut allowed: Vec<&str> = found.definition.split('\'').skip(1).step_by(2).collect();
        allowed.sort();
        let mut written = spellings.clone();
        written.sort();
        assert_eq!(allowed, written, "{constraint}: {}", found.definition);
    }
}
