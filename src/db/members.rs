use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::models::{MemberChanges, MemberRow, NewMember};
use super::pagination::{Page, PageRequest};
use super::schema::{members, memberships};
use super::{DbResult, contains_pattern};

use crate::domain::ids::{BrandId, MemberId, MembershipId};

pub async fn create(conn: &mut AsyncPgConnection, member: &NewMember) -> DbResult<MemberRow> {
    Ok(diesel::insert_into(members::table)
        .values(member)
        .returning(MemberRow::as_returning())
        .get_result(conn)
        .await?)
}

/// Applies the changes to a member of the brand; none if there is no such member.
pub async fn update(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    id: MemberId,
    changes: &MemberChanges,
) -> DbResult<Option<MemberRow>> {
    Ok(diesel::update(members::table.find((brand_id, id)))
        .set(changes)
        .returning(MemberRow::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}

pub async fn find(conn: &mut AsyncPgConnection, brand_id: BrandId, id: MemberId) -> DbResult<Option<MemberRow>> {
    Ok(members::table
        .find((brand_id, id))
        .select(MemberRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Text to find members by: in their names, and in their emails when `emails`.
#[derive(Clone, Debug)]
pub struct MemberSearch {
    pub text: String,
    pub emails: bool,
}

fn filtered(brand_id: BrandId, search: Option<&MemberSearch>) -> members::BoxedQuery<'static, diesel::pg::Pg> {
    let mut query = members::table.filter(members::brand_id.eq(brand_id)).into_boxed();
    match search {
        Some(MemberSearch { text, emails: true }) => {
            let pattern = contains_pattern(text);
            query = query.filter(members::name.ilike(pattern.clone()).or(members::email.ilike(pattern)));
        }
        Some(MemberSearch { text, emails: false }) => query = query.filter(members::name.ilike(contains_pattern(text))),
        None => {}
    }
    query
}

/// Members newest first, optionally those `search` finds.
pub async fn page(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    search: Option<&MemberSearch>,
    request: PageRequest,
) -> DbResult<Page<MemberRow>> {
    let mut query = filtered(brand_id, search);
    if let Some(before) = request.before_id {
        query = query.filter(members::id.lt(before));
    }
    let rows = query
        .order(members::id.desc())
        .limit(request.limit + 1)
        .select(MemberRow::as_select())
        .load(conn)
        .await?;
    Ok(Page::from_overfetched(rows, request.limit))
}

pub async fn count(conn: &mut AsyncPgConnection, brand_id: BrandId, search: Option<&MemberSearch>) -> DbResult<i64> {
    Ok(filtered(brand_id, search).count().get_result(conn).await?)
}

pub async fn by_ids(conn: &mut AsyncPgConnection, brand_id: BrandId, ids: &[MemberId]) -> DbResult<Vec<MemberRow>> {
    Ok(members::table
        .filter(members::brand_id.eq(brand_id).and(members::id.eq_any(ids)))
        .select(MemberRow::as_select())
        .load(conn)
        .await?)
}

/// The payout currency of each of these memberships' members.
pub async fn payout_currencies(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    membership_ids: &[MembershipId],
) -> DbResult<HashMap<MembershipId, String>> {
    let rows: Vec<(MembershipId, String)> = memberships::table
        .inner_join(
            members::table.on(members::brand_id
                .eq(memberships::brand_id)
                .and(members::id.eq(memberships::member_id))),
        )
        .filter(
            memberships::brand_id
                .eq(brand_id)
                .and(memberships::id.eq_any(membership_ids)),
        )
        .select((memberships::id, members::payout_currency))
        .load(conn)
        .await?;
    Ok(rows.into_iter().collect())
}
