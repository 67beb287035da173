//! Daily rollups per membership: one upsert per key per batch, never a per-row trigger.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use super::DbResult;
use super::schema::membership_daily_stats as stats;

/// Change to one membership-day. Negative values undo (a refund, a rejection).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    pub clicks: i64,
    pub conversions: i64,
    pub sales: Decimal,
    pub commission: Decimal,
}

impl std::ops::AddAssign for Delta {
    fn add_assign(&mut self, other: Delta) {
        self.clicks += other.clicks;
        self.conversions += other.conversions;
        self.sales += other.sales;
        self.commission += other.commission;
    }
}

/// Changes gathered over a batch, keyed by (brand, membership, brand-local day).
/// A BTreeMap so rows are always locked in the same order, which keeps two
/// concurrent batches from deadlocking.
#[derive(Default)]
pub struct Deltas(BTreeMap<(i64, i64, NaiveDate), Delta>);

impl Deltas {
    pub fn add(&mut self, brand_id: i64, membership_id: i64, day: NaiveDate, delta: Delta) {
        *self.0.entry((brand_id, membership_id, day)).or_default() += delta;
    }

    /// Writes all changes in one statement. Call inside the events' transaction.
    pub async fn apply(self, conn: &mut AsyncPgConnection) -> DbResult<()> {
        let rows: Vec<_> = self
            .0
            .into_iter()
            .filter(|(_, d)| *d != Delta::default())
            .map(|((brand_id, membership_id, day), d)| {
                (
                    stats::brand_id.eq(brand_id),
                    stats::membership_id.eq(membership_id),
                    stats::day.eq(day),
                    stats::clicks.eq(d.clicks),
                    stats::conversions.eq(d.conversions),
                    stats::sales.eq(d.sales),
                    stats::commission.eq(d.commission),
                )
            })
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        diesel::insert_into(stats::table)
            .values(rows)
            .on_conflict((stats::brand_id, stats::membership_id, stats::day))
            .do_update()
            .set((
                stats::clicks.eq(stats::clicks + excluded(stats::clicks)),
                stats::conversions.eq(stats::conversions + excluded(stats::conversions)),
                stats::sales.eq(stats::sales + excluded(stats::sales)),
                stats::commission.eq(stats::commission + excluded(stats::commission)),
            ))
            .execute(conn)
            .await?;
        Ok(())
    }
}
