//! SPEC.md *KPIs*: the ten figures, computed from per-membership figures.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::money::round_to_cents;

use crate::domain::ids::{MembershipId, OfferId};

/// One membership's figures for a date range (from the daily rollups) and now
/// (from the ledger).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MembershipFigures {
    pub membership_id: MembershipId,
    pub offer_id: OfferId,
    pub joined_at: DateTime<Utc>,
    pub removed_at: Option<DateTime<Utc>>,
    pub clicks: i64,
    pub conversions: i64,
    pub sales: Decimal,
    pub commission: Decimal,
    /// Unpaid and past the hold period, net of clawbacks, as of now.
    pub due: Decimal,
    /// Paid out so far.
    pub paid: Decimal,
}

/// A membership that joined at `joined_at` (and left at `removed_at`) counts as a
/// member of `start..end` when it joined before the end and was not removed before the start.
pub fn existed_during(
    joined_at: DateTime<Utc>,
    removed_at: Option<DateTime<Utc>>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> bool {
    joined_at < end && removed_at.is_none_or(|removed| removed >= start)
}

impl MembershipFigures {
    pub fn existed_during(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        existed_during(self.joined_at, self.removed_at, start, end)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kpis {
    pub members: i64,
    pub members_with_conversions: i64,
    pub conversions: i64,
    pub clicks: i64,
    pub total_sales: Decimal,
    pub commissions_earned: Decimal,
    pub payments_due: Decimal,
    pub members_with_payments_due: i64,
    /// Paid out so far (the "payouts" column and filter).
    pub paid: Decimal,
}

fn per(amount: Decimal, count: i64) -> Option<Decimal> {
    (count > 0).then(|| round_to_cents(amount / Decimal::from(count)))
}

/// KPIs of disjoint sets of memberships (different offers) add up.
impl std::ops::AddAssign<&Kpis> for Kpis {
    fn add_assign(&mut self, other: &Kpis) {
        self.members += other.members;
        self.members_with_conversions += other.members_with_conversions;
        self.conversions += other.conversions;
        self.clicks += other.clicks;
        self.total_sales += other.total_sales;
        self.commissions_earned += other.commissions_earned;
        self.payments_due += other.payments_due;
        self.members_with_payments_due += other.members_with_payments_due;
        self.paid += other.paid;
    }
}

impl Kpis {
    /// Adds up memberships; `start..end` is the range as instants.
    pub fn of<'a>(
        figures: impl IntoIterator<Item = &'a MembershipFigures>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Kpis {
        let mut kpis = Kpis::default();
        for f in figures {
            if f.existed_during(start, end) {
                kpis.members += 1;
            }
            if f.conversions > 0 {
                kpis.members_with_conversions += 1;
            }
            kpis.conversions += f.conversions;
            kpis.clicks += f.clicks;
            kpis.total_sales += f.sales;
            kpis.commissions_earned += f.commission;
            kpis.paid += f.paid;
            if f.due > Decimal::ZERO {
                kpis.payments_due += f.due;
                kpis.members_with_payments_due += 1;
            }
        }
        kpis
    }

    /// Total Sales ÷ Members with Conversions; none when no member converted.
    pub fn sales_per_member(&self) -> Option<Decimal> {
        per(self.total_sales, self.members_with_conversions)
    }

    /// Commissions Earned ÷ Members with Conversions; none when no member converted.
    pub fn average_commission_per_member(&self) -> Option<Decimal> {
        per(self.commissions_earned, self.members_with_conversions)
    }

    /// Total Sales ÷ Conversions; none without conversions.
    pub fn average_sale(&self) -> Option<Decimal> {
        per(self.total_sales, self.conversions)
    }
}

/// The KPI table: every list of the KPIs (the GraphQL `Kpis` fields, the table
/// columns and sort keys, the KPI range filters, the CSV cells, the series
/// selection) is expanded from these rows by the macro given, so none can drift.
///
/// A row: variant, GraphQL field (snake case, then as the schema spells it), kind (`count`, `amount`, or `ratio`:
/// an amount that is null without a denominator), the figure, what a series needs
/// to compute it, the range filter's field if it has one, and its description.
#[macro_export]
macro_rules! kpi_table {
    ($then:ident) => {
        $then! {
            (Members, members, "members", count, |k| k.members, Members, [],
             "Memberships that existed during the range; a member in two offers counts twice.")
            (MembersWithConversions, members_with_conversions, "membersWithConversions", count, |k| k.members_with_conversions, MembersWithConversions, [],
             "Memberships with at least one accepted conversion in the range.")
            (Conversions, conversions, "conversions", count, |k| k.conversions, Rollups, [conversions],
             "Accepted conversions in the range.")
            (Clicks, clicks, "clicks", count, |k| k.clicks, Rollups, [clicks],
             "Counted (non-bot) clicks in the range.")
            (TotalSales, total_sales, "totalSales", amount, |k| k.total_sales, Rollups, [sales],
             "Sum of accepted conversions' sale amounts in the range.")
            (SalesPerMember, sales_per_member, "salesPerMember", ratio, |k| k.sales_per_member(), MembersWithConversions, [],
             "Total Sales ÷ Members with Conversions; null when none converted.")
            (CommissionsEarned, commissions_earned, "commissionsEarned", amount, |k| k.commissions_earned, Rollups, [commissions_earned],
             "Commission earned in the range: conversions, paid clicks and cash rewards.")
            (AverageCommissionPerMember, average_commission_per_member, "averageCommissionPerMember", ratio, |k| k.average_commission_per_member(), MembersWithConversions, [],
             "Commissions Earned ÷ Members with Conversions; null when none converted.")
            (PaymentsDue, payments_due, "paymentsDue", amount, |k| k.payments_due, Ledger, [],
             "Earned, past its hold period and not yet paid, net of clawbacks; as of now, not range-bound.")
            (MembersWithPaymentsDue, members_with_payments_due, "membersWithPaymentsDue", count, |k| k.members_with_payments_due, Ledger, [],
             "Memberships whose Payments Due is above zero.")
            (Payouts, payouts, "payouts", amount, |k| k.paid, Ledger, [payouts],
             "Paid out so far (not range-bound).")
            (AverageSale, average_sale, "averageSale", ratio, |k| k.average_sale(), Rollups, [average_sale],
             "Total Sales ÷ Conversions; null without conversions.")
        }
    };
}

/// What a series must compute for a KPI of each point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeriesPart {
    /// Memberships that existed during each point.
    Members,
    /// Memberships with a conversion during each point.
    MembersWithConversions,
    /// Sums of the daily rollups.
    Rollups,
    /// As of now, the same at every point.
    Ledger,
}

/// A KPI's value for one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KpiValue {
    Count(i64),
    Amount(Decimal),
    /// None when its denominator is zero.
    Ratio(Option<Decimal>),
}

impl KpiValue {
    /// As a number, a missing ratio as zero (what range filters compare).
    pub fn as_decimal(self) -> Decimal {
        match self {
            KpiValue::Count(count) => Decimal::from(count),
            KpiValue::Amount(amount) => amount,
            KpiValue::Ratio(ratio) => ratio.unwrap_or_default(),
        }
    }
}

macro_rules! kpi_value {
    (count, $figure:expr) => {
        KpiValue::Count($figure)
    };
    (amount, $figure:expr) => {
        KpiValue::Amount($figure)
    };
    (ratio, $figure:expr) => {
        KpiValue::Ratio($figure)
    };
}

macro_rules! define_kpi {
    ($( ($variant:ident, $field:ident, $name:literal, $kind:ident, |$k:ident| $figure:expr, $part:ident, [$($filter:ident)?], $doc:literal) )*) => {
        /// One of the ten dashboard KPIs and the two the tables add (SPEC.md *KPIs*).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Kpi {
            $( #[doc = $doc] $variant, )*
        }

        impl Kpi {
            pub const ALL: &[Kpi] = &[$(Kpi::$variant),*];

            /// This KPI of `kpis`.
            pub fn of(self, kpis: &Kpis) -> KpiValue {
                match self {
                    $( Kpi::$variant => kpi_value!($kind, (|$k: &Kpis| $figure)(kpis)), )*
                }
            }

            /// The GraphQL field, e.g. `commissionsEarned`.
            pub fn field(self) -> &'static str {
                match self {
                    $( Kpi::$variant => $name, )*
                }
            }

            /// The name its range filter goes by (`OfferFilter`'s field, and the CSV
            /// export's `{name}Min` / `{name}Max`), e.g. `commissionsEarned`; none
            /// when the tables cannot be filtered by it.
            pub fn filter_name(self) -> Option<String> {
                match self {
                    $( Kpi::$variant => None$(.or(Some(camel_case(stringify!($filter)))))?, )*
                }
            }

            /// What a series computes for it.
            pub fn series_part(self) -> SeriesPart {
                match self {
                    $( Kpi::$variant => SeriesPart::$part, )*
                }
            }
        }
    };
}

kpi_table!(define_kpi);

/// `commissions_earned` as `commissionsEarned`.
fn camel_case(snake: &str) -> String {
    let mut words = snake.split('_');
    let mut camel = words.next().unwrap_or_default().to_string();
    for word in words {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            camel.extend(first.to_uppercase());
            camel.push_str(chars.as_str());
        }
    }
    camel
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn filters_are_named_like_their_graphql_fields() {
        let named: Vec<(Kpi, String)> = Kpi::ALL
            .iter()
            .filter_map(|kpi| kpi.filter_name().map(|name| (*kpi, name)))
            .collect();
        assert_eq!(
            named,
            [
                (Kpi::Conversions, "conversions".to_string()),
                (Kpi::Clicks, "clicks".to_string()),
                (Kpi::TotalSales, "sales".to_string()),
                (Kpi::CommissionsEarned, "commissionsEarned".to_string()),
                (Kpi::Payouts, "payouts".to_string()),
                (Kpi::AverageSale, "averageSale".to_string()),
            ]
        );
    }

    #[test]
    fn the_ten_kpis() {
        let start = Utc::now() - Duration::days(30);
        let end = Utc::now();
        let base = MembershipFigures {
            membership_id: MembershipId(0),
            offer_id: OfferId(1),
            joined_at: start - Duration::days(100),
            removed_at: None,
            clicks: 0,
            conversions: 0,
            sales: Decimal::ZERO,
            commission: Decimal::ZERO,
            due: Decimal::ZERO,
            paid: Decimal::ZERO,
        };
        let figures = [
            MembershipFigures {
                membership_id: MembershipId(1),
                clicks: 10,
                conversions: 2,
                sales: d("100.00"),
                commission: d("10.00"),
                due: d("5.00"),
                ..base.clone()
            },
            MembershipFigures {
                membership_id: MembershipId(2),
                clicks: 5,
                conversions: 1,
                sales: d("50.01"),
                commission: d("5.00"),
                due: d("-2.00"),
                ..base.clone()
            },
            // Removed before the range: not a member, but its money still counts.
            MembershipFigures {
                membership_id: MembershipId(3),
                removed_at: Some(start - Duration::days(1)),
                due: d("1.50"),
                ..base.clone()
            },
            // Joined after the range.
            MembershipFigures {
                membership_id: MembershipId(4),
                joined_at: end + Duration::seconds(1),
                ..base.clone()
            },
            MembershipFigures {
                membership_id: MembershipId(5),
                ..base.clone()
            },
        ];
        let kpis = Kpis::of(&figures, start, end);
        assert_eq!(kpis.members, 3);
        assert_eq!(kpis.members_with_conversions, 2);
        assert_eq!(kpis.conversions, 3);
        assert_eq!(kpis.clicks, 15);
        assert_eq!(kpis.total_sales, d("150.01"));
        assert_eq!(kpis.sales_per_member(), Some(d("75.00")), "75.005 rounds half-even");
        assert_eq!(kpis.commissions_earned, d("15.00"));
        assert_eq!(kpis.average_commission_per_member(), Some(d("7.50")));
        assert_eq!(
            kpis.payments_due,
            d("6.50"),
            "a member owing money back pays nothing and takes nothing off others"
        );
        assert_eq!(kpis.members_with_payments_due, 2);
        assert_eq!(kpis.average_sale(), Some(d("50.00")));
        let empty = Kpis::of(&[], start, end);
        assert_eq!(
            (empty.sales_per_member(), empty.average_commission_per_member()),
            (None, None)
        );
    }
}
