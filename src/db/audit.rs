//! The audit trail: who changed what, written in the change's own transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::Value;

use super::DbResult;
use super::pagination::{Page, PageRequest};
use super::schema::audit_events;

use crate::domain::ids::{ApiKeyId, AuditEventId, BrandId};

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = audit_events, check_for_backend(diesel::pg::Pg))]
pub struct AuditRow {
    pub id: AuditEventId,
    /// None: an operator on the command line.
    pub api_key_id: Option<ApiKeyId>,
    pub action: String,
    pub details: Value,
    pub created_at: DateTime<Utc>,
}

pub async fn record(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    api_key_id: Option<ApiKeyId>,
    action: &str,
    details: Value,
) -> DbResult<()> {
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::brand_id.eq(brand_id),
            audit_events::api_key_id.eq(api_key_id),
            audit_events::action.eq(action),
            audit_events::details.eq(details),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The brand's audit events, newest first.
pub async fn page(conn: &mut AsyncPgConnection, brand_id: BrandId, request: PageRequest) -> DbResult<Page<AuditRow>> {
    let mut query = audit_events::table
        .filter(audit_events::brand_id.eq(brand_id))
        .into_boxed();
    if let Some(before) = request.before_id {
        query = query.filter(audit_events::id.lt(before));
    }
    let rows = query
        .order(audit_events::id.desc())
        .limit(request.limit + 1)
        .select(AuditRow::as_select())
        .load(conn)
        .await?;
    Ok(Page::from_overfetched(rows, request.limit))
}
