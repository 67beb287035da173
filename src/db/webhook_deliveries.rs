//! Webhook deliveries already applied, by the shop's delivery id.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use diesel::sql_types::{Array, BigInt, Text};

use super::DbResult;
use super::cached::cached_statement;
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
    #[derive(QueryableByName)]
    struct Claimed {
        #[diesel(sql_type = BigInt)]
        brand_id: BrandId,
        #[diesel(sql_type = Text)]
        source: String,
        #[diesel(sql_type = Text)]
        delivery_id: String,
    }
    // In key order, so that two groups claiming the same deliveries wait for each
    // other instead of deadlocking.
    let mut sorted = deliveries.to_vec();
    sorted.sort_unstable();
    let claimed: Vec<Claimed> = ClaimDeliveries {
        brand_ids: &sorted.iter().map(|d| d.0).collect::<Vec<_>>(),
        sources: &sorted.iter().map(|d| d.1).collect::<Vec<_>>(),
        delivery_ids: &sorted.iter().map(|d| d.2).collect::<Vec<_>>(),
    }
    .load(conn)
    .await?;
    Ok(claimed
        .into_iter()
        .map(|c| (c.brand_id, c.source, c.delivery_id))
        .collect())
}

cached_statement! {
    /// The statement of [`claim_many`].
    struct ClaimDeliveries<'a> = "INSERT INTO webhook_deliveries (brand_id, source, delivery_id)
         SELECT brand_id, source, delivery_id FROM unnest($1::bigint[], $2::text[], $3::text[]) WITH ORDINALITY AS d (brand_id, source, delivery_id, position)
         ORDER BY position
         ON CONFLICT DO NOTHING
         RETURNING brand_id, source, delivery_id"; {
        brand_ids: Array<BigInt> => &'a [BrandId],
        sources: Array<Text> => &'a [&'a str],
        delivery_ids: Array<Text> => &'a [&'a str],
    }
}
