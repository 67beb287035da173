//! Promo codes in brands' Shopify stores: each promo-code offer's shopper
//! discount (and the Shopify discount carrying its codes), and each code's state.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text};
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use super::DbResult;
use super::schema::shopper_discounts;
use crate::domain::enums::{CodeSyncState, ShopperDiscountType};
use crate::domain::ids::{BrandId, MembershipId, OfferId};

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = shopper_discounts, check_for_backend(diesel::pg::Pg))]
pub struct ShopperDiscountRow {
    pub brand_id: BrandId,
    pub offer_id: OfferId,
    pub discount_type: ShopperDiscountType,
    pub value: Decimal,
    pub once_per_customer: bool,
    pub minimum_subtotal: Option<Decimal>,
    pub shopify_discount_id: Option<String>,
    pub shopify_active: Option<bool>,
    pub terms_changed: bool,
    pub updated_at: DateTime<Utc>,
}

/// A shopper discount as an admin sets it.
#[derive(Clone, Debug)]
pub struct DiscountTerms {
    pub discount_type: ShopperDiscountType,
    pub value: Decimal,
    pub once_per_customer: bool,
    pub minimum_subtotal: Option<Decimal>,
}

/// Sets an offer's shopper discount; a discount already in the shop is marked
/// for rewriting.
pub async fn set_terms(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    offer_id: OfferId,
    terms: &DiscountTerms,
) -> DbResult<ShopperDiscountRow> {
    Ok(diesel::insert_into(shopper_discounts::table)
        .values((
            shopper_discounts::brand_id.eq(brand_id),
            shopper_discounts::offer_id.eq(offer_id),
            shopper_discounts::discount_type.eq(terms.discount_type),
            shopper_discounts::value.eq(terms.value),
            shopper_discounts::once_per_customer.eq(terms.once_per_customer),
            shopper_discounts::minimum_subtotal.eq(terms.minimum_subtotal),
        ))
        .on_conflict((shopper_discounts::brand_id, shopper_discounts::offer_id))
        .do_update()
        .set((
            shopper_discounts::discount_type.eq(excluded(shopper_discounts::discount_type)),
            shopper_discounts::value.eq(excluded(shopper_discounts::value)),
            shopper_discounts::once_per_customer.eq(excluded(shopper_discounts::once_per_customer)),
            shopper_discounts::minimum_subtotal.eq(excluded(shopper_discounts::minimum_subtotal)),
            shopper_discounts::terms_changed.eq(shopper_discounts::shopify_discount_id.is_not_null()),
            shopper_discounts::updated_at.eq(diesel::dsl::now),
        ))
        .returning(ShopperDiscountRow::as_returning())
        .get_result(conn)
        .await?)
}

pub async fn for_offers(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    offer_ids: &[OfferId],
) -> DbResult<Vec<ShopperDiscountRow>> {
    Ok(shopper_discounts::table
        .filter(shopper_discounts::brand_id.eq(brand_id))
        .filter(shopper_discounts::offer_id.eq_any(offer_ids))
        .select(ShopperDiscountRow::as_select())
        .load(conn)
        .await?)
}

pub async fn of_brand(conn: &mut AsyncPgConnection, brand_id: BrandId) -> DbResult<Vec<ShopperDiscountRow>> {
    Ok(shopper_discounts::table
        .filter(shopper_discounts::brand_id.eq(brand_id))
        .order(shopper_discounts::offer_id)
        .select(ShopperDiscountRow::as_select())
        .load(conn)
        .await?)
}

/// What the shop holds for an offer after a sync round: its discount's id (none:
/// it has none), whether it is active, and that its terms are written.
pub async fn record_shop_discount(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    offer_id: OfferId,
    discount_id: Option<&str>,
    active: Option<bool>,
    terms_written_at: Option<DateTime<Utc>>,
) -> DbResult<()> {
    let row = shopper_discounts::table.find((brand_id, offer_id));
    diesel::update(row)
        .set((
            shopper_discounts::shopify_discount_id.eq(discount_id),
            shopper_discounts::shopify_active.eq(active),
        ))
        .execute(conn)
        .await?;
    // Terms changed since the round read them are marked for the next round, also
    // when they changed before the discount's id was recorded (`set_terms` could
    // not tell then that the shop held the old ones).
    if let Some(read_at) = terms_written_at {
        diesel::update(row)
            .set(shopper_discounts::terms_changed.eq(shopper_discounts::updated_at.gt(read_at)))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// One promo code of an offer, and whether it should work at checkout now (its
/// membership active and not removed, the code current).
#[derive(QueryableByName, Clone, Debug)]
pub struct OfferCode {
    #[diesel(sql_type = Text)]
    pub code: String,
    #[diesel(sql_type = Bool)]
    pub attributes: bool,
}

pub async fn offer_codes(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    offer_id: OfferId,
) -> DbResult<Vec<OfferCode>> {
    Ok(diesel::sql_query(
        "SELECT p.code, (p.disabled_at IS NULL AND m.active AND m.removed_at IS NULL) AS attributes
         FROM promo_codes p
         JOIN memberships m ON m.brand_id = p.brand_id AND m.id = p.membership_id
         LEFT JOIN promo_code_sync s ON s.brand_id = p.brand_id AND s.code = p.code
         WHERE p.brand_id = $1 AND m.offer_id = $2 AND s.adopted_discount_id IS NULL
         ORDER BY p.id",
    )
    .bind::<BigInt, _>(brand_id)
    .bind::<BigInt, _>(offer_id)
    .load(conn)
    .await?)
}

/// A code adopted from the shop, the discount it stays in, and whether it attributes now.
#[derive(QueryableByName, Clone, Debug)]
pub struct AdoptedCode {
    #[diesel(sql_type = Text)]
    pub code: String,
    #[diesel(sql_type = Text)]
    pub discount_id: String,
    #[diesel(sql_type = Bool)]
    pub attributes: bool,
}

pub async fn adopted_codes(conn: &mut AsyncPgConnection, brand_id: BrandId) -> DbResult<Vec<AdoptedCode>> {
    Ok(diesel::sql_query(
        "SELECT p.code, s.adopted_discount_id AS discount_id,
                (p.disabled_at IS NULL AND m.active AND m.removed_at IS NULL) AS attributes
         FROM promo_code_sync s
         JOIN promo_codes p ON p.brand_id = s.brand_id AND p.code = s.code
         JOIN memberships m ON m.brand_id = p.brand_id AND m.id = p.membership_id
         WHERE s.brand_id = $1 AND s.adopted_discount_id IS NOT NULL
         ORDER BY p.id",
    )
    .bind::<BigInt, _>(brand_id)
    .load(conn)
    .await?)
}

/// Notes a code adopted from the shop, in its own discount there.
pub async fn record_adopted(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    code: &str,
    discount_id: &str,
) -> DbResult<()> {
    diesel::sql_query(
        "INSERT INTO promo_code_sync (brand_id, code, state, adopted_discount_id) VALUES ($1, $2, 'SYNCED', $3)
         ON CONFLICT (brand_id, code) DO UPDATE
         SET state = 'SYNCED', error = NULL, adopted_discount_id = excluded.adopted_discount_id, updated_at = now()",
    )
    .bind::<BigInt, _>(brand_id)
    .bind::<Text, _>(code)
    .bind::<Text, _>(discount_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records where codes stand in the shop.
pub async fn record_code_states(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    states: &[(String, CodeSyncState, Option<String>)],
) -> DbResult<()> {
    if states.is_empty() {
        return Ok(());
    }
    let codes: Vec<&str> = states.iter().map(|(code, _, _)| code.as_str()).collect();
    let kinds: Vec<&str> = states.iter().map(|(_, state, _)| state.as_str()).collect();
    let errors: Vec<Option<&str>> = states.iter().map(|(_, _, error)| error.as_deref()).collect();
    diesel::sql_query(
        "INSERT INTO promo_code_sync (brand_id, code, state, error)
         SELECT $1, code, state, error FROM unnest($2::text[], $3::text[], $4::text[]) AS s (code, state, error)
         ON CONFLICT (brand_id, code) DO UPDATE
         SET state = excluded.state, error = excluded.error, updated_at = now()",
    )
    .bind::<BigInt, _>(brand_id)
    .bind::<Array<Text>, _>(codes)
    .bind::<Array<Text>, _>(kinds)
    .bind::<Array<Nullable<Text>>, _>(errors)
    .execute(conn)
    .await?;
    Ok(())
}

/// The current code's state in the shop for each membership that has a code,
/// where the brand has a connected store and the offer a shopper discount
/// (PENDING until a round recorded one).
#[derive(QueryableByName, Clone, Debug)]
pub struct MembershipCodeState {
    #[diesel(sql_type = BigInt)]
    pub membership_id: MembershipId,
    #[diesel(sql_type = Text)]
    pub state: CodeSyncState,
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
}

pub async fn states_for_memberships(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    membership_ids: &[MembershipId],
) -> DbResult<Vec<MembershipCodeState>> {
    Ok(diesel::sql_query(
        "SELECT p.membership_id, COALESCE(s.state, 'PENDING') AS state, s.error
         FROM promo_codes p
         LEFT JOIN promo_code_sync s ON s.brand_id = p.brand_id AND s.code = p.code
         WHERE p.brand_id = $1 AND p.membership_id = ANY($2) AND p.disabled_at IS NULL
           AND EXISTS (SELECT 1 FROM shopify_stores st WHERE st.brand_id = p.brand_id AND st.status = 'CONNECTED')
           AND EXISTS (SELECT 1 FROM memberships m
                       JOIN shopper_discounts d ON d.brand_id = m.brand_id AND d.offer_id = m.offer_id
                       WHERE m.brand_id = p.brand_id AND m.id = p.membership_id)",
    )
    .bind::<BigInt, _>(brand_id)
    .bind::<Array<BigInt>, _>(membership_ids)
    .load(conn)
    .await?)
}
