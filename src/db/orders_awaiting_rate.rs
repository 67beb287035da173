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

/// Takes the order out, once recorded; false when another server already did.
pub async fn release(conn: &mut AsyncPgConnection, order: &AwaitingOrder) -> DbResult<bool> {
    let removed = diesel::delete(awaiting::table.find((order.brand_id, &order.source, &order.external_order_id)))
        .execute(conn)
        .await?;
    Ok(removed == 1)
}

/// How many of the brand's orders wait for a rate.
pub async fn count(conn: &mut AsyncPgConnection, brand_id: BrandId) -> DbResult<i64> {
    Ok(awaiting::table
        .filter(awaiting::brand_id.eq(brand_id))
        .count()
        .get_result(conn)
        .await?)
}
