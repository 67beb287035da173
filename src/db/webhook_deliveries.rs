//! Webhook deliveries already applied, by the shop's delivery id.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::DbResult;
use super::schema::webhook_deliveries;
use crate::domain::ids::BrandId;

/// Records a delivery; false when it was recorded before (or is being recorded by a
/// concurrent transaction, which this one then waits for). Call inside the
/// transaction that applies the delivery, so a failed one is not recorded.
pub async fn claim(conn: &mut AsyncPgConnection, brand_id: BrandId, source: &str, delivery_id: &str) -> DbResult<bool> {
    let inserted = diesel::insert_into(webhook_deliveries::table)
        .values((
            webhook_deliveries::brand_id.eq(brand_id),
            webhook_deliveries::source.eq(source),
            webhook_deliveries::delivery_id.eq(delivery_id),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// Records many deliveries in one statement (as `claim` does one); returns those
/// not recorded before, as (brand, source, delivery id).
pub async fn claim_many(
    conn: &mut AsyncPgConnection,
    deliveries: &[(BrandId, &str, &str)],
) -> DbResult<Vec<(BrandId, String, String)>> {
    if deliveries.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<_> = deliveries
        .iter()
        .map(|&(brand_id, source, delivery_id)| {
            (
                webhook_deliveries::brand_id.eq(brand_id),
                webhook_deliveries::source.eq(source),
                webhook_deliveries::delivery_id.eq(delivery_id),
            )
        })
        .collect();
    Ok(diesel::insert_into(webhook_deliveries::table)
        .values(rows)
        .on_conflict_do_nothing()
        .returning((
            webhook_deliveries::brand_id,
            webhook_deliveries::source,
            webhook_deliveries::delivery_id,
        ))
        .get_results(conn)
        .await?)
}
