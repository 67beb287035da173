use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::models::{NewOffer, OfferRow};
use super::pagination::{Page, PageRequest};
use super::schema::{offer_projects, offers};
use super::{DbError, DbResult, contains_pattern};

/// Creates an offer and connects it to `project_ids`, all or nothing.
pub async fn create(
    conn: &mut AsyncPgConnection,
    offer: NewOffer,
    project_ids: Vec<i64>,
) -> DbResult<OfferRow> {
    conn.transaction::<_, DbError, _>(|conn| {
        async move {
            let row = diesel::insert_into(offers::table)
                .values(&offer)
                .returning(OfferRow::as_returning())
                .get_result(conn)
                .await?;
            let links: Vec<_> = project_ids
                .iter()
                .map(|project_id| {
                    (
                        offer_projects::brand_id.eq(row.brand_id),
                        offer_projects::offer_id.eq(row.id),
                        offer_projects::project_id.eq(*project_id),
                    )
                })
                .collect();
            diesel::insert_into(offer_projects::table)
                .values(links)
                .execute(conn)
                .await?;
            Ok(row)
        }
        .scope_boxed()
    })
    .await
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    id: i64,
) -> DbResult<Option<OfferRow>> {
    Ok(offers::table
        .find((brand_id, id))
        .select(OfferRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

fn filtered(brand_id: i64, search: Option<&str>) -> offers::BoxedQuery<'static, diesel::pg::Pg> {
    let mut query = offers::table
        .filter(offers::brand_id.eq(brand_id))
        .into_boxed();
    if let Some(text) = search {
        query = query.filter(offers::name.ilike(contains_pattern(text)));
    }
    query
}

/// Offers newest first, optionally those whose name contains `search` (any case).
pub async fn page(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    search: Option<&str>,
    request: PageRequest,
) -> DbResult<Page<OfferRow>> {
    let mut query = filtered(brand_id, search);
    if let Some(before) = request.before_id {
        query = query.filter(offers::id.lt(before));
    }
    let rows = query
        .order(offers::id.desc())
        .limit(request.limit + 1)
        .select(OfferRow::as_select())
        .load(conn)
        .await?;
    Ok(Page::from_overfetched(rows, request.limit))
}

pub async fn count(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    search: Option<&str>,
) -> DbResult<i64> {
    Ok(filtered(brand_id, search).count().get_result(conn).await?)
}

pub async fn by_ids(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    ids: &[i64],
) -> DbResult<Vec<OfferRow>> {
    Ok(offers::table
        .filter(offers::brand_id.eq(brand_id).and(offers::id.eq_any(ids)))
        .select(OfferRow::as_select())
        .load(conn)
        .await?)
}

/// All the brand's offers (reports filter and sort them in memory).
pub async fn all(conn: &mut AsyncPgConnection, brand_id: i64) -> DbResult<Vec<OfferRow>> {
    Ok(offers::table.filter(offers::brand_id.eq(brand_id)).select(OfferRow::as_select()).load(conn).await?)
}
