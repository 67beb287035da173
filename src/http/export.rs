//! CSV exports of the two KPI tables: `GET /export/offers.csv` and
//! `GET /export/offers/{id}/memberships.csv`.
//!
//! Each export runs the GraphQL field it mirrors (`offers`, `offer.memberships`)
//! page by page and streams every page out as CSV as soon as it is computed, so
//! the filter, range, search and sort mean exactly what they mean in GraphQL and
//! a large export never sits in memory whole.

use std::collections::HashMap;

use async_graphql::resolver_utils::EnumType;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use super::AppState;
use super::error::RestError;
use super::graphql::{AuthFailure, authenticate};
use crate::app::payments;
use crate::db::DbError;
use crate::domain::enums::Role;
use crate::domain::public_id;
use crate::graphql::authorize;
use crate::graphql::columns::TableColumn;
use crate::graphql::context::Caller;
use crate::graphql::ids::{Kind, decode};
use crate::graphql::limits::RateSubject;

const PAGE: i64 = 100;

fn refuse(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    RestError::new(status, code, message).into_response()
}

pub async fn offers(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    export(state, headers, params, None).await
}

pub async fn memberships(
    State(state): State<AppState>,
    Path(offer_id): Path<String>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    export(state, headers, params, Some(offer_id)).await
}

/// The caller a bearer key names, or the 401/503 to answer with.
async fn viewer_or_refusal(state: &AppState, headers: &HeaderMap) -> Result<Caller, Response> {
    match authenticate(&state.pool, headers).await {
        Ok(Some(viewer)) => Ok(viewer),
        Ok(None) | Err(AuthFailure::BadKey) => Err(refuse(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "send `Authorization: Bearer <key>`",
        )),
        Err(AuthFailure::Database(_)) => Err(refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "try again shortly",
        )),
    }
}

/// PayPal's bulk-payout columns, in its order.
const PAYOUT_COLUMNS: [&str; 6] = [
    "Email/Phone",
    "Amount",
    "Currency code",
    "Reference ID",
    "Note to recipient",
    "Recipient wallet",
];

/// `GET /export/payments/{payment_id}.csv`: the payment's items as a PayPal bulk-payout
/// file, for brands that pay outside (the `MANUAL` provider). Admin keys only: it
/// holds members' payout addresses.
pub async fn payment(State(state): State<AppState>, Path(file): Path<String>, headers: HeaderMap) -> Response {
    let viewer = match viewer_or_refusal(&state, &headers).await {
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
        .and_then(|name| decode(Kind::Payment, &async_graphql::ID(name.to_string())).ok())
    else {
        return refuse(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "expected /export/payments/payment_<n>.csv",
        );
    };
    let lines = async {
        let mut conn = state.pool.get().await.map_err(DbError::from)?;
        payments::payout_file(&mut conn, viewer.brand_id, id).await
    };
    let lines = match lines.await {
        Ok(Some(lines)) => lines,
        Ok(None) => return refuse(StatusCode::NOT_FOUND, "NOT_FOUND", "payment not found"),
        Err(error) => return RestError::from(error).into_response(),
    };
    let header_row = PAYOUT_COLUMNS.iter().map(|c| c.to_string()).collect();
    let rows = lines.into_iter().map(|line| {
        vec![
            safe_text(&line.recipient),
            line.amount.to_string(),
            line.currency,
            public_id::format(Kind::PaymentItem, line.item_id),
            safe_text(&format!("Commission from {}", line.brand_name)),
            "PAYPAL".to_string(),
        ]
    });
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}.csv\"", public_id::format(Kind::Payment, id)),
            ),
        ],
        csv_rows(std::iter::once(header_row).chain(rows)),
    )
        .into_response()
}

/// Everything an export needs to run one page after another.
struct Export {
    state: AppState,
    viewer: Caller,
    query: String,
    variables: Map<String, Value>,
    columns: Vec<TableColumn>,
    offer_id: Option<String>,
}

async fn export(
    state: AppState,
    headers: HeaderMap,
    params: HashMap<String, String>,
    offer_id: Option<String>,
) -> Response {
    let viewer = match viewer_or_refusal(&state, &headers).await {
        Ok(viewer) => viewer,
        Err(refusal) => return refusal,
    };
    let (variables, columns) = match variables_from(&params, offer_id.is_some()) {
        Ok(parsed) => parsed,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, "BAD_REQUEST", message),
    };
    let query = match &offer_id {
        None => "query($first: Int, $after: String, $search: String, $filter: OfferFilter, $dateRange: DateRangeInput, $sort: OfferSort) {
            page: offers(first: $first, after: $after, search: $search, filter: $filter, dateRange: $dateRange, sort: $sort) {
                edges { node { name type status createdAt kpis { ...Figures } } } pageInfo { hasNextPage endCursor } } }",
        Some(_) => "query($offer: ID!, $first: Int, $after: String, $search: String, $filter: MembershipFilter, $dateRange: DateRangeInput, $sort: MembershipSort) {
            offer(id: $offer) { type status
              page: memberships(first: $first, after: $after, search: $search, filter: $filter, dateRange: $dateRange, sort: $sort) {
                edges { node { member { name } active promoCode trackingUrl joinedAt kpis(dateRange: $dateRange) { ...Figures } } } pageInfo { hasNextPage endCursor } } } }",
    };
    let query = format!(
        "{query} fragment Figures on Kpis {{ members membersWithConversions conversions clicks totalSales salesPerMember commissionsEarned averageCommissionPerMember paymentsDue membersWithPaymentsDue payouts averageSale }}"
    );
    let name = if offer_id.is_some() {
        "memberships.csv"
    } else {
        "offers.csv"
    };
    let export = Export {
        state,
        viewer,
        query,
        variables,
        columns,
        offer_id,
    };
    // The first page runs before answering, so a bad filter or id is a 4xx, not a broken download.
    let first = match export.page(None).await {
        Ok(first) => first,
        Err(PageError {
            code,
            message,
            retry_after,
        }) => {
            let status = match code.as_str() {
                "NOT_FOUND" => StatusCode::NOT_FOUND,
                "THROTTLED" => StatusCode::TOO_MANY_REQUESTS,
                "UNAVAILABLE" => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            };
            let mut response = refuse(status, &code, message);
            if let Some(seconds) = retry_after {
                response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
            }
            return response;
        }
    };
    let header_row = csv_rows(std::iter::once(export.columns.iter().map(|c| label(*c)).collect()));
    let mut body = header_row;
    body.extend(export.rows(&first.0));
    // Fused: the compression layer may poll once more after the end.
    let stream = futures_util::stream::unfold((Some(body), first.1, export), |(ready, cursor, export)| async move {
        if let Some(chunk) = ready {
            return Some((Ok::<_, std::io::Error>(Bytes::from(chunk)), (None, cursor, export)));
        }
        let after = cursor?;
        match export.page(Some(after)).await {
            Ok((nodes, next)) => {
                let chunk = export.rows(&nodes);
                Some((Ok(Bytes::from(chunk)), (None, next, export)))
            }
            Err(error) => Some((Err(std::io::Error::other(error.message)), (None, None, export))),
        }
    })
    .fuse();
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Why a page of an export failed, as the GraphQL error said it.
struct PageError {
    code: String,
    message: String,
    retry_after: Option<u64>,
}

impl Export {
    /// One page of nodes and the cursor of the next page, if any. The first page is
    /// charged to the key's budget: an export costs what its first page costs, and a
    /// download under way is never cut off by the rate limit.
    async fn page(&self, after: Option<String>) -> Result<(Vec<Value>, Option<String>), PageError> {
        let mut variables = self.variables.clone();
        variables.insert("first".into(), json!(PAGE));
        variables.insert("after".into(), json!(after));
        if let Some(offer) = &self.offer_id {
            variables.insert("offer".into(), json!(offer));
        }
        let first_page = after.is_none();
        let mut request = async_graphql::Request::new(self.query.clone())
            .variables(async_graphql::Variables::from_json(Value::Object(variables)));
        if first_page {
            request = request.data(RateSubject(format!("key:{}", self.viewer.api_key_id)));
        }
        let response = self
            .state
            .schema
            .execute(authorize(
                request,
                self.viewer,
                &self.state.pool,
                &self.state.report_pool,
            ))
            .await;
        if let Some(error) = response.errors.first() {
            let extension = |name: &str| error.extensions.as_ref().and_then(|e| e.get(name)).cloned();
            let code = extension("code").map(|c| c.to_string().trim_matches('"').to_string());
            let retry_after = extension("retryAfter").and_then(|v| v.to_string().parse().ok());
            return Err(PageError {
                code: code.unwrap_or_else(|| "BAD_REQUEST".into()),
                message: error.message.clone(),
                retry_after,
            });
        }
        let data = response.data.into_json().map_err(|e| PageError {
            code: "INTERNAL".into(),
            message: e.to_string(),
            retry_after: None,
        })?;
        let page = if self.offer_id.is_some() {
            &data["offer"]["page"]
        } else {
            &data["page"]
        };
        let mut nodes: Vec<Value> = page["edges"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e["node"].clone())
            .collect();
        if self.offer_id.is_some() {
            for node in &mut nodes {
                node["type"] = data["offer"]["type"].clone();
            }
        }
        let next = (page["pageInfo"]["hasNextPage"] == true)
            .then(|| page["pageInfo"]["endCursor"].as_str().unwrap_or_default().to_string());
        Ok((nodes, next))
    }

    fn rows(&self, nodes: &[Value]) -> Vec<u8> {
        csv_rows(
            nodes
                .iter()
                .map(|node| self.columns.iter().map(|c| cell(*c, node)).collect()),
        )
    }
}

fn csv_rows(rows: impl Iterator<Item = Vec<String>>) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.write_record(&row).expect("writing CSV to memory cannot fail");
    }
    writer.into_inner().expect("flushing CSV to memory cannot fail")
}

/// `COMMISSIONS_EARNED` → `Commissions Earned`.
fn label(column: TableColumn) -> String {
    column
        .schema_name()
        .split('_')
        .map(|word| word[..1].to_string() + &word[1..].to_lowercase())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Text a spreadsheet would run as a formula gets a leading apostrophe.
fn safe_text(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

fn plain(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn cell(column: TableColumn, node: &Value) -> String {
    let kpi = |field: &str| plain(&node["kpis"][field]);
    match column {
        TableColumn::Name => safe_text(
            node["name"]
                .as_str()
                .or(node["member"]["name"].as_str())
                .unwrap_or_default(),
        ),
        TableColumn::Type => plain(&node["type"]),
        TableColumn::Status => match node.get("active") {
            Some(Value::Bool(active)) => if *active { "ACTIVE" } else { "INACTIVE" }.to_string(),
            _ => plain(&node["status"]),
        },
        TableColumn::PromoCode => safe_text(node["promoCode"].as_str().unwrap_or_default()),
        TableColumn::TrackingUrl => safe_text(node["trackingUrl"].as_str().unwrap_or_default()),
        TableColumn::CreatedAt => plain(node.get("createdAt").unwrap_or(&node["joinedAt"])),
        TableColumn::Members => kpi("members"),
        TableColumn::MembersWithConversions => kpi("membersWithConversions"),
        TableColumn::Conversions => kpi("conversions"),
        TableColumn::Clicks => kpi("clicks"),
        TableColumn::TotalSales => kpi("totalSales"),
        TableColumn::SalesPerMember => kpi("salesPerMember"),
        TableColumn::CommissionsEarned => kpi("commissionsEarned"),
        TableColumn::AverageCommissionPerMember => kpi("averageCommissionPerMember"),
        TableColumn::PaymentsDue => kpi("paymentsDue"),
        TableColumn::MembersWithPaymentsDue => kpi("membersWithPaymentsDue"),
        TableColumn::Payouts => kpi("payouts"),
        TableColumn::AverageSale => kpi("averageSale"),
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

/// Query parameters → the GraphQL variables and the chosen columns. Values are
/// passed through as GraphQL input, so GraphQL validates them.
fn variables_from(
    params: &HashMap<String, String>,
    memberships: bool,
) -> Result<(Map<String, Value>, Vec<TableColumn>), String> {
    let mut variables = Map::new();
    if let Some(search) = params.get("search") {
        variables.insert("search".into(), json!(search));
    }
    let mut filter = Map::new();
    let lists: &[(&str, &str)] = if memberships {
        &[]
    } else {
        &[
            ("statuses", "statuses"),
            ("types", "types"),
            ("projectIds", "projectIds"),
        ]
    };
    for (param, field) in lists {
        if let Some(values) = list(params, param) {
            filter.insert((*field).into(), json!(values));
        }
    }
    if memberships && let Some(active) = params.get("active") {
        filter.insert("active".into(), json!(active == "true"));
    }
    for (field, is_count) in [
        ("clicks", true),
        ("conversions", true),
        ("sales", false),
        ("commissionsEarned", false),
        ("payouts", false),
        ("averageSale", false),
    ] {
        let mut range = Map::new();
        for bound in ["min", "max"] {
            let key = format!("{field}{}", if bound == "min" { "Min" } else { "Max" });
            if let Some(value) = params.get(&key) {
                let value = if is_count {
                    json!(
                        value
                            .parse::<i64>()
                            .map_err(|_| format!("{key} must be a whole number"))?
                    )
                } else {
                    json!(value)
                };
                range.insert(bound.into(), value);
            }
        }
        if !range.is_empty() {
            filter.insert(field.into(), Value::Object(range));
        }
    }
    if !filter.is_empty() {
        variables.insert("filter".into(), Value::Object(filter));
    }
    let mut range = Map::new();
    for key in ["preset", "start", "end"] {
        if let Some(value) = params.get(key) {
            range.insert(key.into(), json!(value));
        }
    }
    if !range.is_empty() {
        variables.insert("dateRange".into(), Value::Object(range));
    }
    if let Some(field) = params.get("sort") {
        let direction = params.get("direction").map_or("DESC", String::as_str);
        variables.insert("sort".into(), json!({ "field": field, "direction": direction }));
    }
    let all: Vec<TableColumn> = TableColumn::items().iter().map(|item| item.value).collect();
    let columns = match list(params, "columns") {
        None => all,
        Some(names) if names.is_empty() => return Err("columns is empty".into()),
        Some(names) => names
            .iter()
            .map(|name| {
                all.iter()
                    .copied()
                    .find(|c| c.schema_name() == name)
                    .ok_or_else(|| format!("unknown column '{name}'"))
            })
            .collect::<Result<_, _>>()?,
    };
    Ok((variables, columns))
}
