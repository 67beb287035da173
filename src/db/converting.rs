//! The memberships with accepted conversions, per offer and day and per offer and
//! month, as roaring bitmaps of membership ids (`offer_converting_members`).
//! Members with Conversions over a range is the size of the union of one bitmap
//! per offer and period: whole months from the monthly sets, partial months from
//! the days, picked as the rollups are (`db::reporting::range_rows`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Datelike, NaiveDate};
use diesel::sql_types::{Array, BigInt, Bool, Bytea, Date};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use roaring::RoaringTreemap;

use super::{DbError, DbResult};
use crate::domain::ids::{BrandId, MembershipId, OfferId};

/// One set: an offer's converting memberships on a day, or in a month.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SetKey {
    pub brand_id: BrandId,
    pub offer_id: OfferId,
    pub is_month: bool,
    pub period_start: NaiveDate,
}

fn first_of_month(day: NaiveDate) -> NaiveDate {
    day.with_day(1).expect("every month has a 1st")
}

fn encode(set: &RoaringTreemap) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(set.serialized_size());
    set.serialize_into(&mut bytes).expect("writing to a Vec cannot fail");
    bytes
}

fn decode(bytes: &[u8]) -> DbResult<RoaringTreemap> {
    RoaringTreemap::deserialize_from(bytes)
        .map_err(|e| DbError::CheckViolation(format!("offer_converting_members holds a bad bitmap: {e}")))
}

fn member(id: MembershipId) -> u64 {
    u64::try_from(id.0).expect("membership ids are positive")
}

/// A membership-day's conversions as a rollup upsert left them, with the change.
#[derive(Clone, Copy, Debug)]
pub struct DayChange {
    pub brand_id: BrandId,
    pub membership_id: MembershipId,
    pub day: NaiveDate,
    /// Conversions on the day after the change.
    pub conversions: i64,
    pub delta: i64,
}

impl DayChange {
    fn was_converting(&self) -> bool {
        self.conversions - self.delta > 0
    }

    fn is_converting(&self) -> bool {
        self.conversions > 0
    }
}

#[derive(diesel::QueryableByName)]
struct MonthState {
    #[diesel(sql_type = BigInt)]
    membership_id: MembershipId,
    #[diesel(sql_type = BigInt)]
    offer_id: OfferId,
    #[diesel(sql_type = Date)]
    month: NaiveDate,
    #[diesel(sql_type = BigInt)]
    conversions: i64,
}

#[derive(diesel::QueryableByName)]
struct StoredSet {
    #[diesel(sql_type = BigInt)]
    brand_id: BrandId,
    #[diesel(sql_type = BigInt)]
    offer_id: OfferId,
    #[diesel(sql_type = Bool)]
    is_month: bool,
    #[diesel(sql_type = Date)]
    period_start: NaiveDate,
    #[diesel(sql_type = Bytea)]
    members: Vec<u8>,
}

impl StoredSet {
    fn key(&self) -> SetKey {
        SetKey {
            brand_id: self.brand_id,
            offer_id: self.offer_id,
            is_month: self.is_month,
            period_start: self.period_start,
        }
    }
}

/// Updates the sets after the daily rollups changed (same transaction, after the
/// upsert, so the monthly rollups already include the change). Only a day whose
/// conversions went from none to some, or back, touches a set: a busy membership's
/// later orders that day cost nothing here.
pub async fn follow(conn: &mut AsyncPgConnection, changes: &[DayChange]) -> DbResult<()> {
    let flips: Vec<&DayChange> = changes
        .iter()
        .filter(|c| c.delta != 0 && c.was_converting() != c.is_converting())
        .collect();
    if flips.is_empty() {
        return Ok(());
    }
    // Each flipped membership-month: its offer and its conversions now.
    let (brands, memberships, months): (Vec<BrandId>, Vec<MembershipId>, Vec<NaiveDate>) = flips
        .iter()
        .map(|c| (c.brand_id, c.membership_id, first_of_month(c.day)))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .fold(Default::default(), |mut columns, (b, m, month)| {
            columns.0.push(b);
            columns.1.push(m);
            columns.2.push(month);
            columns
        });
    let states: Vec<MonthState> = diesel::sql_query(
        "SELECT k.membership_id, m.offer_id, k.month, COALESCE(s.conversions, 0) AS conversions
         FROM unnest($1::bigint[], $2::bigint[], $3::date[]) AS k (brand_id, membership_id, month)
         JOIN memberships m ON m.brand_id = k.brand_id AND m.id = k.membership_id
         LEFT JOIN membership_monthly_stats s
           ON s.brand_id = k.brand_id AND s.membership_id = k.membership_id AND s.month = k.month",
    )
    .bind::<Array<BigInt>, _>(&brands)
    .bind::<Array<BigInt>, _>(&memberships)
    .bind::<Array<Date>, _>(&months)
    .load(conn)
    .await?;
    let by_month: HashMap<(MembershipId, NaiveDate), &MonthState> =
        states.iter().map(|s| ((s.membership_id, s.month), s)).collect();
    // What this change added to each membership-month, to know its state before.
    let mut month_deltas: HashMap<(MembershipId, NaiveDate), i64> = HashMap::new();
    for c in changes {
        *month_deltas
            .entry((c.membership_id, first_of_month(c.day)))
            .or_default() += c.delta;
    }
    // Per set: memberships to add (true) or take out (false).
    let mut edits: BTreeMap<SetKey, Vec<(u64, bool)>> = BTreeMap::new();
    for flip in flips {
        let month = first_of_month(flip.day);
        let Some(state) = by_month.get(&(flip.membership_id, month)) else {
            continue;
        };
        let key = |is_month, period_start| SetKey {
            brand_id: flip.brand_id,
            offer_id: state.offer_id,
            is_month,
            period_start,
        };
        edits
            .entry(key(false, flip.day))
            .or_default()
            .push((member(flip.membership_id), flip.is_converting()));
        let before = state.conversions - month_deltas[&(flip.membership_id, month)];
        if (before > 0) != (state.conversions > 0) {
            edits
                .entry(key(true, month))
                .or_default()
                .push((member(flip.membership_id), state.conversions > 0));
        }
    }
    edit_sets(conn, edits).await
}

fn key_columns(keys: &[SetKey]) -> (Vec<BrandId>, Vec<OfferId>, Vec<bool>, Vec<NaiveDate>) {
    let mut columns: (Vec<BrandId>, Vec<OfferId>, Vec<bool>, Vec<NaiveDate>) = Default::default();
    for k in keys {
        columns.0.push(k.brand_id);
        columns.1.push(k.offer_id);
        columns.2.push(k.is_month);
        columns.3.push(k.period_start);
    }
    columns
}

/// Locks the sets (in key order, so concurrent writers cannot deadlock), applies
/// the edits and writes them back.
async fn edit_sets(conn: &mut AsyncPgConnection, edits: BTreeMap<SetKey, Vec<(u64, bool)>>) -> DbResult<()> {
    if edits.is_empty() {
        return Ok(());
    }
    let keys: Vec<SetKey> = edits.keys().copied().collect();
    let (brands, offers, is_month, periods) = key_columns(&keys);
    let empty = encode(&RoaringTreemap::new());
    diesel::sql_query(
        "INSERT INTO offer_converting_members (brand_id, offer_id, is_month, period_start, members)
         SELECT b, o, m, p, $5 FROM unnest($1::bigint[], $2::bigint[], $3::boolean[], $4::date[]) AS k (b, o, m, p)
         ORDER BY 1, 2, 3, 4
         ON CONFLICT DO NOTHING",
    )
    .bind::<Array<BigInt>, _>(&brands)
    .bind::<Array<BigInt>, _>(&offers)
    .bind::<Array<Bool>, _>(&is_month)
    .bind::<Array<Date>, _>(&periods)
    .bind::<Bytea, _>(&empty)
    .execute(conn)
    .await?;
    let stored: Vec<StoredSet> = diesel::sql_query(
        "SELECT s.brand_id, s.offer_id, s.is_month, s.period_start, s.members
         FROM offer_converting_members s
         JOIN unnest($1::bigint[], $2::bigint[], $3::boolean[], $4::date[]) AS k (b, o, m, p)
           ON s.brand_id = k.b AND s.offer_id = k.o AND s.is_month = k.m AND s.period_start = k.p
         ORDER BY 1, 2, 3, 4
         FOR UPDATE OF s",
    )
    .bind::<Array<BigInt>, _>(&brands)
    .bind::<Array<BigInt>, _>(&offers)
    .bind::<Array<Bool>, _>(&is_month)
    .bind::<Array<Date>, _>(&periods)
    .load(conn)
    .await?;
    let mut written = Vec::with_capacity(stored.len());
    for row in &stored {
        let mut set = decode(&row.members)?;
        for &(id, add) in &edits[&row.key()] {
            if add {
                set.insert(id);
            } else {
                set.remove(id);
            }
        }
        written.push(encode(&set));
    }
    let (brands, offers, is_month, periods) = key_columns(&stored.iter().map(StoredSet::key).collect::<Vec<_>>());
    diesel::sql_query(
        "UPDATE offer_converting_members s SET members = k.members
         FROM unnest($1::bigint[], $2::bigint[], $3::boolean[], $4::date[], $5::bytea[]) AS k (b, o, m, p, members)
         WHERE s.brand_id = k.b AND s.offer_id = k.o AND s.is_month = k.m AND s.period_start = k.p",
    )
    .bind::<Array<BigInt>, _>(&brands)
    .bind::<Array<BigInt>, _>(&offers)
    .bind::<Array<Bool>, _>(&is_month)
    .bind::<Array<Date>, _>(&periods)
    .bind::<Array<Bytea>, _>(&written)
    .execute(conn)
    .await?;
    Ok(())
}

/// An offer's set for one period of a report's range (`db::reporting` picks them).
#[derive(diesel::QueryableByName)]
pub struct OfferSet {
    #[diesel(sql_type = BigInt)]
    offer_id: OfferId,
    #[diesel(sql_type = Bytea)]
    members: Vec<u8>,
}

/// Members with Conversions per offer: the size of the union of its sets. Offers
/// without a set are absent.
pub fn count_members(sets: Vec<OfferSet>) -> DbResult<HashMap<OfferId, i64>> {
    let mut unions: HashMap<OfferId, RoaringTreemap> = HashMap::new();
    for set in sets {
        *unions.entry(set.offer_id).or_default() |= decode(&set.members)?;
    }
    Ok(unions
        .into_iter()
        .map(|(offer_id, set)| (offer_id, i64::try_from(set.len()).unwrap_or(i64::MAX)))
        .collect())
}

#[derive(diesel::QueryableByName)]
struct ConvertingDay {
    #[diesel(sql_type = BigInt)]
    brand_id: BrandId,
    #[diesel(sql_type = BigInt)]
    offer_id: OfferId,
    #[diesel(sql_type = Date)]
    day: NaiveDate,
    #[diesel(sql_type = BigInt)]
    membership_id: MembershipId,
}

/// The sets as the daily rollups say they should be (all brands, or one).
async fn expected(
    conn: &mut AsyncPgConnection,
    brand_id: Option<BrandId>,
) -> DbResult<BTreeMap<SetKey, RoaringTreemap>> {
    let days: Vec<ConvertingDay> = diesel::sql_query(
        "SELECT s.brand_id, m.offer_id, s.day, s.membership_id
         FROM membership_daily_stats s JOIN memberships m ON m.brand_id = s.brand_id AND m.id = s.membership_id
         WHERE s.conversions > 0 AND ($1::bigint IS NULL OR s.brand_id = $1)",
    )
    .bind::<diesel::sql_types::Nullable<BigInt>, _>(brand_id)
    .load(conn)
    .await?;
    Ok(sets_of(
        days.iter().map(|d| (d.brand_id, d.offer_id, d.membership_id, d.day)),
    ))
}

/// Day and month sets of converting membership-days `(brand, offer, membership, day)`.
pub fn sets_of(
    days: impl Iterator<Item = (BrandId, OfferId, MembershipId, NaiveDate)>,
) -> BTreeMap<SetKey, RoaringTreemap> {
    let mut sets: BTreeMap<SetKey, RoaringTreemap> = BTreeMap::new();
    for (brand_id, offer_id, membership_id, day) in days {
        for (is_month, period_start) in [(false, day), (true, first_of_month(day))] {
            let key = SetKey {
                brand_id,
                offer_id,
                is_month,
                period_start,
            };
            sets.entry(key).or_default().insert(member(membership_id));
        }
    }
    sets
}

/// A set as COPY text: its key's columns and its bitmap as hex `bytea`.
pub fn copy_row(key: &SetKey, set: &RoaringTreemap) -> String {
    use std::fmt::Write;
    let mut hex = String::with_capacity(set.serialized_size() * 2);
    for byte in encode(set) {
        let _ = write!(hex, "{byte:02x}");
    }
    format!(
        "{}\t{}\t{}\t{}\t\\\\x{hex}\n",
        key.brand_id.0,
        key.offer_id.0,
        if key.is_month { "t" } else { "f" },
        key.period_start
    )
}

async fn stored(conn: &mut AsyncPgConnection) -> DbResult<BTreeMap<SetKey, RoaringTreemap>> {
    let rows: Vec<StoredSet> =
        diesel::sql_query("SELECT brand_id, offer_id, is_month, period_start, members FROM offer_converting_members")
            .load(conn)
            .await?;
    let mut sets = BTreeMap::new();
    for row in rows {
        let set = decode(&row.members)?;
        if !set.is_empty() {
            sets.insert(row.key(), set);
        }
    }
    Ok(sets)
}

/// How many sets differ from a rebuild from the daily rollups (empty sets count as absent).
pub async fn mismatches(conn: &mut AsyncPgConnection) -> DbResult<i64> {
    let expected = expected(conn, None).await?;
    let stored = stored(conn).await?;
    let keys: BTreeSet<&SetKey> = expected.keys().chain(stored.keys()).collect();
    Ok(keys.into_iter().filter(|k| expected.get(k) != stored.get(k)).count() as i64)
}

/// Fills the sets from the daily rollups when they are missing (a database whose
/// rollups predate them); one server does it, the others wait and find it done.
pub async fn build_if_missing(conn: &mut AsyncPgConnection) -> DbResult<usize> {
    use diesel_async::AsyncConnection;
    use diesel_async::scoped_futures::ScopedFutureExt;
    #[derive(diesel::QueryableByName)]
    struct Built {
        #[diesel(sql_type = Bool)]
        built: bool,
    }
    let found: Built = diesel::sql_query("SELECT EXISTS (SELECT 1 FROM offer_converting_members) AS built")
        .get_result(conn)
        .await?;
    if found.built {
        return Ok(0);
    }
    conn.transaction::<_, DbError, _>(|conn| {
        async move {
            diesel::sql_query("LOCK TABLE offer_converting_members IN EXCLUSIVE MODE")
                .execute(conn)
                .await?;
            #[derive(diesel::QueryableByName)]
            struct Missing {
                #[diesel(sql_type = Bool)]
                missing: bool,
            }
            let state: Missing = diesel::sql_query(
                "SELECT NOT EXISTS (SELECT 1 FROM offer_converting_members)
                        AND EXISTS (SELECT 1 FROM membership_daily_stats WHERE conversions > 0) AS missing",
            )
            .get_result(conn)
            .await?;
            if !state.missing {
                return Ok(0);
            }
            let sets = expected(conn, None).await?;
            let built = sets.len();
            let (mut brands, mut offers, mut is_month, mut periods, mut members) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for (key, set) in &sets {
                brands.push(key.brand_id);
                offers.push(key.offer_id);
                is_month.push(key.is_month);
                periods.push(key.period_start);
                members.push(encode(set));
            }
            for start in (0..built).step_by(10_000) {
                let end = (start + 10_000).min(built);
                diesel::sql_query(
                    "INSERT INTO offer_converting_members (brand_id, offer_id, is_month, period_start, members)
                     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::boolean[], $4::date[], $5::bytea[])",
                )
                .bind::<Array<BigInt>, _>(&brands[start..end])
                .bind::<Array<BigInt>, _>(&offers[start..end])
                .bind::<Array<Bool>, _>(&is_month[start..end])
                .bind::<Array<Date>, _>(&periods[start..end])
                .bind::<Array<Bytea>, _>(&members[start..end])
                .execute(conn)
                .await?;
            }
            Ok(built)
        }
        .scope_boxed()
    })
    .await
}
