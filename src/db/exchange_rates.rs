//! Reference exchange rates, by day, quoted against the euro.

use std::collections::HashMap;

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rust_decimal::Decimal;

use super::DbResult;
use super::schema::exchange_rates as rates;
use crate::domain::currency::DayRates;

#[derive(Insertable)]
#[diesel(table_name = rates)]
struct NewRate<'a> {
    day: NaiveDate,
    currency: &'a str,
    per_euro: Decimal,
    source: &'a str,
}

/// Keeps the days given (a day published again replaces what was kept of it);
/// returns how many rates were written.
pub async fn keep(conn: &mut AsyncPgConnection, days: &[DayRates], source: &str) -> DbResult<usize> {
    let rows: Vec<NewRate> = days
        .iter()
        .flat_map(|day| {
            day.per_euro.iter().map(move |(currency, per_euro)| NewRate {
                day: day.day,
                currency,
                per_euro: *per_euro,
                source,
            })
        })
        .collect();
    let mut written = 0;
    for chunk in rows.chunks(1_000) {
        written += diesel::insert_into(rates::table)
            .values(chunk)
            .on_conflict((rates::day, rates::currency))
            .do_update()
            .set((
                rates::per_euro.eq(excluded(rates::per_euro)),
                rates::source.eq(excluded(rates::source)),
                rates::fetched_at.eq(diesel::dsl::now),
            ))
            .execute(conn)
            .await?;
    }
    Ok(written)
}

/// The rates of the last published day on or before `day` (a weekend or a
/// holiday uses the business day before it), and their source.
pub async fn on_or_before(conn: &mut AsyncPgConnection, day: NaiveDate) -> DbResult<Option<(DayRates, String)>> {
    let published: Option<NaiveDate> = rates::table
        .filter(rates::day.le(day))
        .select(rates::day)
        .order(rates::day.desc())
        .first(conn)
        .await
        .optional()?;
    let Some(published) = published else {
        return Ok(None);
    };
    let rows: Vec<(String, Decimal, String)> = rates::table
        .filter(rates::day.eq(published))
        .select((rates::currency, rates::per_euro, rates::source))
        .load(conn)
        .await?;
    let source = rows
        .as_slice()
        .first()
        .map(|(_, _, source)| source.clone())
        .unwrap_or_default();
    let per_euro: HashMap<String, Decimal> = rows.into_iter().map(|(c, r, _)| (c, r)).collect();
    Ok(Some((
        DayRates {
            day: published,
            per_euro,
        },
        source,
    )))
}

/// Whether the rates kept ever quoted `currency` (the euro: whether any are kept).
pub async fn ever_quoted(conn: &mut AsyncPgConnection, currency: &str) -> DbResult<bool> {
    let quoting = rates::table.select(rates::day).into_boxed();
    let quoting = match currency {
        "EUR" => quoting,
        other => quoting.filter(rates::currency.eq(other.to_string())),
    };
    Ok(diesel::select(diesel::dsl::exists(quoting)).get_result(conn).await?)
}
