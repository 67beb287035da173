//! Saved column choices of the two KPI tables, per API key.

use async_graphql::resolver_utils::EnumType;
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};

use super::context::{conn, viewer};
use super::error::{AppError, AppResult};
use crate::app::reads;
use crate::domain::kpis::Kpi;
use crate::domain::report::Column;

/// The dashboard's two tables.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum KpiTable {
    /// The home page's offers table.
    Offers,
    /// An offer page's member table.
    Memberships,
}

macro_rules! table_columns {
    ($( ($variant:ident, $field:ident, $name:literal, $kind:ident, |$k:ident| $figure:expr, $part:ident, [$($filter:ident)?], $doc:literal) )*) => {
        /// A column of a KPI table, named after its field: the row's own fields, then its KPIs.
        #[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
        pub enum TableColumn {
            /// The offer's or the member's name.
            Name,
            /// The offer's type.
            Type,
            /// The offer's status, or whether the membership is active.
            Status,
            /// The membership's promo code.
            PromoCode,
            /// The membership's tracking link.
            TrackingUrl,
            /// When the offer was created, or the member joined it.
            CreatedAt,
            $( #[doc = $doc] $variant, )*
        }

        impl TableColumn {
            /// The column as the reports know it.
            pub fn column(self) -> Column {
                match self {
                    TableColumn::Name => Column::Name,
                    TableColumn::Type => Column::Type,
                    TableColumn::Status => Column::Status,
                    TableColumn::PromoCode => Column::PromoCode,
                    TableColumn::TrackingUrl => Column::TrackingUrl,
                    TableColumn::CreatedAt => Column::CreatedAt,
                    $( TableColumn::$variant => Column::Kpi(Kpi::$variant), )*
                }
            }
        }
    };
}

crate::kpi_table!(table_columns);

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
        // A member table shows both the promo code and the link: the dashboard
        // leaves out the one an offer's type does not use.
        let first = match self {
            KpiTable::Offers => vec![Name, Type, Status, Members],
            KpiTable::Memberships => vec![Name, Status, PromoCode, TrackingUrl],
        };
        first
            .into_iter()
            .chain([Clicks, Conversions, TotalSales, CommissionsEarned, PaymentsDue])
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
        let saved = reads::table_columns(&mut *conn(ctx).await?, viewer, table.stored()).await?;
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

/// A table's columns to remember, in order.
#[derive(InputObject)]
pub struct SetTableColumnsInput {
    pub table: KpiTable,
    pub columns: Vec<TableColumn>,
}

#[derive(Default)]
pub struct ColumnMutations;

#[Object]
impl ColumnMutations {
    /// Remembers which columns this API key's table shows, in order. Any role may: it
    /// changes only the caller's own view.
    async fn set_table_columns(&self, ctx: &Context<'_>, input: SetTableColumnsInput) -> AppResult<TableColumns> {
        let SetTableColumnsInput { table, columns } = input;
        let viewer = viewer(ctx)?;
        if columns.is_empty() {
            return Err(AppError::bad_input("choose at least one column"));
        }
        let names: Vec<String> = columns.iter().map(|c| c.schema_name().to_string()).collect();
        if (1..names.len()).any(|i| names[..i].contains(&names[i])) {
            return Err(AppError::bad_input("a column appears twice"));
        }
        crate::app::reports::set_table_columns(&mut *conn(ctx).await?, *viewer, table.stored(), names).await?;
        Ok(TableColumns { table, columns })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_column_is_a_report_column_of_the_same_name() {
        for item in TableColumn::items() {
            assert_eq!(item.value.column().name(), item.name);
        }
        assert_eq!(TableColumn::items().len(), Column::all().count());
    }
}
