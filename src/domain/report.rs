//! What the dashboard's two tables show and how they order and filter rows.

use std::cmp::Reverse;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::kpis::{Kpi, KpiValue, Kpis};

/// A column of a KPI table: a row's own field, or one of its KPIs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Name,
    Type,
    Status,
    PromoCode,
    TrackingUrl,
    CreatedAt,
    Kpi(Kpi),
}

impl Column {
    /// Every column, in the order tables list them.
    pub fn all() -> impl Iterator<Item = Column> {
        [
            Column::Name,
            Column::Type,
            Column::Status,
            Column::PromoCode,
            Column::TrackingUrl,
            Column::CreatedAt,
        ]
        .into_iter()
        .chain(Kpi::ALL.iter().copied().map(Column::Kpi))
    }

    /// The column's name, e.g. `COMMISSIONS_EARNED` (as the schema spells it).
    pub fn name(self) -> String {
        let field = match self {
            Column::Name => "name",
            Column::Type => "type",
            Column::Status => "status",
            Column::PromoCode => "promoCode",
            Column::TrackingUrl => "trackingUrl",
            Column::CreatedAt => "createdAt",
            Column::Kpi(kpi) => kpi.field(),
        };
        let mut name = String::with_capacity(field.len() + 4);
        for c in field.chars() {
            if c.is_ascii_uppercase() {
                name.push('_');
            }
            name.push(c.to_ascii_uppercase());
        }
        name
    }

    /// The column named `name`, e.g. `TOTAL_SALES`.
    pub fn parse(name: &str) -> Option<Column> {
        Column::all().find(|column| column.name() == name)
    }

    /// Its header, in a file as in the dashboard's table of `rows`: `Offer`,
    /// `Joined`, `Commissions Earned`, `Members with Conversions`.
    pub fn label(self, rows: Rows) -> String {
        let text = match (self, rows) {
            (Column::Name, Rows::Offers) => "Offer",
            (Column::Name, Rows::Memberships) => "Member",
            (Column::Type, _) => "Type",
            (Column::Status, _) => "Status",
            (Column::PromoCode, _) => "Promo code",
            (Column::TrackingUrl, _) => "Link",
            (Column::CreatedAt, Rows::Offers) => "Created",
            (Column::CreatedAt, Rows::Memberships) => "Joined",
            (Column::Kpi(_), _) => "",
        };
        if !text.is_empty() {
            return text.to_string();
        }
        // A KPI as SPEC.md spells it: every word capitalised but "with" and "per".
        self.name()
            .split('_')
            .map(|word| match word {
                "WITH" | "PER" => word.to_lowercase(),
                _ => word[..1].to_string() + &word[1..].to_lowercase(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What a table lists: offers (the home page) or one offer's memberships.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rows {
    Offers,
    Memberships,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SortDirection {
    Asc,
    #[default]
    Desc,
}

/// A comparable cell; a missing ratio sorts below every number.
#[derive(PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum SortKey {
    Count(i64),
    Amount(Option<Decimal>),
    Text(String),
    Time(DateTime<Utc>),
}

impl From<KpiValue> for SortKey {
    fn from(value: KpiValue) -> Self {
        match value {
            KpiValue::Count(count) => SortKey::Count(count),
            KpiValue::Amount(amount) => SortKey::Amount(Some(amount)),
            KpiValue::Ratio(ratio) => SortKey::Amount(ratio),
        }
    }
}

/// Sorts rows by a key, ties broken by id in the same direction, so pages are
/// stable. Each row's key is built once (names are lower-cased, statuses worked out).
pub fn sort_rows<T, Id: Ord>(rows: &mut [T], direction: SortDirection, key: impl Fn(&T) -> (SortKey, Id)) {
    match direction {
        SortDirection::Asc => rows.sort_by_cached_key(key),
        SortDirection::Desc => rows.sort_by_cached_key(|row| Reverse(key(row))),
    }
}

/// Bounds on a value; either end may be left open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bound {
    pub min: Option<Decimal>,
    pub max: Option<Decimal>,
}

impl Bound {
    fn contains(self, value: Decimal) -> bool {
        self.min.is_none_or(|min| value >= min) && self.max.is_none_or(|max| value <= max)
    }
}

/// Bounds on a row's KPIs; every bound given must hold (a missing ratio counts as zero).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KpiBounds(pub Vec<(Kpi, Bound)>);

impl KpiBounds {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contain(&self, kpis: &Kpis) -> bool {
        self.0
            .iter()
            .all(|(kpi, bound)| bound.contains(kpi.of(kpis).as_decimal()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_hold_together_and_a_missing_ratio_is_zero() {
        let kpis = Kpis {
            clicks: 10,
            conversions: 0,
            ..Kpis::default()
        };
        let bound = |min: i64, max: i64| Bound {
            min: Some(Decimal::from(min)),
            max: Some(Decimal::from(max)),
        };
        assert!(KpiBounds(vec![(Kpi::Clicks, bound(5, 10))]).contain(&kpis));
        assert!(!KpiBounds(vec![(Kpi::Clicks, bound(5, 10)), (Kpi::Conversions, bound(1, 2))]).contain(&kpis));
        assert!(KpiBounds(vec![(Kpi::AverageSale, bound(0, 0))]).contain(&kpis));
        assert!(KpiBounds::default().contain(&kpis));
    }

    #[test]
    fn columns_are_named_as_the_schema_names_them() {
        assert_eq!(Column::Kpi(Kpi::CommissionsEarned).name(), "COMMISSIONS_EARNED");
        assert_eq!(Column::TrackingUrl.label(Rows::Memberships), "Link");
        assert_eq!(Column::CreatedAt.label(Rows::Memberships), "Joined");
        assert_eq!(
            Column::Kpi(Kpi::AverageCommissionPerMember).label(Rows::Offers),
            "Average Commission per Member"
        );
        assert_eq!(Column::parse("AVERAGE_SALE"), Some(Column::Kpi(Kpi::AverageSale)));
        assert_eq!(Column::parse("BANANA"), None);
        assert_eq!(Column::all().count(), 18);
    }

    #[test]
    fn ties_break_by_id_in_the_same_direction() {
        let mut rows = vec![(1, 5), (2, 7), (3, 5)];
        sort_rows(&mut rows, SortDirection::Desc, |&(id, n)| (SortKey::Count(n), id));
        assert_eq!(rows, [(2, 7), (3, 5), (1, 5)]);
        sort_rows(&mut rows, SortDirection::Asc, |&(id, n)| (SortKey::Count(n), id));
        assert_eq!(rows, [(1, 5), (3, 5), (2, 7)]);
        assert!(SortKey::Amount(None) < SortKey::Amount(Some(Decimal::ZERO)));
    }
}
