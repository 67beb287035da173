//! Sorting report rows by any column, both directions, ties broken by id.

use std::cmp::Ordering;

use async_graphql::{Enum, InputObject};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::db::models::OfferRow;
use crate::domain::kpis::Kpis;

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum SortDirection {
    Asc,
    #[default]
    Desc,
}

/// A column of a KPI table, named after its field.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum KpiColumn {
    Name,
    #[default]
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

/// How to order the offers table.
#[derive(InputObject, Clone, Copy, Default)]
pub struct OfferSort {
    pub field: KpiColumn,
    #[graphql(default_with = "SortDirection::Desc")]
    pub direction: SortDirection,
}

/// How to order an offer's memberships (`NAME` is the member's name, `CREATED_AT` when they joined).
#[derive(InputObject, Clone, Copy, Default)]
pub struct MembershipSort {
    pub field: KpiColumn,
    #[graphql(default_with = "SortDirection::Desc")]
    pub direction: SortDirection,
}

/// A comparable cell; a missing ratio sorts below every number.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
pub enum SortKey {
    Count(i64),
    Amount(Option<Decimal>),
    Text(String),
    Time(DateTime<Utc>),
}

impl KpiColumn {
    /// The cell of this column for a row with `name`, `created_at` and `kpis`.
    pub fn key(self, name: &str, created_at: DateTime<Utc>, kpis: &Kpis) -> SortKey {
        match self {
            KpiColumn::Name => SortKey::Text(name.to_lowercase()),
            KpiColumn::CreatedAt => SortKey::Time(created_at),
            KpiColumn::Members => SortKey::Count(kpis.members),
            KpiColumn::MembersWithConversions => SortKey::Count(kpis.members_with_conversions),
            KpiColumn::Conversions => SortKey::Count(kpis.conversions),
            KpiColumn::Clicks => SortKey::Count(kpis.clicks),
            KpiColumn::TotalSales => SortKey::Amount(Some(kpis.total_sales)),
            KpiColumn::SalesPerMember => SortKey::Amount(kpis.sales_per_member()),
            KpiColumn::CommissionsEarned => SortKey::Amount(Some(kpis.commissions_earned)),
            KpiColumn::AverageCommissionPerMember => SortKey::Amount(kpis.average_commission_per_member()),
            KpiColumn::PaymentsDue => SortKey::Amount(Some(kpis.payments_due)),
            KpiColumn::MembersWithPaymentsDue => SortKey::Count(kpis.members_with_payments_due),
            KpiColumn::Payouts => SortKey::Amount(Some(kpis.paid)),
            KpiColumn::AverageSale => SortKey::Amount(kpis.average_sale()),
        }
    }
}

/// Sorts rows by a column, ties broken by id in the same direction, so pages are stable.
pub fn sort_rows<T>(rows: &mut [T], direction: SortDirection, cell: impl Fn(&T) -> (SortKey, i64)) {
    rows.sort_by(|a, b| {
        let ordering: Ordering = cell(a).cmp(&cell(b));
        if direction == SortDirection::Desc {
            ordering.reverse()
        } else {
            ordering
        }
    });
}

impl OfferSort {
    pub fn apply(self, rows: &mut [(OfferRow, Kpis)]) {
        let field = self.field;
        sort_rows(rows, self.direction, |(offer, kpis)| {
            (field.key(&offer.name, offer.created_at, kpis), offer.id)
        });
    }
}
