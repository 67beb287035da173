//! Saved column choices of the two KPI tables, per API key.

use async_graphql::resolver_utils::EnumType;
use async_graphql::{Context, Enum, Object, SimpleObject};

use super::context::{conn, viewer};
use super::error::{AppError, AppResult};
use crate::db::table_columns;

/// The dashboard's two tables.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum KpiTable {
    /// The home page's offers table.
    Offers,
    /// An offer page's member table.
    Memberships,
}

/// A column a KPI table can show, named after its field.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum TableColumn {
    Name,
    Type,
    Status,
    PromoCode,
    TrackingUrl,
    CreatedAt,
    Members,
    MembersWithConversions,
    Conversions,
    Clicks,
    TotalSales,
    SalesPerMember,
    CommissionsEarned,
    AverageCommissionPerMember,
    PaymentsDue,
    MembersWithPaymentsDue,
    Payouts,
    AverageSale,
}

impl KpiTable {
    fn stored(self) -> &'static str {
        match self {
            KpiTable::Offers => "OFFERS",
            KpiTable::Memberships => "MEMBERSHIPS",
        }
    }

    /// What a table shows until a key chooses.
    fn default_columns(self) -> Vec<TableColumn> {
        use TableColumn::*;
        let first = match self {
            KpiTable::Offers => vec![Name, Type, Status],
            KpiTable::Memberships => vec![Name, PromoCode],
        };
        first
            .into_iter()
            .chain([Members, Clicks, Conversions, TotalSales, CommissionsEarned, PaymentsDue])
            .collect()
    }
}

impl TableColumn {
    /// The column's name in the schema, e.g. `COMMISSIONS_EARNED`.
    pub fn schema_name(self) -> &'static str {
        TableColumn::items()
            .iter()
            .find(|item| item.value == self)
            .map_or("", |item| item.name)
    }
}

/// A table's columns, in order.
#[derive(SimpleObject)]
pub struct TableColumns {
    pub table: KpiTable,
    pub columns: Vec<TableColumn>,
}

#[derive(Default)]
pub struct ColumnQueries;

#[Object]
impl ColumnQueries {
    /// The columns this API key chose for a table, in order (the defaults until it chooses).
    async fn table_columns(&self, ctx: &Context<'_>, table: KpiTable) -> AppResult<Vec<TableColumn>> {
        let viewer = viewer(ctx)?;
        let saved = table_columns::get(
            &mut *conn(ctx).await?,
            viewer.brand_id,
            viewer.api_key_id,
            table.stored(),
        )
        .await?;
        let Some(saved) = saved else {
            return Ok(table.default_columns());
        };
        let all: Vec<TableColumn> = TableColumn::items().iter().map(|item| item.value).collect();
        // Names no longer in the schema are dropped rather than failing the table.
        Ok(saved
            .iter()
            .filter_map(|name| all.iter().copied().find(|c| c.schema_name() == *name))
            .collect())
    }
}

#[derive(Default)]
pub struct ColumnMutations;

#[Object]
impl ColumnMutations {
    /// Remembers which columns this API key's table shows, in order. Any role may: it
    /// changes only the caller's own view.
    async fn set_table_columns(
        &self,
        ctx: &Context<'_>,
        table: KpiTable,
        columns: Vec<TableColumn>,
    ) -> AppResult<TableColumns> {
        let viewer = viewer(ctx)?;
        if columns.is_empty() {
            return Err(AppError::bad_input("choose at least one column"));
        }
        let names: Vec<String> = columns.iter().map(|c| c.schema_name().to_string()).collect();
        if (1..names.len()).any(|i| names[..i].contains(&names[i])) {
            return Err(AppError::bad_input("a column appears twice"));
        }
        table_columns::set(
            &mut *conn(ctx).await?,
            viewer.brand_id,
            viewer.api_key_id,
            table.stored(),
            &names,
        )
        .await?;
        Ok(TableColumns { table, columns })
    }
}
