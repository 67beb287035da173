use diesel::prelude::*;
use diesel_async::scoped_futures::ScopedFutureExt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use super::models::{NewOffer, OfferRow};
use super::schema::{offer_projects, offers};
use super::{DbError, DbResult};

use crate::domain::ids::{BrandId, OfferId, ProjectId};

/// Creates an offer and connects it to `project_ids`, all or nothing.
pub async fn create(conn: &mut AsyncPgConnection, offer: NewOffer, project_ids: Vec<ProjectId>) -> DbResult<OfferRow> {
    conn.transaction::<_, DbError, _>(|conn| {
        async move {
            let row = diesel::insert_into(offers::table)
                .values(&offer)
                .returning(OfferRow::as_returning())
                .get_result(conn)
                .await?;
            connect_projects(conn, row.brand_id, row.id, &project_ids).await?;
            Ok(row)
        }
        .scope_boxed()
    })
    .await
}

pub async fn find(conn: &mut AsyncPgConnection, brand_id: BrandId, id: OfferId) -> DbResult<Option<OfferRow>> {
    Ok(offers::table
        .find((brand_id, id))
        .select(OfferRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

pub async fn by_ids(conn: &mut AsyncPgConnection, brand_id: BrandId, ids: &[OfferId]) -> DbResult<Vec<OfferRow>> {
    Ok(offers::table
        .filter(offers::brand_id.eq(brand_id).and(offers::id.eq_any(ids)))
        .select(OfferRow::as_select())
        .load(conn)
        .await?)
}

/// All the brand's offers (reports filter and sort them in memory).
pub async fn all(conn: &mut AsyncPgConnection, brand_id: BrandId) -> DbResult<Vec<OfferRow>> {
    Ok(offers::table
        .filter(offers::brand_id.eq(brand_id))
        .select(OfferRow::as_select())
        .load(conn)
        .await?)
}

/// Sets an offer's stored status (`EXPIRED` is never stored); none when no such offer.
pub async fn set_status(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    id: OfferId,
    status: &str,
) -> DbResult<Option<OfferRow>> {
    Ok(diesel::update(offers::table.find((brand_id, id)))
        .set((offers::status.eq(status), offers::updated_at.eq(diesel::dsl::now)))
        .returning(OfferRow::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}

/// The offer fields `updateOffer` may change; `None` leaves a field as it is.
#[derive(AsChangeset, Default, Debug)]
#[diesel(table_name = offers)]
pub struct OfferChanges {
    pub name: Option<String>,
    pub destination_url: Option<String>,
    pub code_prefix: Option<String>,
    pub attribution_window_days: Option<i32>,
    pub hold_period_days: Option<i32>,
    pub starts_on: Option<chrono::NaiveDate>,
    /// `Some(None)` makes the offer open-ended.
    pub ends_on: Option<Option<chrono::NaiveDate>>,
    pub payout_type: Option<String>,
    pub payout_percent: Option<Option<rust_decimal::Decimal>>,
    pub payout_flat: Option<Option<rust_decimal::Decimal>>,
}

/// Applies `changes` and, when given, replaces the offer's projects. Call inside a transaction.
pub async fn update(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    id: OfferId,
    changes: OfferChanges,
    project_ids: Option<Vec<ProjectId>>,
) -> DbResult<OfferRow> {
    let row = diesel::update(offers::table.find((brand_id, id)))
        .set((&changes, offers::updated_at.eq(diesel::dsl::now)))
        .returning(OfferRow::as_returning())
        .get_result(conn)
        .await?;
    if let Some(project_ids) = project_ids {
        diesel::delete(
            offer_projects::table.filter(
                offer_projects::brand_id
                    .eq(brand_id)
                    .and(offer_projects::offer_id.eq(id)),
            ),
        )
        .execute(conn)
        .await?;
        connect_projects(conn, brand_id, id, &project_ids).await?;
    }
    Ok(row)
}

async fn connect_projects(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    offer_id: OfferId,
    project_ids: &[ProjectId],
) -> DbResult<()> {
    let links: Vec<_> = project_ids
        .iter()
        .map(|project_id| {
            (
                offer_projects::brand_id.eq(brand_id),
                offer_projects::offer_id.eq(offer_id),
                offer_projects::project_id.eq(*project_id),
            )
        })
        .collect();
    diesel::insert_into(offer_projects::table)
        .values(links)
        .execute(conn)
        .await?;
    Ok(())
}
