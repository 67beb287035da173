//! Orders kept until the exchange rate of their day is published.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::DbResult;
use super::schema::orders_awaiting_rate as awaiting;
use crate::domain::ids::BrandId;

/// An order as received, before it could be valued.
#[derive(Queryable, Selectable, Insertable, Clone, Debug, PartialEq, Eq)]
#[diesel(table_name = awaiting, check_for_backend(diesel::pg::Pg))]
pub struct AwaitingOrder {
    pub brand_id: BrandId,
    pub source: String,
    pub external_order_id: String,
    pub occurred_at: DateTime<Utc>,
    pub amount: Decimal,
    pub currency: String,
    pub promo_codes: Vec<String>,
    pub click_id: Option<Uuid>,
}

/// Keeps the order; a shop sending it again changes nothing.
pub async fn hold(conn: &mut AsyncPgConnection, order: &AwaitingOrder) -> DbResult<()> {
    diesel::insert_into(awaiting::table)
        .values(order)
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

/// The orders waiting longest, at most `limit`.
pub async fn oldest(conn: &mut AsyncPgConnection, limit: i64) -> DbResult<Vec<AwaitingOrder>> {
    Ok(awaiting::table
        .order(awaiting::received_at)
        .limit(limit)
        .select(AwaitingOrder::as_select())
        .load(conn)
        .await?)
}

/// A refund kept with its held order: its reference (the shop's refund id) and
/// amount in the order's currency (none: all that is left).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HeldRefund {
    pub reference: String,
    pub amount: Option<Decimal>,
}

/// Takes the order out, once recorded, with the refunds kept for it (oldest
/// first); none when another server already took it.
pub async fn release(conn: &mut AsyncPgConnection, order: &AwaitingOrder) -> DbResult<Option<Vec<HeldRefund>>> {
    let refunds: Option<serde_json::Value> =
        diesel::delete(awaiting::table.find((order.brand_id, &order.source, &order.external_order_id)))
            .returning(awaiting::refunds)
            .get_result(conn)
            .await
            .optional()?;
    Ok(refunds.map(|refunds| serde_json::from_value(refunds).unwrap_or_default()))
}

/// Keeps a refund of a held order, applied when the order is recorded; false when
/// no such order is held. The same refund (reference) again changes nothing.
pub async fn hold_refund(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    source: &str,
    external_order_id: &str,
    refund: &HeldRefund,
) -> DbResult<bool> {
    let held = serde_json::to_value(refund).expect("a refund serializes");
    let updated = diesel::sql_query(
        "UPDATE orders_awaiting_rate
         SET refunds = CASE WHEN refunds @> jsonb_build_array(jsonb_build_object('reference', $4::text))
                            THEN refunds ELSE refunds || jsonb_build_array($5::jsonb) END
         WHERE brand_id = $1 AND source = $2 AND external_order_id = $3",
    )
    .bind::<diesel::sql_types::BigInt, _>(brand_id)
    .bind::<diesel::sql_types::Text, _>(source)
    .bind::<diesel::sql_types::Text, _>(external_order_id)
    .bind::<diesel::sql_types::Text, _>(&refund.reference)
    .bind::<diesel::sql_types::Jsonb, _>(held)
    .execute(conn)
    .await?;
    Ok(updated == 1)
}

/// How many of the brand's orders wait for a rate.
pub async fn count(conn: &mut AsyncPgConnection, brand_id: BrandId) -> DbResult<i64> {
    Ok(awaiting::table
        .filter(awaiting::brand_id.eq(brand_id))
        .count()
        .get_result(conn)
        .await?)
}
