//! Imports of a Shopify store's order history (the workflow is `app::shop_import`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use super::DbResult;
use super::schema::{payments, shopify_imports};
use crate::domain::enums::{ImportState, PaymentProvider, PaymentScope, PaymentState};
use crate::domain::ids::{ApiKeyId, BrandId, ConversionId, PaymentId, ShopImportId};

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = shopify_imports, check_for_backend(diesel::pg::Pg))]
pub struct ImportRow {
    pub brand_id: BrandId,
    pub id: ShopImportId,
    pub shop_domain: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub payable: bool,
    pub state: ImportState,
    /// Shopify's cursor after the last page booked.
    pub after: Option<String>,
    pub total: Option<i32>,
    pub processed: i32,
    pub recorded: i32,
    pub already_recorded: i32,
    pub skipped: i32,
    pub payment_id: Option<PaymentId>,
    pub error: Option<String>,
    pub created_by_key_id: Option<ApiKeyId>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// An import as it is asked for.
pub struct NewImport<'a> {
    pub brand_id: BrandId,
    pub shop_domain: &'a str,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub payable: bool,
    pub created_by_key_id: Option<ApiKeyId>,
}

/// Inserts a running import; none while the brand has one running.
pub async fn insert(conn: &mut AsyncPgConnection, new: NewImport<'_>) -> DbResult<Option<ImportRow>> {
    Ok(diesel::insert_into(shopify_imports::table)
        .values((
            shopify_imports::brand_id.eq(new.brand_id),
            shopify_imports::shop_domain.eq(new.shop_domain),
            shopify_imports::starts_at.eq(new.starts_at),
            shopify_imports::ends_at.eq(new.ends_at),
            shopify_imports::payable.eq(new.payable),
            shopify_imports::state.eq(ImportState::Running),
            shopify_imports::created_by_key_id.eq(new.created_by_key_id),
        ))
        .on_conflict_do_nothing()
        .returning(ImportRow::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}

pub async fn find(conn: &mut AsyncPgConnection, brand_id: BrandId, id: ShopImportId) -> DbResult<Option<ImportRow>> {
    Ok(shopify_imports::table
        .find((brand_id, id))
        .select(ImportRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The brand's newest import.
pub async fn latest(conn: &mut AsyncPgConnection, brand_id: BrandId) -> DbResult<Option<ImportRow>> {
    Ok(shopify_imports::table
        .filter(shopify_imports::brand_id.eq(brand_id))
        .order(shopify_imports::id.desc())
        .select(ImportRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Runs a failed import again from where it stopped; none if it is not failed.
pub async fn resume(conn: &mut AsyncPgConnection, brand_id: BrandId, id: ShopImportId) -> DbResult<Option<ImportRow>> {
    Ok(diesel::update(
        shopify_imports::table
            .find((brand_id, id))
            .filter(shopify_imports::state.eq(ImportState::Failed)),
    )
    .set((
        shopify_imports::state.eq(ImportState::Running),
        shopify_imports::error.eq(None::<String>),
        shopify_imports::finished_at.eq(None::<DateTime<Utc>>),
    ))
    .returning(ImportRow::as_returning())
    .get_result(conn)
    .await
    .optional()?)
}

pub async fn set_total(conn: &mut AsyncPgConnection, brand_id: BrandId, id: ShopImportId, total: i32) -> DbResult<()> {
    diesel::update(shopify_imports::table.find((brand_id, id)))
        .set(shopify_imports::total.eq(total))
        .execute(conn)
        .await?;
    Ok(())
}

/// What one page booked.
#[derive(Clone, Copy, Debug, Default)]
pub struct PageCounts {
    pub processed: i32,
    pub recorded: i32,
    pub already_recorded: i32,
    pub skipped: i32,
}

/// Moves a running import past a page that began at `from` (its cursor then),
/// and finishes it after the last. False when the import is no longer where the
/// page began (another runner booked it) or no longer running: the caller's
/// transaction must then not commit.
pub async fn advance(
    conn: &mut AsyncPgConnection,
    row: &ImportRow,
    to: Option<&str>,
    counts: PageCounts,
    last: bool,
) -> DbResult<bool> {
    let (state, finished_at) = if last {
        (ImportState::Done, Some(Utc::now()))
    } else {
        (ImportState::Running, None)
    };
    let updated = diesel::update(
        shopify_imports::table
            .find((row.brand_id, row.id))
            .filter(shopify_imports::state.eq(ImportState::Running))
            .filter(shopify_imports::after.is_not_distinct_from(row.after.as_deref())),
    )
    .set((
        shopify_imports::after.eq(to),
        shopify_imports::processed.eq(shopify_imports::processed + counts.processed),
        shopify_imports::recorded.eq(shopify_imports::recorded + counts.recorded),
        shopify_imports::already_recorded.eq(shopify_imports::already_recorded + counts.already_recorded),
        shopify_imports::skipped.eq(shopify_imports::skipped + counts.skipped),
        shopify_imports::state.eq(state),
        shopify_imports::finished_at.eq(finished_at),
    ))
    .execute(conn)
    .await?;
    Ok(updated == 1)
}

/// Stops a running import with `error`; it can be resumed.
pub async fn fail(conn: &mut AsyncPgConnection, brand_id: BrandId, id: ShopImportId, error: &str) -> DbResult<()> {
    diesel::update(
        shopify_imports::table
            .find((brand_id, id))
            .filter(shopify_imports::state.eq(ImportState::Running)),
    )
    .set((
        shopify_imports::state.eq(ImportState::Failed),
        shopify_imports::error.eq(error),
        shopify_imports::finished_at.eq(Utc::now()),
    ))
    .execute(conn)
    .await?;
    Ok(())
}

/// The import's payment that marks commissions as settled outside Sales
/// Tracking: a PAID `SHOP_IMPORT` payment, made with the first it settles.
pub async fn settlement(conn: &mut AsyncPgConnection, row: &ImportRow) -> DbResult<PaymentId> {
    if let Some(id) = row.payment_id {
        return Ok(id);
    }
    let id: PaymentId = diesel::insert_into(payments::table)
        .values((
            payments::brand_id.eq(row.brand_id),
            payments::idempotency_key.eq(format!("shopify-import-{}", row.id)),
            payments::scope.eq(PaymentScope::ShopImport.as_str()),
            payments::provider.eq(PaymentProvider::Manual.as_str()),
            payments::state.eq(PaymentState::Paid.as_str()),
            payments::created_by_key_id.eq(row.created_by_key_id),
            payments::completed_at.eq(Utc::now()),
        ))
        .returning(payments::id)
        .get_result(conn)
        .await?;
    diesel::update(shopify_imports::table.find((row.brand_id, row.id)))
        .set(shopify_imports::payment_id.eq(id))
        .execute(conn)
        .await?;
    Ok(id)
}

/// Marks the conversions' commission entries already past their hold period at
/// `now` as paid by `payment_id`: one PAID item per membership, grown as later
/// pages settle more, and the payment's total with them. What it settled.
pub async fn settle_outside(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    payment_id: PaymentId,
    conversion_ids: &[ConversionId],
    now: DateTime<Utc>,
) -> DbResult<Decimal> {
    #[derive(QueryableByName)]
    struct Settled {
        #[diesel(sql_type = diesel::sql_types::Numeric)]
        amount: Decimal,
    }
    let settled: Settled = diesel::sql_query(
        "WITH due AS (
             SELECT id, membership_id, amount FROM ledger_entries
             WHERE brand_id = $1 AND kind = 'CONVERSION' AND conversion_id = ANY($3)
               AND payment_item_id IS NULL AND payable_at <= $4 AND amount > 0
             FOR UPDATE),
         items AS (
             INSERT INTO payment_items AS i (brand_id, payment_id, membership_id, amount, state)
             SELECT $1, $2, membership_id, SUM(amount), 'PAID' FROM due GROUP BY membership_id
             ON CONFLICT (brand_id, payment_id, membership_id) DO UPDATE SET amount = i.amount + EXCLUDED.amount
             RETURNING i.id, i.membership_id),
         paid AS (
             UPDATE ledger_entries e SET payment_item_id = items.id
             FROM due JOIN items ON items.membership_id = due.membership_id
             WHERE e.brand_id = $1 AND e.id = due.id
             RETURNING e.amount),
         total AS (
             UPDATE payments SET total_amount = total_amount + (SELECT COALESCE(SUM(amount), 0) FROM paid)
             WHERE brand_id = $1 AND id = $2)
         SELECT COALESCE(SUM(amount), 0) AS amount FROM paid",
    )
    .bind::<BigInt, _>(brand_id)
    .bind::<BigInt, _>(payment_id)
    .bind::<Array<BigInt>, _>(conversion_ids)
    .bind::<Timestamptz, _>(now)
    .get_result(conn)
    .await?;
    Ok(settled.amount)
}

/// Locks a running import while it still stands where `row` saw it (no other
/// runner booked the page since); false otherwise.
pub async fn lock_at(conn: &mut AsyncPgConnection, row: &ImportRow) -> DbResult<bool> {
    let found: Option<ShopImportId> = shopify_imports::table
        .find((row.brand_id, row.id))
        .filter(shopify_imports::state.eq(ImportState::Running))
        .filter(shopify_imports::after.is_not_distinct_from(row.after.as_deref()))
        .select(shopify_imports::id)
        .for_update()
        .first(conn)
        .await
        .optional()?;
    Ok(found.is_some())
}
