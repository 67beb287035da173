//! Records the adapters show as they are stored: lookups and keyset-paged lists,
//! always within the caller's brand. Workflows that change them live beside.

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::records::{
    AuditRow, ClickRow, ConversionRow, MemberRow, MemberSearch, MembershipRow, OfferRow, Owner, Page, PageRequest,
    PaymentRow, ProjectRow,
};
use super::{AppResult, Caller};
use crate::db::{audit, clicks, conversions, members, memberships, offers, payments, projects, table_columns};
use crate::domain::enums::ConversionStatus;
use crate::domain::ids::{ConversionId, MemberId, MembershipId, OfferId, PaymentId};

pub async fn offer(conn: &mut AsyncPgConnection, caller: &Caller, id: OfferId) -> AppResult<Option<OfferRow>> {
    Ok(offers::find(conn, caller.brand_id, id).await?)
}

/// The brand's projects, by name.
pub async fn projects(conn: &mut AsyncPgConnection, caller: &Caller) -> AppResult<Vec<ProjectRow>> {
    Ok(projects::list(conn, caller.brand_id).await?)
}

pub async fn member(conn: &mut AsyncPgConnection, caller: &Caller, id: MemberId) -> AppResult<Option<MemberRow>> {
    Ok(members::find(conn, caller.brand_id, id).await?)
}

/// A page of the brand's members matching `search`.
pub async fn members(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    search: Option<&MemberSearch>,
    request: PageRequest,
) -> AppResult<Page<MemberRow>> {
    Ok(members::page(conn, caller.brand_id, search, request).await?)
}

/// How many of the brand's members match `search`.
pub async fn member_count(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    search: Option<&MemberSearch>,
) -> AppResult<i64> {
    Ok(members::count(conn, caller.brand_id, search).await?)
}

pub async fn membership(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: MembershipId,
) -> AppResult<Option<MembershipRow>> {
    Ok(memberships::find(conn, caller.brand_id, id).await?)
}

pub async fn conversion(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    id: ConversionId,
) -> AppResult<Option<ConversionRow>> {
    Ok(conversions::find(conn, caller.brand_id, id).await?)
}

/// Up to `limit` of the caller's orders placed in `range` (the brand's days) after
/// `after`, in id order: the orders export reads page after page.
pub async fn order_lines(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    range: crate::domain::date_range::DateRange,
    after: ConversionId,
    limit: i64,
) -> AppResult<Vec<super::records::OrderLine>> {
    let bounds = range.utc_bounds(caller.time_zone);
    Ok(conversions::order_lines(conn, caller.brand_id, bounds, after, limit).await?)
}

/// A page of `owner`'s conversions, newest first, of one status or all.
pub async fn conversions(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    owner: Owner,
    status: Option<ConversionStatus>,
    request: PageRequest,
) -> AppResult<Page<ConversionRow>> {
    let status = status.map(ConversionStatus::as_str);
    Ok(conversions::page(conn, caller.brand_id, owner, status, request).await?)
}

/// A page of a membership's clicks, newest first, before the click `before`.
pub async fn clicks(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    membership_id: MembershipId,
    before: Option<Uuid>,
    limit: i64,
) -> AppResult<Page<ClickRow>> {
    Ok(clicks::page_for_membership(conn, caller.brand_id, membership_id, before, limit).await?)
}

pub async fn payment(conn: &mut AsyncPgConnection, caller: &Caller, id: PaymentId) -> AppResult<Option<PaymentRow>> {
    Ok(payments::find(conn, caller.brand_id, id).await?)
}

/// A page of the brand's payments, newest first.
pub async fn payments(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    request: PageRequest,
) -> AppResult<Page<PaymentRow>> {
    Ok(payments::page(conn, caller.brand_id, request).await?)
}

/// A page of the brand's audit trail, newest first.
pub async fn audit_events(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    request: PageRequest,
) -> AppResult<Page<AuditRow>> {
    Ok(audit::page(conn, caller.brand_id, request).await?)
}

/// The columns the caller's key saved for `table`, if it saved any.
pub async fn table_columns(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    table: &str,
) -> AppResult<Option<Vec<String>>> {
    Ok(table_columns::get(conn, caller.brand_id, caller.api_key_id, table).await?)
}
