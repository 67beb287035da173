use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::db::{DbError, DbPool, api_keys};
use crate::domain::enums::Role;
use crate::graphql::authorize;
use crate::graphql::context::Viewer;

/// `POST /graphql` and `GET /graphql`. Without a key the request still runs (so
/// the public schema can be introspected) and every brand field is
/// `UNAUTHENTICATED`; a key that is wrong is refused outright with 401.
pub async fn handle(State(state): State<AppState>, headers: HeaderMap, request: GraphQLRequest) -> Response {
    let mut request = request.into_inner();
    match authenticate(&state.pool, &headers).await {
        Ok(Some(viewer)) => request = authorize(request, viewer, &state.pool),
        Ok(None) => {}
        Err(AuthFailure::BadKey) => {
            return graphql_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "the API key is not valid");
        }
        Err(AuthFailure::Database(error)) => {
            tracing::error!(%error, "API key lookup failed");
            return graphql_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "the database is unavailable; try again shortly",
            );
        }
    }
    GraphQLResponse::from(state.schema.execute(request).await).into_response()
}

pub(super) enum AuthFailure {
    BadKey,
    Database(DbError),
}

/// The viewer an `Authorization: Bearer <key>` header names; `None` without the header.
pub(super) async fn authenticate(pool: &DbPool, headers: &HeaderMap) -> Result<Option<Viewer>, AuthFailure> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let secret = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(AuthFailure::BadKey)?;
    let mut conn = pool.get().await.map_err(|e| AuthFailure::Database(e.into()))?;
    let (key, time_zone) = api_keys::find_active_by_secret(&mut conn, secret)
        .await
        .map_err(AuthFailure::Database)?
        .ok_or(AuthFailure::BadKey)?;
    let role = Role::parse(&key.role).ok_or(AuthFailure::BadKey)?;
    let time_zone = time_zone.parse().map_err(|_| AuthFailure::BadKey)?;
    Ok(Some(Viewer {
        brand_id: key.brand_id,
        api_key_id: key.id,
        role,
        time_zone,
    }))
}

/// A response shaped like a GraphQL result, for failures before execution.
fn graphql_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "errors": [{ "message": message, "extensions": { "code": code } }] })),
    )
        .into_response()
}
