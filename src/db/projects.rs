use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::DbResult;
use super::models::ProjectRow;
use super::schema::{offer_projects, projects};

use crate::domain::ids::{BrandId, OfferId, ProjectId};

pub async fn create(conn: &mut AsyncPgConnection, brand_id: BrandId, name: &str) -> DbResult<ProjectRow> {
    Ok(diesel::insert_into(projects::table)
        .values((projects::brand_id.eq(brand_id), projects::name.eq(name)))
        .returning(ProjectRow::as_returning())
        .get_result(conn)
        .await?)
}

/// All the brand's projects, by name.
pub async fn list(conn: &mut AsyncPgConnection, brand_id: BrandId) -> DbResult<Vec<ProjectRow>> {
    Ok(projects::table
        .filter(projects::brand_id.eq(brand_id))
        .order((projects::name.asc(), projects::id.asc()))
        .select(ProjectRow::as_select())
        .load(conn)
        .await?)
}

/// How many of `ids` are projects of the brand (to reject unknown ones).
pub async fn count_existing(conn: &mut AsyncPgConnection, brand_id: BrandId, ids: &[ProjectId]) -> DbResult<i64> {
    Ok(projects::table
        .filter(projects::brand_id.eq(brand_id).and(projects::id.eq_any(ids)))
        .count()
        .get_result(conn)
        .await?)
}

/// The projects connected to each of `offer_ids`, in one query.
pub async fn by_offer(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    offer_ids: &[OfferId],
) -> DbResult<HashMap<OfferId, Vec<ProjectRow>>> {
    let rows: Vec<(OfferId, ProjectRow)> = offer_projects::table
        .inner_join(
            projects::table.on(projects::brand_id
                .eq(offer_projects::brand_id)
                .and(projects::id.eq(offer_projects::project_id))),
        )
        .filter(
            offer_projects::brand_id
                .eq(brand_id)
                .and(offer_projects::offer_id.eq_any(offer_ids)),
        )
        .order((projects::name.asc(), projects::id.asc()))
        .select((offer_projects::offer_id, ProjectRow::as_select()))
        .load(conn)
        .await?;
    let mut grouped: HashMap<OfferId, Vec<ProjectRow>> = HashMap::new();
    for (offer_id, project) in rows {
        grouped.entry(offer_id).or_default().push(project);
    }
    Ok(grouped)
}
