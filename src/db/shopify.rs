//! Brands' Shopify stores: one row per brand, its token sealed (see `app::secrets`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::DbResult;
use super::schema::{shopify_installs, shopify_stores};
use crate::domain::enums::{ShopConnection, ShopStatus};
use crate::domain::ids::{ApiKeyId, BrandId};

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = shopify_stores, check_for_backend(diesel::pg::Pg))]
pub struct StoreRow {
    pub brand_id: BrandId,
    pub shop_domain: String,
    pub shop_name: String,
    pub sealed_token: String,
    pub scopes: Vec<Option<String>>,
    pub connected_via: ShopConnection,
    pub status: ShopStatus,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub connected_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl StoreRow {
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scopes.iter().flatten().map(String::as_str)
    }
}

/// A store as it is connected.
pub struct Connected<'a> {
    pub shop_domain: &'a str,
    pub shop_name: &'a str,
    pub sealed_token: &'a str,
    pub scopes: &'a [String],
    pub connected_via: ShopConnection,
}

pub async fn find(conn: &mut AsyncPgConnection, brand_id: BrandId) -> DbResult<Option<StoreRow>> {
    Ok(shopify_stores::table
        .find(brand_id)
        .select(StoreRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Connects the brand's store, replacing any store it had.
pub async fn connect(conn: &mut AsyncPgConnection, brand_id: BrandId, store: Connected<'_>) -> DbResult<StoreRow> {
    Ok(diesel::insert_into(shopify_stores::table)
        .values((
            shopify_stores::brand_id.eq(brand_id),
            shopify_stores::shop_domain.eq(store.shop_domain),
            shopify_stores::shop_name.eq(store.shop_name),
            shopify_stores::sealed_token.eq(store.sealed_token),
            shopify_stores::scopes.eq(store.scopes),
            shopify_stores::connected_via.eq(store.connected_via),
            shopify_stores::status.eq(ShopStatus::Connected),
        ))
        .on_conflict(shopify_stores::brand_id)
        .do_update()
        .set((
            shopify_stores::shop_domain.eq(excluded(shopify_stores::shop_domain)),
            shopify_stores::shop_name.eq(excluded(shopify_stores::shop_name)),
            shopify_stores::sealed_token.eq(excluded(shopify_stores::sealed_token)),
            shopify_stores::scopes.eq(excluded(shopify_stores::scopes)),
            shopify_stores::connected_via.eq(excluded(shopify_stores::connected_via)),
            shopify_stores::status.eq(ShopStatus::Connected),
            shopify_stores::last_synced_at.eq(None::<DateTime<Utc>>),
            shopify_stores::last_error.eq(None::<String>),
            shopify_stores::connected_at.eq(diesel::dsl::now),
            shopify_stores::updated_at.eq(diesel::dsl::now),
        ))
        .returning(StoreRow::as_returning())
        .get_result(conn)
        .await?)
}

/// Disconnects the brand's store and forgets its token.
pub async fn disconnect(conn: &mut AsyncPgConnection, brand_id: BrandId) -> DbResult<Option<StoreRow>> {
    Ok(diesel::update(shopify_stores::table.find(brand_id))
        .set((
            shopify_stores::status.eq(ShopStatus::Disconnected),
            shopify_stores::sealed_token.eq(""),
            shopify_stores::updated_at.eq(diesel::dsl::now),
        ))
        .returning(StoreRow::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}

/// Notes a finished round of work with the store (`error` none) or its failure.
pub async fn record_sync(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    at: DateTime<Utc>,
    error: Option<&str>,
) -> DbResult<()> {
    let row = shopify_stores::table.find(brand_id);
    match error {
        None => {
            diesel::update(row)
                .set((
                    shopify_stores::last_synced_at.eq(at),
                    shopify_stores::last_error.eq(None::<String>),
                    shopify_stores::updated_at.eq(diesel::dsl::now),
                ))
                .execute(conn)
                .await?
        }
        Some(error) => {
            diesel::update(row)
                .set((
                    shopify_stores::last_error.eq(error),
                    shopify_stores::updated_at.eq(diesel::dsl::now),
                ))
                .execute(conn)
                .await?
        }
    };
    Ok(())
}

/// Every sealed token, for re-sealing under a new key.
pub async fn sealed_tokens(conn: &mut AsyncPgConnection) -> DbResult<Vec<(BrandId, String)>> {
    Ok(shopify_stores::table
        .filter(shopify_stores::sealed_token.ne(""))
        .select((shopify_stores::brand_id, shopify_stores::sealed_token))
        .load(conn)
        .await?)
}

/// Replaces a token's sealed form if it is still `was` (a connect in between wins).
pub async fn reseal(conn: &mut AsyncPgConnection, brand_id: BrandId, was: &str, sealed: &str) -> DbResult<bool> {
    let updated = diesel::update(
        shopify_stores::table
            .find(brand_id)
            .filter(shopify_stores::sealed_token.eq(was)),
    )
    .set(shopify_stores::sealed_token.eq(sealed))
    .execute(conn)
    .await?;
    Ok(updated == 1)
}

/// Notes an install an admin started, by its state's hash.
pub async fn start_install(
    conn: &mut AsyncPgConnection,
    state_hash: &str,
    brand_id: BrandId,
    api_key_id: ApiKeyId,
    shop_domain: &str,
    expires_at: DateTime<Utc>,
) -> DbResult<()> {
    diesel::insert_into(shopify_installs::table)
        .values((
            shopify_installs::state_hash.eq(state_hash),
            shopify_installs::brand_id.eq(brand_id),
            shopify_installs::api_key_id.eq(api_key_id),
            shopify_installs::shop_domain.eq(shop_domain),
            shopify_installs::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// An install as started: who asked, for which shop.
#[derive(Queryable, Debug)]
pub struct InstallRow {
    pub brand_id: BrandId,
    pub api_key_id: ApiKeyId,
    pub shop_domain: String,
}

/// Takes an install's state once, if it has not expired; none otherwise.
pub async fn take_install(
    conn: &mut AsyncPgConnection,
    state_hash: &str,
    now: DateTime<Utc>,
) -> DbResult<Option<InstallRow>> {
    Ok(diesel::update(
        shopify_installs::table
            .find(state_hash)
            .filter(shopify_installs::used_at.is_null())
            .filter(shopify_installs::expires_at.gt(now)),
    )
    .set(shopify_installs::used_at.eq(now))
    .returning((
        shopify_installs::brand_id,
        shopify_installs::api_key_id,
        shopify_installs::shop_domain,
    ))
    .get_result(conn)
    .await
    .optional()?)
}

/// The store connected (or last connected) with this domain.
pub async fn find_by_domain(conn: &mut AsyncPgConnection, shop_domain: &str) -> DbResult<Option<StoreRow>> {
    Ok(shopify_stores::table
        .filter(shopify_stores::shop_domain.eq(shop_domain))
        .order(shopify_stores::updated_at.desc())
        .select(StoreRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Forgets the shopper behind Shopify orders: the address hash and user agent of
/// the clicks they came through (`order_ids` none: every Shopify order of the
/// brand). Orders, amounts and attributions stay. How many clicks were cleared.
pub async fn redact_shoppers(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    order_ids: Option<&[String]>,
) -> DbResult<usize> {
    use diesel::sql_types::{Array, BigInt, Bool, Text};
    Ok(diesel::sql_query(
        "UPDATE clicks c SET ip_hash = NULL, user_agent = ''
         FROM conversions v
         WHERE v.brand_id = $1 AND v.source = 'shopify' AND v.click_id IS NOT NULL
           AND ($2 OR v.external_order_id = ANY($3))
           AND c.brand_id = v.brand_id AND c.id = v.click_id
           AND (c.ip_hash IS NOT NULL OR c.user_agent <> '')",
    )
    .bind::<BigInt, _>(brand_id)
    .bind::<Bool, _>(order_ids.is_none())
    .bind::<Array<Text>, _>(order_ids.unwrap_or_default())
    .execute(conn)
    .await?)
}

/// Deletes the brand's store row (Shopify's `shop/redact`, after an uninstall).
pub async fn forget(conn: &mut AsyncPgConnection, brand_id: BrandId) -> DbResult<()> {
    diesel::delete(shopify_stores::table.find(brand_id))
        .execute(conn)
        .await?;
    Ok(())
}

/// Every connected store.
pub async fn connected(conn: &mut AsyncPgConnection) -> DbResult<Vec<StoreRow>> {
    Ok(shopify_stores::table
        .filter(shopify_stores::status.eq(ShopStatus::Connected))
        .order(shopify_stores::brand_id)
        .select(StoreRow::as_select())
        .load(conn)
        .await?)
}
