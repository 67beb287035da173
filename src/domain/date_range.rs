//! Report date ranges: presets or custom inclusive dates, in the brand's time zone.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

pub use super::enums::{DateRangePreset, SeriesInterval};

/// The dates the API accepts: reports start in 2000 (ALL_TIME) and nothing is
/// planned past 2100, so date arithmetic never leaves chrono's range.
pub const FIRST_DATE: NaiveDate = NaiveDate::from_ymd_opt(2000, 1, 1).expect("valid date");
pub const LAST_DATE: NaiveDate = NaiveDate::from_ymd_opt(2100, 12, 31).expect("valid date");

/// Inclusive brand-local dates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DateRange {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

/// The earliest day `ALL_TIME` covers.
pub const ALL_TIME_START: NaiveDate = NaiveDate::from_ymd_opt(2000, 1, 1).expect("valid date");
/// Custom ranges may span at most this many days (about ten years).
pub const MAX_CUSTOM_DAYS: i64 = 3_653;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DateRangeError {
    #[error("give either a preset or both start and end")]
    Incomplete,
    #[error("give a preset or a start and end, not both")]
    Both,
    #[error("end {end} is before start {start}")]
    EndBeforeStart { start: NaiveDate, end: NaiveDate },
    #[error("a custom range may span at most ten years")]
    TooLong,
}

impl DateRange {
    /// The calendar months the range covers whole, as `[first, after_last)` month
    /// starts; empty (`first == after_last`) when it covers none.
    pub fn whole_months(&self) -> (NaiveDate, NaiveDate) {
        let start_month = self.start.with_day(1).expect("day 1 exists");
        let first = if self.start == start_month {
            start_month
        } else {
            start_month + Months::new(1)
        };
        let after_end = self.end + Days::new(1);
        let after_last = after_end.with_day(1).expect("day 1 exists");
        (first, after_last.max(first))
    }

    /// Whether the range covers its last month from the 1st up to a day before the
    /// month's end (that month is the `after_last` of `whole_months`).
    pub fn ends_inside_month(&self) -> bool {
        let (_, after_last) = self.whole_months();
        self.start <= after_last && after_last <= self.end
    }
}

fn months_back(today: NaiveDate, months: u32) -> NaiveDate {
    today
        .checked_sub_months(Months::new(months))
        .and_then(|d| d.checked_add_days(Days::new(1)))
        .unwrap_or(ALL_TIME_START)
}

impl DateRange {
    /// Resolves a preset for `today` (the brand's today).
    pub fn from_preset(preset: DateRangePreset, today: NaiveDate) -> DateRange {
        let start = match preset {
            DateRangePreset::Last7Days => today - Days::new(6),
            DateRangePreset::Last30Days => today - Days::new(29),
            DateRangePreset::Last3Months => months_back(today, 3),
            DateRangePreset::Last6Months => months_back(today, 6),
            DateRangePreset::Last12Months => months_back(today, 12),
            DateRangePreset::MonthToDate => today.with_day(1).expect("day 1 exists"),
            DateRangePreset::QuarterToDate => {
                let first_month = (today.month0() / 3) * 3 + 1;
                NaiveDate::from_ymd_opt(today.year(), first_month, 1).expect("quarter start exists")
            }
            DateRangePreset::YearToDate => NaiveDate::from_ymd_opt(today.year(), 1, 1).expect("January 1st exists"),
            DateRangePreset::AllTime => ALL_TIME_START,
        };
        DateRange { start, end: today }
    }

    /// A preset, or custom inclusive dates; neither means the default (last 6 months).
    pub fn resolve(
        preset: Option<DateRangePreset>,
        start: Option<NaiveDate>,
        end: Option<NaiveDate>,
        today: NaiveDate,
    ) -> Result<DateRange, DateRangeError> {
        match (preset, start, end) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(DateRangeError::Both),
            (Some(preset), None, None) => Ok(DateRange::from_preset(preset, today)),
            (None, None, None) => Ok(DateRange::from_preset(DateRangePreset::Last6Months, today)),
            (None, Some(start), Some(end)) if end < start => Err(DateRangeError::EndBeforeStart { start, end }),
            (None, Some(start), Some(end)) if (end - start).num_days() >= MAX_CUSTOM_DAYS => {
                Err(DateRangeError::TooLong)
            }
            (None, Some(start), Some(end)) => Ok(DateRange { start, end }),
            _ => Err(DateRangeError::Incomplete),
        }
    }

    /// The instants the range covers in `zone`: from the start day's first moment to
    /// the moment after the end day (so a 23- or 25-hour DST day counts whole).
    pub fn utc_bounds(&self, zone: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            start_of_day(self.start, zone),
            start_of_day(self.end + Days::new(1), zone),
        )
    }
}

/// The first moment of a local day (the earliest, if midnight repeats; the first
/// valid one, if midnight is skipped by a DST change).
pub fn start_of_day(day: NaiveDate, zone: Tz) -> DateTime<Utc> {
    let mut local = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    loop {
        if let Some(moment) = zone.from_local_datetime(&local).earliest() {
            return moment.with_timezone(&Utc);
        }
        local += chrono::Duration::minutes(30);
    }
}

impl SeriesInterval {
    /// The first day of the point holding `day`.
    pub fn bucket_start(self, day: NaiveDate) -> NaiveDate {
        match self {
            SeriesInterval::Day => day,
            SeriesInterval::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
            SeriesInterval::Month => day.with_day(1).expect("day 1 exists"),
        }
    }

    /// The first day of the point after the one starting on `start`.
    pub fn next_bucket(self, start: NaiveDate) -> NaiveDate {
        match self {
            SeriesInterval::Day => start + Days::new(1),
            SeriesInterval::Week => start + Days::new(7),
            SeriesInterval::Month => start + Months::new(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn whole_months_are_the_ones_inside_the_range() {
        let range = |a, b| DateRange { start: d(a), end: d(b) };
        assert_eq!(
            range("2026-05-25", "2026-11-24").whole_months(),
            (d("2026-06-01"), d("2026-11-01"))
        );
        assert_eq!(
            range("2026-06-01", "2026-11-30").whole_months(),
            (d("2026-06-01"), d("2026-12-01"))
        );
        assert_eq!(
            range("2026-02-01", "2026-02-28").whole_months(),
            (d("2026-02-01"), d("2026-03-01"))
        );
        let (first, after) = range("2026-03-05", "2026-03-20").whole_months();
        assert_eq!(first, after, "no whole month");
        let (first, after) = range("2026-03-05", "2026-04-02").whole_months();
        assert_eq!(first, after, "no whole month across a boundary");
    }

    #[test]
    fn a_range_ends_inside_a_month_it_covers_from_the_first() {
        let range = |a, b| DateRange { start: d(a), end: d(b) };
        assert!(range("2026-05-25", "2026-11-24").ends_inside_month());
        assert!(range("2026-11-01", "2026-11-24").ends_inside_month());
        assert!(
            !range("2026-06-01", "2026-11-30").ends_inside_month(),
            "ends on the last day"
        );
        assert!(
            !range("2026-11-05", "2026-11-24").ends_inside_month(),
            "starts after the 1st"
        );
        assert!(
            range("2026-03-05", "2026-04-02").ends_inside_month(),
            "April from the 1st to the 2nd"
        );
    }

    #[test]
    fn presets_end_today_and_start_where_named() {
        let today = d("2026-03-31");
        let start = |p| DateRange::from_preset(p, today).start;
        assert_eq!(start(DateRangePreset::Last7Days), d("2026-03-25"));
        assert_eq!(start(DateRangePreset::Last30Days), d("2026-03-02"));
        assert_eq!(start(DateRangePreset::Last3Months), d("2026-01-01"));
        assert_eq!(start(DateRangePreset::Last6Months), d("2025-10-01"));
        assert_eq!(start(DateRangePreset::Last12Months), d("2025-04-01"));
        assert_eq!(start(DateRangePreset::MonthToDate), d("2026-03-01"));
        assert_eq!(start(DateRangePreset::QuarterToDate), d("2026-01-01"));
        assert_eq!(start(DateRangePreset::YearToDate), d("2026-01-01"));
        assert_eq!(
            DateRange::from_preset(DateRangePreset::QuarterToDate, d("2026-11-24")).start,
            d("2026-10-01")
        );
        // Month ends: 6 months before August 31st is February 28th; the range starts the day after.
        assert_eq!(
            DateRange::from_preset(DateRangePreset::Last6Months, d("2026-08-31")).start,
            d("2026-03-01")
        );
        assert!(DateRange::from_preset(DateRangePreset::AllTime, today).end == today);
    }

    #[test]
    fn custom_ranges_are_checked() {
        let today = d("2026-11-24");
        assert_eq!(
            DateRange::resolve(None, None, None, today).unwrap(),
            DateRange::from_preset(DateRangePreset::Last6Months, today)
        );
        assert_eq!(
            DateRange::resolve(None, Some(d("2026-01-01")), Some(d("2026-01-31")), today).unwrap(),
            DateRange {
                start: d("2026-01-01"),
                end: d("2026-01-31")
            }
        );
        assert!(matches!(
            DateRange::resolve(None, Some(d("2026-02-01")), Some(d("2026-01-01")), today),
            Err(DateRangeError::EndBeforeStart { .. })
        ));
        assert_eq!(
            DateRange::resolve(None, Some(d("2010-01-01")), Some(d("2026-01-01")), today),
            Err(DateRangeError::TooLong)
        );
        assert_eq!(
            DateRange::resolve(None, Some(d("2026-01-01")), None, today),
            Err(DateRangeError::Incomplete)
        );
        assert_eq!(
            DateRange::resolve(Some(DateRangePreset::AllTime), Some(d("2026-01-01")), None, today),
            Err(DateRangeError::Both)
        );
    }

    #[test]
    fn days_follow_the_brand_zone_across_dst() {
        let zone = chrono_tz::America::New_York;
        // 2026-03-08 is 23 hours long in New York; 2026-11-01 is 25.
        let spring = DateRange {
            start: d("2026-03-08"),
            end: d("2026-03-08"),
        }
        .utc_bounds(zone);
        assert_eq!(spring.0.to_rfc3339(), "2026-03-08T05:00:00+00:00");
        assert_eq!((spring.1 - spring.0).num_hours(), 23);
        let autumn = DateRange {
            start: d("2026-11-01"),
            end: d("2026-11-01"),
        }
        .utc_bounds(zone);
        assert_eq!((autumn.1 - autumn.0).num_hours(), 25);
        // A zone whose midnight is skipped by DST starts the day at 01:00.
        let skipped = start_of_day(d("2026-03-29"), chrono_tz::America::Asuncion);
        assert!(skipped.with_timezone(&chrono_tz::America::Asuncion).date_naive() == d("2026-03-29"));
    }
}
