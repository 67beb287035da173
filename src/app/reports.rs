//! Reports: the home page's offers table and totals, an offer's member table,
//! KPI blocks for any offers or memberships, and series for charts. The figures
//! come from the rollups and the ledger (`db::reporting`); the rules that combine
//! them are `domain::kpis` and `domain::report`. GraphQL and the CSV exports
//! both read them here.

use std::collections::HashMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use diesel_async::AsyncPgConnection;
use diesel_async::scoped_futures::ScopedFutureExt;
use rust_decimal::Decimal;

use super::audit::audited;
use super::{AppError, AppResult, Caller};
use crate::db::models::{MembershipRow, OfferRow};
pub use crate::db::replica::{ReadSource, ReportReads};
pub use crate::db::reporting::SeriesScope;
use crate::db::reporting::{self, FigureScope};
use crate::db::{DbResult, members, memberships, offers};
use crate::domain::date_range::{ALL_TIME_START, DateRange, SeriesInterval};
use crate::domain::enums::{OfferStatus, OfferType};
use crate::domain::ids::{BrandId, MemberId, MembershipId, OfferId, ProjectId};
use crate::domain::kpis::{Kpi, Kpis, SeriesPart, existed_during};
use crate::domain::report::{Column, KpiBounds, SortDirection, SortKey, sort_rows};

/// Which offers the home page covers.
#[derive(Clone, Debug)]
pub struct OfferSelection {
    pub statuses: Vec<OfferStatus>,
    /// None: both types.
    pub types: Option<Vec<OfferType>>,
    /// Only offers connected to one of these projects.
    pub project_ids: Option<Vec<ProjectId>>,
    /// Only offers whose name contains this (any case).
    pub search: Option<String>,
    /// Bounds on the offers' KPIs for the report's range.
    pub bounds: KpiBounds,
}

impl Default for OfferSelection {
    fn default() -> Self {
        OfferSelection {
            statuses: vec![OfferStatus::Active],
            types: None,
            project_ids: None,
            search: None,
            bounds: KpiBounds::default(),
        }
    }
}

/// An offer's status as shown: `EXPIRED` once its end date has passed.
pub fn effective_status(offer: &OfferRow, today: NaiveDate) -> OfferStatus {
    OfferStatus::effective(offer.status, offer.ends_on.is_some_and(|end| end < today))
}

/// Offers that pass a selection's status, type, project and search conditions (not its KPI bounds).
pub async fn offers_in(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    selection: &OfferSelection,
) -> AppResult<Vec<OfferRow>> {
    let today = caller.today();
    let rows = offers::all(conn, caller.brand_id).await?;
    let projects_of = match &selection.project_ids {
        Some(_) => reporting::offer_project_ids(conn, caller.brand_id).await?,
        None => HashMap::new(),
    };
    let needle = selection.search.as_deref().map(str::to_lowercase);
    let mut selected = Vec::new();
    for offer in rows {
        if !selection.statuses.contains(&effective_status(&offer, today)) {
            continue;
        }
        let of_type = |types: &Vec<OfferType>| types.contains(&offer.offer_type);
        let in_projects = |wanted: &Vec<ProjectId>| {
            projects_of
                .get(&offer.id)
                .is_some_and(|has| has.iter().any(|p| wanted.contains(p)))
        };
        if selection.types.as_ref().is_none_or(of_type)
            && selection.project_ids.as_ref().is_none_or(in_projects)
            && needle.as_ref().is_none_or(|n| offer.name.to_lowercase().contains(n))
        {
            selected.push(offer);
        }
    }
    Ok(selected)
}

/// Offers that pass a whole selection, KPI bounds included, each with its KPIs.
pub struct OfferReport {
    pub offers: Vec<(OfferRow, Kpis)>,
}

impl OfferReport {
    /// The KPIs of all its offers together.
    pub fn total(&self) -> Kpis {
        let mut total = Kpis::default();
        for (_, offer_kpis) in &self.offers {
            total += offer_kpis;
        }
        total
    }
}

/// The offers of a selection with their KPIs for `range`. `conn` reads the offers,
/// `report_conn` the figures.
pub async fn offer_report(
    conn: &mut AsyncPgConnection,
    report_conn: &mut AsyncPgConnection,
    caller: &Caller,
    selection: &OfferSelection,
    range: DateRange,
) -> AppResult<OfferReport> {
    let candidates = offers_in(conn, caller, selection).await?;
    let offer_ids: Vec<OfferId> = candidates.iter().map(|o| o.id).collect();
    let bounds = range.utc_bounds(caller.time_zone);
    let mut kpis = reporting::offer_kpis(report_conn, caller.brand_id, &offer_ids, range, bounds, Utc::now()).await?;
    let offers = candidates
        .into_iter()
        .map(|o| {
            let figures = kpis.remove(&o.id).unwrap_or_default();
            (o, figures)
        })
        .filter(|(_, kpis)| selection.bounds.contain(kpis))
        .collect();
    Ok(OfferReport { offers })
}

/// Orders the offers table by `column`; `PROMO_CODE` and `TRACKING_URL` are not its columns.
pub fn sort_offers(
    rows: &mut [(OfferRow, Kpis)],
    column: Column,
    direction: SortDirection,
    today: NaiveDate,
) -> AppResult<()> {
    if matches!(column, Column::PromoCode | Column::TrackingUrl) {
        return Err(AppError::bad_input(
            "the offers table has no PROMO_CODE or TRACKING_URL column to sort by",
        ));
    }
    sort_rows(rows, direction, |(offer, kpis)| {
        let key = match column {
            Column::Name => SortKey::Text(offer.name.to_lowercase()),
            Column::Type => SortKey::Text(offer.offer_type.as_str().to_string()),
            Column::Status => SortKey::Text(effective_status(offer, today).as_str().to_string()),
            Column::PromoCode | Column::TrackingUrl => SortKey::Text(String::new()),
            Column::CreatedAt => SortKey::Time(offer.created_at),
            Column::Kpi(kpi) => kpi.of(kpis).into(),
        };
        (key, offer.id)
    });
    Ok(())
}

/// Which memberships an offer's member table shows.
#[derive(Clone, Debug, Default)]
pub struct MembershipSelection {
    /// Only active (true) or only inactive and removed (false) memberships.
    pub active: Option<bool>,
    /// Only removed (true) or only current (false) memberships; none: both.
    pub removed: Option<bool>,
    /// Only members whose name or promo code contains this (any case).
    pub search: Option<String>,
    pub bounds: KpiBounds,
}

/// One row of an offer's member table.
#[derive(Clone, Debug)]
pub struct MembershipLine {
    pub membership: MembershipRow,
    pub member_name: String,
    pub promo_code: Option<String>,
    pub kpis: Kpis,
}

impl MembershipLine {
    /// Active, and not removed.
    pub fn is_active(&self) -> bool {
        self.membership.active && self.membership.removed_at.is_none()
    }

    /// `ACTIVE`, `INACTIVE` or `REMOVED`, as the Status column reads and sorts.
    pub fn status(&self) -> &'static str {
        match (self.membership.removed_at, self.membership.active) {
            (Some(_), _) => "REMOVED",
            (None, true) => "ACTIVE",
            (None, false) => "INACTIVE",
        }
    }
}

/// Builds an offer's member table from its rows and what was loaded for them:
/// filtered, searched and sorted (ties by id).
pub fn membership_table(
    lines: Vec<MembershipLine>,
    selection: &MembershipSelection,
    column: Column,
    direction: SortDirection,
) -> Vec<MembershipLine> {
    let needle = selection
        .search
        .as_deref()
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty());
    let mut listed: Vec<MembershipLine> = lines
        .into_iter()
        .filter(|line| {
            let code = line.promo_code.as_deref().unwrap_or_default().to_lowercase();
            selection.active.is_none_or(|wanted| wanted == line.is_active())
                && selection
                    .removed
                    .is_none_or(|wanted| wanted == line.membership.removed_at.is_some())
                && selection.bounds.contain(&line.kpis)
                && needle
                    .as_ref()
                    .is_none_or(|n| line.member_name.to_lowercase().contains(n) || code.contains(n))
        })
        .collect();
    sort_rows(&mut listed, direction, |line| {
        let key = match column {
            Column::Name => SortKey::Text(line.member_name.to_lowercase()),
            Column::Type => SortKey::Text(String::new()),
            Column::Status => SortKey::Text(line.status().into()),
            Column::PromoCode => SortKey::Text(line.promo_code.clone().unwrap_or_default()),
            Column::TrackingUrl => SortKey::Text(line.membership.link_code.clone().unwrap_or_default()),
            Column::CreatedAt => SortKey::Time(line.membership.joined_at),
            Column::Kpi(kpi) => kpi.of(&line.kpis).into(),
        };
        (key, line.membership.id)
    });
    listed
}

/// An offer's whole member table for `range`, read at once (the CSV export's;
/// GraphQL assembles the same table from its loaders).
pub async fn membership_report(
    conn: &mut AsyncPgConnection,
    report_conn: &mut AsyncPgConnection,
    caller: &Caller,
    offer_id: OfferId,
    selection: &MembershipSelection,
    range: DateRange,
    sort: (Column, SortDirection),
) -> AppResult<(OfferRow, Vec<MembershipLine>)> {
    let offer = offers::find(conn, caller.brand_id, offer_id)
        .await?
        .ok_or(AppError::NotFound("offer"))?;
    let rows = memberships::for_offers(conn, caller.brand_id, &[offer_id]).await?;
    let ids: Vec<MembershipId> = rows.iter().map(|m| m.id).collect();
    let member_ids: Vec<MemberId> = rows.iter().map(|m| m.member_id).collect();
    let names: HashMap<MemberId, String> = members::by_ids(conn, caller.brand_id, &member_ids)
        .await?
        .into_iter()
        .map(|m| (m.id, m.name))
        .collect();
    let mut codes = memberships::current_promo_codes(conn, caller.brand_id, &ids).await?;
    let keys: Vec<KpiKey> = ids.iter().map(|&id| KpiKey::Membership(id, range)).collect();
    let mut kpis = kpis_for(report_conn, caller.brand_id, caller.time_zone, &keys).await?;
    let lines = rows
        .into_iter()
        .map(|membership| MembershipLine {
            member_name: names.get(&membership.member_id).cloned().unwrap_or_default(),
            promo_code: codes.remove(&membership.id),
            kpis: kpis
                .remove(&KpiKey::Membership(membership.id, range))
                .unwrap_or_default(),
            membership,
        })
        .collect();
    Ok((offer, membership_table(lines, selection, sort.0, sort.1)))
}

/// What a loaded KPI block belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KpiKey {
    Offer(OfferId, DateRange),
    Membership(MembershipId, DateRange),
}

/// `kpis_for` through a request's report reads: on the replica while it is fresh
/// enough, and on the primary when the replica fails mid-read (it is then
/// marked down, so the requests after it go to the primary at once).
pub async fn kpis_read(
    reads: &ReportReads,
    brand_id: BrandId,
    zone: Tz,
    keys: &[KpiKey],
) -> AppResult<HashMap<KpiKey, Kpis>> {
    let (mut conn, source) = reads.conn().await?;
    match kpis_for(&mut conn, brand_id, zone, keys).await {
        Err(error) if matches!(source, ReadSource::Replica { .. }) => {
            let mut conn = reads.primary_after_replica_failed(&error).await?;
            Ok(kpis_for(&mut conn, brand_id, zone, keys).await?)
        }
        figures => Ok(figures?),
    }
}

/// The KPIs of many offers and memberships, one read per distinct date range.
pub async fn kpis_for(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    zone: Tz,
    keys: &[KpiKey],
) -> DbResult<HashMap<KpiKey, Kpis>> {
    let mut by_range: HashMap<DateRange, FigureScope> = HashMap::new();
    for key in keys {
        match *key {
            KpiKey::Offer(id, range) => by_range.entry(range).or_default().offer_ids.push(id),
            KpiKey::Membership(id, range) => by_range.entry(range).or_default().membership_ids.push(id),
        }
    }
    let mut loaded = HashMap::new();
    for (range, scope) in by_range {
        let (start, end) = range.utc_bounds(zone);
        if !scope.offer_ids.is_empty() {
            let mut by_offer =
                reporting::offer_kpis(conn, brand_id, &scope.offer_ids, range, (start, end), Utc::now()).await?;
            for &offer_id in &scope.offer_ids {
                let kpis = by_offer.remove(&offer_id).unwrap_or_default();
                loaded.insert(KpiKey::Offer(offer_id, range), kpis);
            }
        }
        if scope.membership_ids.is_empty() {
            continue;
        }
        let scope = FigureScope {
            offer_ids: vec![],
            membership_ids: scope.membership_ids,
        };
        let figures = reporting::membership_figures(conn, brand_id, &scope, range, Utc::now()).await?;
        for &membership_id in &scope.membership_ids {
            let kpis = Kpis::of(figures.iter().filter(|f| f.membership_id == membership_id), start, end);
            loaded.insert(KpiKey::Membership(membership_id, range), kpis);
        }
    }
    Ok(loaded)
}

/// The most points one series may have.
pub const MAX_POINTS: usize = 1_000;

/// Which of a series' figures are wanted; the others are not computed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeriesNeeds {
    pub members: bool,
    pub members_with_conversions: bool,
    /// Payments due and payouts: as of now, the same at every point.
    pub ledger: bool,
}

impl SeriesNeeds {
    /// What computing these KPIs takes.
    pub fn of(kpis: impl IntoIterator<Item = Kpi>) -> SeriesNeeds {
        let mut needs = SeriesNeeds::default();
        for kpi in kpis {
            match kpi.series_part() {
                SeriesPart::Members => needs.members = true,
                SeriesPart::MembersWithConversions => needs.members_with_conversions = true,
                SeriesPart::Ledger => needs.ledger = true,
                SeriesPart::Rollups => {}
            }
        }
        needs
    }
}

/// One point of a chart: the KPIs of one day, week or month (clipped to the range).
#[derive(Clone, Debug)]
pub struct Point {
    pub range: DateRange,
    /// The range cuts the week or month short (its first or last, or the one
    /// still going on): its figures cover only part of it.
    pub partial: bool,
    pub kpis: Kpis,
}

/// A KPI series over `scope`, computing only what `needs` asks for. Each point has its
/// own members, conversions and sales; the ledger figures (payments due, payouts) are
/// as of now, so every point shows `overall`'s, the scope's KPIs for the whole range.
pub async fn series(
    report_conn: &mut AsyncPgConnection,
    caller: &Caller,
    scope: SeriesScope,
    range: DateRange,
    interval: SeriesInterval,
    needs: SeriesNeeds,
    overall: &Kpis,
) -> AppResult<Vec<Point>> {
    let zone = caller.time_zone;
    let periods = reporting::membership_periods(report_conn, caller.brand_id, &scope).await?;
    let rows = reporting::buckets(
        report_conn,
        caller.brand_id,
        &scope,
        range,
        interval,
        needs.members_with_conversions,
    )
    .await?;
    // ALL_TIME starts long before anything happened: it begins at the first recorded
    // day. Any other range has every one of its buckets, zeros included.
    let first_day = if range.start == ALL_TIME_START {
        periods
            .iter()
            .map(|(joined_at, _)| joined_at.with_timezone(&zone).date_naive())
            .chain(rows.iter().map(|r| r.bucket))
            .min()
            .unwrap_or(range.end)
            .clamp(range.start, range.end)
    } else {
        range.start
    };
    let mut by_bucket: HashMap<NaiveDate, reporting::BucketRow> = rows.into_iter().map(|r| (r.bucket, r)).collect();
    let mut points = Vec::new();
    let mut start = interval.bucket_start(first_day);
    while start <= range.end {
        if points.len() == MAX_POINTS {
            return Err(AppError::bad_input(format!(
                "a series has at most {MAX_POINTS} points: choose a longer interval or a shorter range"
            )));
        }
        let next = interval.next_bucket(start);
        let last = next - Days::new(1);
        let clipped = DateRange {
            start: start.max(range.start),
            end: last.min(range.end),
        };
        let (from, to) = clipped.utc_bounds(zone);
        let row = by_bucket.remove(&start);
        let members = if needs.members {
            count_members(&periods, from, to)
        } else {
            0
        };
        points.push(Point {
            range: clipped,
            partial: (clipped.start, clipped.end) != (start, last),
            kpis: Kpis {
                members,
                members_with_conversions: row.as_ref().map_or(0, |r| r.members_with_conversions),
                conversions: row.as_ref().map_or(0, |r| r.conversions),
                clicks: row.as_ref().map_or(0, |r| r.clicks),
                total_sales: row.as_ref().map_or(Decimal::ZERO, |r| r.sales),
                commissions_earned: row.as_ref().map_or(Decimal::ZERO, |r| r.commission),
                ..overall.clone()
            },
        });
        start = next;
    }
    Ok(points)
}

fn count_members(periods: &[(DateTime<Utc>, Option<DateTime<Utc>>)], from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    let members = periods
        .iter()
        .filter(|&&(joined_at, removed_at)| existed_during(joined_at, removed_at, from, to))
        .count();
    i64::try_from(members).unwrap_or(i64::MAX)
}

/// Remembers which columns the caller's key shows in a table (audited like any change).
pub async fn set_table_columns(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    table: &'static str,
    columns: Vec<String>,
) -> AppResult<()> {
    let details = serde_json::json!({ "table": table, "columns": columns });
    audited(conn, caller, "setTableColumns", details, move |conn, caller| {
        async move {
            crate::db::table_columns::set(conn, caller.brand_id, caller.api_key_id, table, &columns).await?;
            Ok(())
        }
        .scope_boxed()
    })
    .await
}

/// How many rollup rows differ from a rebuild from the raw events, and how many
/// summaries differ from what they sum (the `check` command; both 0 when sound).
pub async fn derived_table_mismatches(conn: &mut AsyncPgConnection) -> AppResult<(i64, i64, i64)> {
    let rollups = crate::db::stats::mismatches_with_raw_events(conn).await?;
    let summaries = crate::db::stats::summary_mismatches(conn).await?;
    let dangling = crate::db::stats::dangling_references(conn).await?;
    Ok((rollups, summaries, dangling))
}

/// What a live subscription watches.
#[derive(Clone, Debug)]
pub enum Watched {
    /// The offers a selection makes, together (the home page).
    Offers(OfferSelection),
    /// One offer (its page).
    Offer(OfferId),
}

/// The KPIs a live subscription pushes, read on the primary: the change that
/// woke it was just committed there, and a replica may not have it yet.
pub async fn watched_kpis(app: &super::App, caller: &Caller, watched: &Watched, range: DateRange) -> AppResult<Kpis> {
    let reads = app.report_reads(caller.brand_id);
    reads.mark_writing();
    match watched {
        Watched::Offers(selection) => {
            let (mut report_conn, _) = reads.conn().await?;
            let report = offer_report(&mut *app.conn().await?, &mut report_conn, caller, selection, range).await?;
            Ok(report.total())
        }
        Watched::Offer(id) => {
            let key = KpiKey::Offer(*id, range);
            Ok(kpis_read(&reads, caller.brand_id, caller.time_zone, &[key])
                .await?
                .remove(&key)
                .unwrap_or_default())
        }
    }
}
