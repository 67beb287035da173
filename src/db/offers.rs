use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::models::{NewOffer, OfferRow};
use super::schema::{offer_projects, offers};
use super::{DbError, DbResult};

/// Creates an offer and connects it to `project_ids`, all or nothing.
pub async fn create(conn: &mut AsyncPgConnection, offer: NewOffer, project_ids: Vec<i64>) -> DbResult<OfferRow> {
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

pub async fn find(conn: &mut AsyncPgConnection, brand_id: i64, id: i64) -> DbResult<Option<OfferRow>> {
    Ok(offers::table
        .find((brand_id, id))
        .select(OfferRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

pub async fn by_ids(conn: &mut AsyncPgConnection, brand_id: i64, ids: &[i64]) -> DbResult<Vec<OfferRow>> {
    Ok(offers::table
        .filter(offers::brand_id.eq(brand_id).and(offers::id.eq_any(ids)))
        .select(OfferRow::as_select())
        .load(conn)
        .await?)
}

/// All the brand's offers (reports filter and sort them in memory).
pub async fn all(conn: &mut AsyncPgConnection, brand_id: i64) -> DbResult<Vec<OfferRow>> {
    Ok(offers::table
        .filter(offers::brand_id.eq(brand_id))
        .select(OfferRow::as_select())
        .load(conn)
        .await?)
}
