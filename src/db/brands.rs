use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::models::{BrandRow, NewBrand};
use super::schema::brands;
use super::{DbError, DbResult};

use crate::domain::ids::BrandId;

/// Creates a brand whose slug is made from `base_slug`, adding `-2`, `-3`… if taken.
pub async fn create(conn: &mut AsyncPgConnection, name: &str, base_slug: &str, time_zone: &str) -> DbResult<BrandRow> {
    let taken: Vec<String> = brands::table
        .select(brands::slug)
        .filter(
            brands::slug
                .eq(base_slug)
                .or(brands::slug.like(format!("{base_slug}-%"))),
        )
        .load(conn)
        .await?;
    let slug = (1..)
        .map(|n| {
            if n == 1 {
                base_slug.to_string()
            } else {
                format!("{base_slug}-{n}")
            }
        })
        .find(|candidate| !taken.contains(candidate))
        .expect("an unbounded range always yields a free slug");
    let row = diesel::insert_into(brands::table)
        .values(NewBrand {
            slug: &slug,
            name,
            time_zone,
        })
        .returning(BrandRow::as_returning())
        .get_result(conn)
        .await?;
    Ok(row)
}

pub async fn find_by_slug(conn: &mut AsyncPgConnection, slug: &str) -> DbResult<BrandRow> {
    Ok(brands::table
        .filter(brands::slug.eq(slug))
        .select(BrandRow::as_select())
        .first(conn)
        .await?)
}

pub async fn find(conn: &mut AsyncPgConnection, brand_id: BrandId) -> DbResult<BrandRow> {
    brands::table
        .find(brand_id)
        .select(BrandRow::as_select())
        .first(conn)
        .await
        .map_err(DbError::from)
}

/// A brand and the secret its order webhooks are signed with, in one query.
pub async fn find_by_slug_with_secret(
    conn: &mut AsyncPgConnection,
    slug: &str,
) -> DbResult<(BrandRow, Option<String>)> {
    Ok(brands::table
        .filter(brands::slug.eq(slug))
        .select((BrandRow::as_select(), brands::webhook_secret))
        .first(conn)
        .await?)
}

pub async fn set_webhook_secret(conn: &mut AsyncPgConnection, brand_id: BrandId, secret: &str) -> DbResult<()> {
    diesel::update(brands::table.find(brand_id))
        .set(brands::webhook_secret.eq(secret))
        .execute(conn)
        .await?;
    Ok(())
}

/// A brand's stored time zone, read: one the code does not know is an error.
pub fn time_zone(brand_id: BrandId, stored: &str) -> DbResult<chrono_tz::Tz> {
    stored
        .parse()
        .map_err(|_| DbError::corrupt(format!("{brand_id} has time zone {stored:?}")))
}
