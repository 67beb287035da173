use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::DbResult;
use super::schema::table_columns;

use crate::domain::ids::{ApiKeyId, BrandId};

/// The columns a key chose for a table, if it chose any.
pub async fn get(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    api_key_id: ApiKeyId,
    table: &str,
) -> DbResult<Option<Vec<String>>> {
    let saved: Option<Vec<Option<String>>> = table_columns::table
        .find((brand_id, api_key_id, table))
        .select(table_columns::column_names)
        .first(conn)
        .await
        .optional()?;
    Ok(saved.map(|names| names.into_iter().flatten().collect()))
}

pub async fn set(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    api_key_id: ApiKeyId,
    table: &str,
    columns: &[String],
) -> DbResult<()> {
    diesel::insert_into(table_columns::table)
        .values((
            table_columns::brand_id.eq(brand_id),
            table_columns::api_key_id.eq(api_key_id),
            table_columns::table_name.eq(table),
            table_columns::column_names.eq(columns.iter().cloned().map(Some).collect::<Vec<_>>()),
        ))
        .on_conflict((
            table_columns::brand_id,
            table_columns::api_key_id,
            table_columns::table_name,
        ))
        .do_update()
        .set((
            table_columns::column_names.eq(excluded(table_columns::column_names)),
            table_columns::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}
