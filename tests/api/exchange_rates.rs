//! Reference exchange rates from a stand-in of the ECB's `eurofxref` XML: kept by
//! the rates job, used for weekends and holidays from the business day before,
//! and crossed through the euro.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::common::TestApp;

/// What the stand-in publishes: its status and its XML.
type Publication = Arc<Mutex<(StatusCode, String)>>;

/// A local server answering like `https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist-90d.xml`.
async fn ecb_stand_in(publication: Publication) -> String {
    async fn serve(State(publication): State<Publication>) -> impl IntoResponse {
        let (status, body) = publication.lock().unwrap().clone();
        (status, [("content-type", "text/xml")], body)
    }
    let router = axum::Router::new()
        .route("/stats/eurofxref/eurofxref-hist-90d.xml", axum::routing::get(serve))
        .with_state(publication);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}/stats/eurofxref/eurofxref-hist-90d.xml")
}

/// The ECB's document shape, newest day first, for `days` of `(day, [(currency, rate)])`.
pub fn eurofxref(days: &[(&str, &[(&str, &str)])]) -> String {
    let cubes: String = days
        .iter()
        .map(|(day, rates)| {
            let rates: String = rates
                .iter()
                .map(|(currency, rate)| format!("\n\t\t\t<Cube currency='{currency}' rate='{rate}'/>"))
                .collect();
            format!("\n\t\t<Cube time='{day}'>{rates}\n\t\t</Cube>")
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<gesmes:Envelope xmlns:gesmes=\"http://www.gesmes.org/xml/2002-08-01\" \
         xmlns=\"http://www.ecb.int/vocabulary/2002-08-01/eurofxref\">\n\t<gesmes:subject>Reference rates</gesmes:subject>\n\t\
         <gesmes:Sender>\n\t\t<gesmes:name>European Central Bank</gesmes:name>\n\t</gesmes:Sender>\n\t<Cube>{cubes}\n\t</Cube>\n</gesmes:Envelope>"
    )
}

/// The application on a fresh database, fetching rates every second from a stand-in
/// publishing `days`; the publication can be changed afterwards.
pub async fn app_with_rates(days: &[(&str, &[(&str, &str)])]) -> (TestApp, Publication) {
    app_with_rates_and(days, sales_tracking::AppConfig::default()).await
}

/// `app_with_rates` on top of `config`.
pub async fn app_with_rates_and(
    days: &[(&str, &[(&str, &str)])],
    config: sales_tracking::AppConfig,
) -> (TestApp, Publication) {
    let publication: Publication = Arc::new(Mutex::new((StatusCode::OK, eurofxref(days))));
    let url = ecb_stand_in(publication.clone()).await;
    let app = TestApp::with_config(sales_tracking::AppConfig {
        rates_url: Some(url),
        rates_every: Duration::from_secs(1),
        ..config
    })
    .await;
    (app, publication)
}

const RATE: &str = "query($f: String!, $t: String!, $on: Date) { exchangeRate(from: $f, to: $t, on: $on) { from to rate on publishedOn source } }";

async fn rate(app: &TestApp, key: &str, from: &str, to: &str, on: &str) -> Value {
    app.ok(key, RATE, json!({ "f": from, "t": to, "on": on })).await["exchangeRate"].clone()
}

pub async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < Duration::from_secs(20), "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn d(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rates_are_fetched_kept_and_used_for_weekends_and_cross_currencies() {
    // Thursday 3 and Friday 4 December 2026; the weekend has no rates.
    let friday: &[(&str, &str)] = &[("USD", "1.0512"), ("GBP", "0.83125"), ("JPY", "157.23")];
    let thursday: &[(&str, &str)] = &[("USD", "1.0498"), ("GBP", "0.83010"), ("JPY", "156.90")];
    let (app, publication) = app_with_rates(&[("2026-12-04", friday), ("2026-12-03", thursday)]).await;
    let brand = app.brand("Rates Co").await;
    let key = brand.analyst.as_str();

    // The job fetches at start.
    eventually("Friday's rates kept", async || {
        !rate(&app, key, "USD", "GBP", "2026-12-04").await.is_null()
    })
    .await;
    let on_friday = rate(&app, key, "USD", "GBP", "2026-12-04").await;
    let cross = (d("0.83125") / d("1.0512")).normalize().to_string();
    assert_eq!(
        on_friday,
        json!({ "from": "USD", "to": "GBP", "rate": cross, "on": "2026-12-04", "publishedOn": "2026-12-04", "source": "ECB" }),
        "crossed through the euro at full precision"
    );
    // A Sunday uses Friday's; Thursday its own; the euro is quoted as published.
    let on_sunday = rate(&app, key, "USD", "GBP", "2026-12-06").await;
    assert_eq!(on_sunday["publishedOn"], "2026-12-04");
    assert_eq!(on_sunday["rate"], cross);
    assert_eq!(rate(&app, key, "EUR", "JPY", "2026-12-03").await["rate"], "156.9");
    assert_eq!(rate(&app, key, "JPY", "JPY", "2026-12-03").await["rate"], "1");
    // Before the first published day, or a currency not quoted: no rate.
    assert!(rate(&app, key, "USD", "GBP", "2026-12-02").await.is_null());
    assert!(rate(&app, key, "USD", "CHF", "2026-12-04").await.is_null());
    let refused = app
        .error_code(Some(key), RATE, json!({ "f": "usd", "t": "GBP", "on": "2026-12-04" }))
        .await;
    assert_eq!(refused, "BAD_USER_INPUT");

    // The source fails for a while: what was kept stays, and the job tries again.
    *publication.lock().unwrap() = (StatusCode::SERVICE_UNAVAILABLE, "maintenance".into());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rate(&app, key, "USD", "GBP", "2026-12-06").await["rate"], cross);
    // Monday is published: a later round keeps it, and Monday no longer uses Friday's.
    let monday: &[(&str, &str)] = &[("USD", "1.0600"), ("GBP", "0.84000"), ("JPY", "158.00")];
    *publication.lock().unwrap() = (
        StatusCode::OK,
        eurofxref(&[("2026-12-07", monday), ("2026-12-04", friday), ("2026-12-03", thursday)]),
    );
    eventually("Monday's rates kept", async || {
        rate(&app, key, "USD", "GBP", "2026-12-07").await["publishedOn"] == "2026-12-07"
    })
    .await;
    let mut conn = app.db.connect().await;
    assert_eq!(
        crate::common::count(&mut conn, "SELECT count(*) AS n FROM exchange_rates").await,
        9,
        "each day's rates once, however often fetched"
    );
}
