//! `GET /shopify/callback`: where Shopify sends a store's owner after they approve
//! the app. The query is signed by Shopify (`hmac`); it names the shop and carries
//! the `state` an admin's `startShopifyInstall` made, and a code for the token.

use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::RestError;
use crate::app::shopify::{self, InstallRefusal};

pub async fn callback(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let Ok(params) = serde_urlencoded::from_str::<Vec<(String, String)>>(query.as_deref().unwrap_or_default()) else {
        return RestError::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "the query is not a query string",
        )
        .into_response();
    };
    match shopify::complete_install(&state.app, &params).await {
        Ok(_) => {
            let dashboard = format!("{}/#/shopify", state.app.public_url().trim_end_matches('/'));
            (StatusCode::FOUND, [(header::LOCATION, dashboard)]).into_response()
        }
        Err(refusal) => {
            let (status, code, message) = match refusal {
                InstallRefusal::NotConfigured => (
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    "this server has no Shopify app".to_string(),
                ),
                InstallRefusal::BadSignature => (
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHENTICATED",
                    "the query is not signed by Shopify".to_string(),
                ),
                InstallRefusal::BadShop(message) => (StatusCode::BAD_REQUEST, "BAD_REQUEST", message),
                InstallRefusal::BadState => (
                    StatusCode::FORBIDDEN,
                    "FORBIDDEN",
                    "this install link is unknown, used, expired or for another shop: start the install again"
                        .to_string(),
                ),
                InstallRefusal::Refused(message) => (StatusCode::BAD_REQUEST, "BAD_REQUEST", message),
                InstallRefusal::Failed(error) => return RestError::from(error).into_response(),
            };
            RestError::new(status, code, message).into_response()
        }
    }
}
