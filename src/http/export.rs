//! CSV exports of the two KPI tables: `GET /export/offers.csv` and
//! `GET /export/offers/{id}/memberships.csv`, and the bulk-payout file of a payment.
//!
//! A table export reads the same report the GraphQL table shows (`app::reports`),
//! once, with the filter, range, search and sort in query parameters named like
//! the GraphQL arguments, and streams it out as CSV in chunks.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::error::RestError;
use super::graphql::{AuthFailure, authenticate};
use super::{AppState, ClientAddress};
use crate::app::records::OfferRow;
use crate::app::records::OrderLine;
use crate::app::reports::{self, MembershipLine, MembershipSelection, OfferSelection};
use crate::app::{AppError, Caller, payments, reads};
use crate::domain::currency::format_in;
use crate::domain::date_range::{DateRange, DateRangePreset};
use crate::domain::enums::{OfferStatus, OfferType, Role};
use crate::domain::ids::{ConversionId, OfferId, PaymentId, ProjectId};
use crate::domain::kpis::{Kpi, KpiValue, Kpis};
use crate::domain::money::{format_money, parse_amount};
use crate::domain::public_id;
use crate::domain::report::{Bound, Column, KpiBounds, Rows, SortDirection};
use crate::domain::validate::starts_like_a_formula;

/// What an export is charged against the key's query budget: about what the
/// GraphQL page of 100 rows with their KPIs costs.
pub const EXPORT_COST: u64 = 200;

/// Rows per streamed chunk.
const CHUNK_ROWS: usize = 500;

fn refuse(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    RestError::new(status, code, message).into_response()
}

fn bad_request(message: impl Into<String>) -> Response {
    refuse(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
}
pub async fn offers(
    State(state): State<AppState>,
    client: ClientAddress,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    export(state, client, headers, params, None).await
}

pub async fn memberships(
    State(state): State<AppState>,
    client: ClientAddress,
    Path(offer_id): Path<String>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    export(state, client, headers, params, Some(offer_id)).await
}

/// The orders export's columns: what each order was sold for in its own currency,
/// how it was valued, and its sale and commission in the brand's.
const ORDER_COLUMNS: [&str; 16] = [
    "Order",
    "Source",
    "Placed",
    "Offer",
    "Member",
    "Attribution",
    "Promo code",
    "Status",
    "Sold for",
    "Sold in",
    "Refunded (sold in)",
    "Exchange rate",
    "Rate date",
    "Rate source",
    "Sale",
    "Commission",
];

/// Orders read per page of the orders export.
const ORDER_PAGE: i64 = 1_000;

/// `GET /export/orders.csv[?preset=…|start=…&end=…]`: every order placed in the
/// range (the brand's days; default the last 6 months), attributed or not, page
/// by page as the body is read. Each row has both the order's own amount and
/// currency and its sale and commission in the brand's (named in the last column).
pub async fn orders(
    State(state): State<AppState>,
    client: ClientAddress,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let caller = match viewer_or_refusal(&state, client, &headers).await {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let range = match date_range(&params, &caller) {
        Ok(range) => range,
        Err(message) => return bad_request(message),
    };
    if let Some(refusal) = charge(&state, &caller) {
        return refusal;
    }
    let app = state.app.clone();
    let first = async {
        let mut conn = app.conn().await?;
        reads::order_lines(&mut conn, &caller, range, ConversionId(0), ORDER_PAGE).await
    };
    let first = match first.await {
        Ok(found) => found,
        Err(error) => return RestError::from(error).into_response(),
    };
    let mut header_row: Vec<String> = ORDER_COLUMNS.iter().map(|c| c.to_string()).collect();
    header_row.push("Currency".into());
    let header_row = Bytes::from(csv_rows(std::iter::once(header_row)));
    // Each next page is read once the one before is written.
    let pages = futures_util::stream::unfold(Some(first), move |page| {
        let app = app.clone();
        async move {
            let lines = page?;
            if lines.is_empty() {
                return None;
            }
            let full = lines.len() as i64 == ORDER_PAGE;
            let after = lines.last().map_or(ConversionId(0), |line| line.id);
            let chunk = Bytes::from(csv_rows(lines.iter().map(|line| order_cells(line, caller.time_zone))));
            let next = match full {
                false => Some(Vec::new()),
                true => {
                    let read = async {
                        let mut conn = app.conn().await?;
                        reads::order_lines(&mut conn, &caller, range, after, ORDER_PAGE).await
                    };
                    match read.await {
                        Ok(lines) => Some(lines),
                        Err(error) => {
                            tracing::error!(?error, "the orders export stopped");
                            return Some((Err(std::io::Error::other("the orders export stopped")), None));
                        }
                    }
                }
            };
            Some((Ok(chunk), next))
        }
    });
    let header = futures_util::stream::once(async { Ok::<_, std::io::Error>(header_row) });
    // Fused: the body may be polled again after its end.
    let body = futures_util::StreamExt::fuse(futures_util::StreamExt::chain(header, pages));
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"orders.csv\"".to_string(),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// One order's row: the order's own amounts in its minor unit, the brand's in cents.
fn order_cells(line: &OrderLine, zone: chrono_tz::Tz) -> Vec<String> {
    let sold_in = line.order_currency.as_deref().unwrap_or(&line.currency);
    let (sold_for, refunded) = match line.order_amount {
        Some(amount) => (amount, line.order_refunded),
        None => (line.original_sale_amount, line.original_sale_amount - line.sale_amount),
    };
    let optional = |text: &Option<String>| text.as_deref().map(safe_text).unwrap_or_default();
    vec![
        safe_text(&line.external_order_id),
        safe_text(&line.source),
        line.occurred_at
            .with_timezone(&zone)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        optional(&line.offer_name),
        optional(&line.member_name),
        line.attribution.clone().unwrap_or_default(),
        optional(&line.promo_code),
        line.status.clone(),
        format_in(sold_for, sold_in),
        sold_in.to_string(),
        format_in(refunded, sold_in),
        line.exchange_rate.unwrap_or(Decimal::ONE).normalize().to_string(),
        line.rate_published_on.map(|day| day.to_string()).unwrap_or_default(),
        line.rate_source.clone().unwrap_or_default(),
        format_money(line.sale_amount),
        format_money(line.commission),
        line.currency.clone(),
    ]
}

/// The caller a bearer key names, or the 401/503 to answer with.
async fn viewer_or_refusal(state: &AppState, client: ClientAddress, headers: &HeaderMap) -> Result<Caller, Response> {
    match authenticate(state, client, headers).await {
        Ok(Some(viewer)) => Ok(viewer),
        Ok(None) | Err(AuthFailure::BadKey) => Err(refuse(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "send `Authorization: Bearer <key>`",
        )),
        Err(AuthFailure::TooManyFailures(throttled)) => Err(RestError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "THROTTLED",
            "too many invalid API keys from this address; try again later",
        )
        .with_retry_after(throttled.retry_after_secs())
        .into_response()),
        Err(AuthFailure::Database(_)) => Err(refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "try again shortly",
        )),
    }
}

/// `GET /export/payments/{payment_id}.csv[?part=N]`: the payment's items as a PayPal
/// bulk-payout file, for brands that pay outside (the `MANUAL` provider). PayPal's
/// format: no header row; recipient (email or phone, as given), amount and
/// currency (the member's payout currency, in its minor unit),
/// reference id, note, wallet; at most 5,000 rows, so a larger payment has parts
/// 2, 3… (`Payment.payoutFileUrls`). Admin keys only: it holds payout addresses.
pub async fn payment(
    State(state): State<AppState>,
    client: ClientAddress,
    Path(file): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let viewer = match viewer_or_refusal(&state, client, &headers).await {
        Ok(viewer) => viewer,
        Err(refusal) => return refusal,
    };
    if viewer.role != Role::Admin {
        return refuse(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "only admin keys may download payout files",
        );
    }
    let Some(id) = file
        .strip_suffix(".csv")
        .and_then(|name| public_id::parse::<PaymentId>(name).ok())
    else {
        return refuse(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "expected /export/payments/payment_<n>.csv",
        );
    };
    let Some(part) = params.get("part").map_or(Some(1), |part| part.parse::<usize>().ok()) else {
        return refuse(StatusCode::BAD_REQUEST, "BAD_REQUEST", "part is a file number: 1, 2…");
    };
    let lines = async {
        let mut conn = state.app.conn().await?;
        payments::payout_file(&mut conn, viewer.brand_id, id, part).await
    };
    let lines = match lines.await {
        Ok(Some(lines)) => lines,
        Ok(None) => return refuse(StatusCode::NOT_FOUND, "NOT_FOUND", "no such payment or file part"),
        Err(error) => return RestError::from(error).into_response(),
    };
    let rows = lines.into_iter().map(|line| {
        vec![
            safe_recipient(&line.recipient),
            format_in(line.amount, &line.currency),
            line.currency,
            line.item_id.to_string(),
            safe_text(&format!("Commission from {}", line.brand_name)),
            "PAYPAL".to_string(),
        ]
    });
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                match part {
                    1 => format!("attachment; filename=\"{id}.csv\""),
                    part => format!("attachment; filename=\"{id}-part-{part}.csv\""),
                },
            ),
        ],
        csv_rows(rows),
    )
        .into_response()
}

/// Everything a table export was asked for.
struct TableRequest {
    range: DateRange,
    search: Option<String>,
    bounds: KpiBounds,
    sort: (Column, SortDirection),
    columns: Vec<Column>,
}

fn parse_list<T>(
    params: &HashMap<String, String>,
    key: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<Vec<T>>, String> {
    let Some(values) = list(params, key) else {
        return Ok(None);
    };
    let parsed = values
        .iter()
        .map(|value| parse(value).ok_or_else(|| format!("{key}: '{value}' is not one of its values")))
        .collect::<Result<_, _>>()?;
    Ok(Some(parsed))
}

/// `clicksMin=10&salesMax=500.00` and the like: the GraphQL KPI ranges, flattened.
fn bounds_from(params: &HashMap<String, String>) -> Result<KpiBounds, String> {
    let mut bounds = Vec::new();
    for (field, kpi) in Kpi::ALL.iter().filter_map(|kpi| Some((kpi.filter_name()?, *kpi))) {
        let mut bound = Bound::default();
        for (suffix, end) in [("Min", &mut bound.min), ("Max", &mut bound.max)] {
            let key = format!("{field}{suffix}");
            let Some(value) = params.get(&key) else { continue };
            *end = Some(match kpi.of(&Kpis::default()) {
                KpiValue::Count(_) => Decimal::from(
                    value
                        .parse::<i64>()
                        .map_err(|_| format!("{key} must be a whole number"))?,
                ),
                _ => parse_amount(value).map_err(|e| format!("{key}: {e}"))?,
            });
        }
        if bound != Bound::default() {
            bounds.push((kpi, bound));
        }
    }
    Ok(KpiBounds(bounds))
}

fn date_param(params: &HashMap<String, String>, key: &str) -> Result<Option<NaiveDate>, String> {
    params
        .get(key)
        .map(|text| {
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| format!("{key} must be a date like 2026-01-31"))?;
            if !(crate::domain::date_range::FIRST_DATE..=crate::domain::date_range::LAST_DATE).contains(&date) {
                return Err(format!("{key} must be between 2000-01-01 and 2100-12-31"));
            }
            Ok(date)
        })
        .transpose()
}

/// `preset`, or `start` and `end`, as the GraphQL `DateRangeInput` reads them.
fn date_range(params: &HashMap<String, String>, caller: &Caller) -> Result<DateRange, String> {
    let preset = params
        .get("preset")
        .map(|name| DateRangePreset::parse(name).ok_or_else(|| format!("preset: '{name}' is not a preset")))
        .transpose()?;
    DateRange::resolve(
        preset,
        date_param(params, "start")?,
        date_param(params, "end")?,
        caller.today(),
    )
    .map_err(|e| format!("dateRange: {e}"))
}

fn table_request(params: &HashMap<String, String>, caller: &Caller) -> Result<TableRequest, String> {
    let range = date_range(params, caller)?;
    let column = match params.get("sort") {
        Some(name) => Column::parse(name).ok_or_else(|| format!("sort: unknown column '{name}'"))?,
        None => Column::CreatedAt,
    };
    let direction = match params.get("direction").map(String::as_str) {
        None | Some("DESC") => SortDirection::Desc,
        Some("ASC") => SortDirection::Asc,
        Some(other) => return Err(format!("direction: '{other}' is not ASC or DESC")),
    };
    let columns = match list(params, "columns") {
        None => Column::all().collect(),
        Some(names) if names.is_empty() => return Err("columns is empty".into()),
        Some(names) => names
            .iter()
            .map(|name| Column::parse(name).ok_or_else(|| format!("unknown column '{name}'")))
            .collect::<Result<_, _>>()?,
    };
    Ok(TableRequest {
        range,
        search: params
            .get("search")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        bounds: bounds_from(params)?,
        sort: (column, direction),
        columns,
    })
}

/// Charges the export to the key's budget; the 429 to answer when it is spent.
fn charge(state: &AppState, caller: &Caller) -> Option<Response> {
    let budget = state.surface.query_budget.as_ref()?;
    budget
        .take(&format!("key:{}", caller.api_key_id), EXPORT_COST)
        .err()
        .map(|throttled| {
            state.metrics().throttled.inc();
            let mut response = refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "THROTTLED",
                format!("this key's query budget is spent; an export costs {EXPORT_COST} points"),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, throttled.retry_after_secs().into());
            response
        })
}

async fn export(
    state: AppState,
    client: ClientAddress,
    headers: HeaderMap,
    params: HashMap<String, String>,
    offer_id: Option<String>,
) -> Response {
    let caller = match viewer_or_refusal(&state, client, &headers).await {
        Ok(caller) => caller,
        Err(refusal) => return refusal,
    };
    let request = match table_request(&params, &caller) {
        Ok(request) => request,
        Err(message) => return bad_request(message),
    };
    let offer_id = match offer_id.as_deref().map(public_id::parse::<OfferId>).transpose() {
        Ok(id) => id,
        Err(e) => return bad_request(e.to_string()),
    };
    // The offers table's own filters; a member table has none of them.
    let selection = match offer_id.is_none().then(|| offer_selection(&params)).transpose() {
        Ok(selection) => selection,
        Err(message) => return bad_request(message),
    };
    if let Some(refusal) = charge(&state, &caller) {
        return refusal;
    }
    let rows = async {
        let mut conn = state.app.conn().await?;
        let (mut report_conn, _) = state.app.report_reads(caller.brand_id).conn().await?;
        let rows: Vec<Vec<String>> = match offer_id {
            None => {
                let selection = OfferSelection {
                    search: request.search.clone(),
                    bounds: request.bounds.clone(),
                    ..selection.unwrap_or_default()
                };
                let report =
                    reports::offer_report(&mut conn, &mut report_conn, &caller, &selection, request.range).await?;
                let mut offers = report.offers;
                reports::sort_offers(&mut offers, request.sort.0, request.sort.1, caller.today())?;
                let today = caller.today();
                offers
                    .iter()
                    .map(|(offer, kpis)| {
                        request
                            .columns
                            .iter()
                            .map(|&c| offer_cell(c, offer, kpis, today))
                            .collect()
                    })
                    .collect()
            }
            Some(offer_id) => {
                let selection = MembershipSelection {
                    active: params.get("active").map(|active| active == "true"),
                    removed: params.get("removed").map(|removed| removed == "true"),
                    search: request.search.clone(),
                    bounds: request.bounds.clone(),
                };
                let (offer, lines) = reports::membership_report(
                    &mut conn,
                    &mut report_conn,
                    &caller,
                    offer_id,
                    &selection,
                    request.range,
                    request.sort,
                )
                .await?;
                let link_base = state.app.public_url().trim_end_matches('/');
                lines
                    .iter()
                    .map(|line| {
                        request
                            .columns
                            .iter()
                            .map(|&c| membership_cell(c, line, &offer, link_base))
                            .collect()
                    })
                    .collect()
            }
        };
        Ok::<_, AppError>(rows)
    };
    let rows: Vec<Vec<String>> = match rows.await {
        Ok(rows) => rows,
        Err(error) => return RestError::from(error).into_response(),
    };
    let name = if offer_id.is_some() {
        "memberships.csv"
    } else {
        "offers.csv"
    };
    let listed = if offer_id.is_some() {
        Rows::Memberships
    } else {
        Rows::Offers
    };
    let header_row = csv_rows(std::iter::once(
        request.columns.iter().map(|c| c.label(listed)).collect(),
    ));
    // Each chunk is written as the body is read, from rows not yet written.
    let mut rows = rows.into_iter().peekable();
    let chunks = std::iter::from_fn(move || rows.peek().is_some().then(|| csv_rows(rows.by_ref().take(CHUNK_ROWS))));
    let body = std::iter::once(header_row).chain(chunks);
    let stream = futures_util::stream::iter(body.map(|chunk| Ok::<_, std::io::Error>(Bytes::from(chunk))));
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// The offers table's status, type and project filters.
fn offer_selection(params: &HashMap<String, String>) -> Result<OfferSelection, String> {
    let mut selection = OfferSelection::default();
    if let Some(statuses) = parse_list(params, "statuses", OfferStatus::parse)? {
        selection.statuses = statuses;
    }
    selection.types = parse_list(params, "types", OfferType::parse)?;
    selection.project_ids = parse_list(params, "projectIds", |id| public_id::parse::<ProjectId>(id).ok())?;
    Ok(selection)
}

fn kpi_cell(value: KpiValue) -> String {
    match value {
        KpiValue::Count(count) => count.to_string(),
        KpiValue::Amount(amount) => format_money(amount),
        KpiValue::Ratio(ratio) => ratio.map(format_money).unwrap_or_default(),
    }
}

fn offer_cell(column: Column, offer: &OfferRow, kpis: &Kpis, today: NaiveDate) -> String {
    match column {
        Column::Name => safe_text(&offer.name),
        Column::Type => offer.offer_type.as_str().to_string(),
        Column::Status => reports::effective_status(offer, today).as_str().to_string(),
        Column::PromoCode | Column::TrackingUrl => String::new(),
        Column::CreatedAt => offer.created_at.to_rfc3339(),
        Column::Kpi(kpi) => kpi_cell(kpi.of(kpis)),
    }
}

fn membership_cell(column: Column, line: &MembershipLine, offer: &OfferRow, link_base: &str) -> String {
    match column {
        Column::Name => safe_text(&line.member_name),
        Column::Type => offer.offer_type.as_str().to_string(),
        Column::Status => line.status().to_string(),
        Column::PromoCode => safe_text(line.promo_code.as_deref().unwrap_or_default()),
        Column::TrackingUrl => line
            .membership
            .link_code
            .as_ref()
            .map(|code| safe_text(&format!("{link_base}/r/{code}")))
            .unwrap_or_default(),
        Column::CreatedAt => line.membership.joined_at.to_rfc3339(),
        Column::Kpi(kpi) => kpi_cell(kpi.of(&line.kpis)),
    }
}

fn csv_rows(rows: impl Iterator<Item = Vec<String>>) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.write_record(&row).expect("writing CSV to memory cannot fail");
    }
    writer.into_inner().expect("flushing CSV to memory cannot fail")
}

/// Text a spreadsheet would run as a formula gets a leading apostrophe.
/// Text a spreadsheet shows as text: one that could start a formula gets a `'`.
fn safe_text(text: &str) -> String {
    if starts_like_a_formula(text) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

/// A payout file's recipient: a phone number (`+` and digits only, which PayPal
/// needs as written and no spreadsheet can run) goes as it is, anything else is
/// made safe like any text (addresses stored before emails were checked for it).
fn safe_recipient(recipient: &str) -> String {
    let is_phone = recipient
        .strip_prefix('+')
        .is_some_and(|digits| !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()));
    if is_phone {
        recipient.to_string()
    } else {
        safe_text(recipient)
    }
}

fn list(params: &HashMap<String, String>, key: &str) -> Option<Vec<String>> {
    params.get(key).map(|v| {
        v.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    })
}
