//! Reports: date ranges, offer filters, the `Kpis` type and its loader, series.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{Days, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use super::context::{Caller, ReportPool, conn, report_conn, viewer};
use super::error::{AppError, AppResult};
use super::ids::{Kind, decode_all};
use super::scalars::{Date, Money};
use crate::db::models::OfferRow;
use crate::db::reporting::{self, Scope, SeriesScope};
use crate::db::{DbError, DbPool, offers};
pub use crate::domain::date_range::SeriesInterval;
use crate::domain::date_range::{DateRange, DateRangePreset};
use crate::domain::enums::{OfferStatus, OfferType};
use crate::domain::kpis::{Kpis as Figures, existed_during};

/// A date range: a preset, or custom `start` and `end` dates (inclusive, in the
/// brand's time zone). Neither means the last 6 months.
#[derive(InputObject, Clone, Default)]
pub struct DateRangeInput {
    pub preset: Option<DateRangePreset>,
    pub start: Option<Date>,
    pub end: Option<Date>,
}

impl DateRangeInput {
    pub fn resolve(input: Option<&DateRangeInput>, viewer: &Caller) -> AppResult<DateRange> {
        let input = input.cloned().unwrap_or_default();
        DateRange::resolve(
            input.preset,
            input.start.map(|d| d.0),
            input.end.map(|d| d.0),
            viewer.today(),
        )
        .map_err(|e| AppError::bad_input(format!("dateRange: {e}")))
    }
}

/// Bounds on a count; either end may be left open.
#[derive(InputObject, Clone, Copy, Default)]
pub struct CountRange {
    pub min: Option<i64>,
    pub max: Option<i64>,
}

/// Bounds on an amount; either end may be left open.
#[derive(InputObject, Clone, Copy, Default)]
pub struct MoneyRange {
    pub min: Option<Money>,
    pub max: Option<Money>,
}

fn count_within(range: Option<CountRange>, value: i64) -> bool {
    range.is_none_or(|r| r.min.is_none_or(|min| value >= min) && r.max.is_none_or(|max| value <= max))
}

fn money_within(range: Option<MoneyRange>, value: Option<Decimal>) -> bool {
    range.is_none_or(|r| {
        let value = value.unwrap_or_default();
        r.min.is_none_or(|min| value >= min.0) && r.max.is_none_or(|max| value <= max.0)
    })
}

/// Bounds on a row's KPIs for the report's date range; every bound given must hold.
#[derive(InputObject, Clone, Default)]
pub struct KpiRanges {
    pub clicks: Option<CountRange>,
    pub conversions: Option<CountRange>,
    pub sales: Option<MoneyRange>,
    pub commissions_earned: Option<MoneyRange>,
    /// Amount paid out so far.
    pub payouts: Option<MoneyRange>,
    pub average_sale: Option<MoneyRange>,
}

impl KpiRanges {
    /// Whether any bound is given (else every row passes).
    pub fn any(&self) -> bool {
        self.clicks.is_some()
            || self.conversions.is_some()
            || self.sales.is_some()
            || self.commissions_earned.is_some()
            || self.payouts.is_some()
            || self.average_sale.is_some()
    }

    pub fn contain(&self, kpis: &Figures) -> bool {
        count_within(self.clicks, kpis.clicks)
            && count_within(self.conversions, kpis.conversions)
            && money_within(self.sales, Some(kpis.total_sales))
            && money_within(self.commissions_earned, Some(kpis.commissions_earned))
            && money_within(self.payouts, Some(kpis.paid))
            && money_within(self.average_sale, kpis.average_sale())
    }
}

/// Which offers the home page covers; the KPI ranges select offers by their KPIs.
#[derive(InputObject, Clone)]
pub struct OfferFilter {
    /// Offer statuses to include (default: `ACTIVE`).
    #[graphql(default_with = "vec![OfferStatus::Active]")]
    pub statuses: Vec<OfferStatus>,
    /// Offer types to include (default: both).
    pub types: Option<Vec<OfferType>>,
    /// Only offers connected to one of these projects.
    pub project_ids: Option<Vec<async_graphql::ID>>,
    #[graphql(flatten)]
    pub kpis: KpiRanges,
}

impl Default for OfferFilter {
    fn default() -> Self {
        OfferFilter {
            statuses: vec![OfferStatus::Active],
            types: None,
            project_ids: None,
            kpis: KpiRanges::default(),
        }
    }
}

/// Which memberships an offer page shows; the KPI ranges use the page's date range.
#[derive(InputObject, Clone, Default)]
pub struct MembershipFilter {
    /// Only active (true) or only inactive and removed (false) memberships.
    pub active: Option<bool>,
    #[graphql(flatten)]
    pub kpis: KpiRanges,
}

/// The ten dashboard KPIs (SPEC.md) for a date range.
pub struct Kpis {
    pub range: DateRange,
    pub figures: Figures,
}

/// The dates a figure covers.
#[derive(SimpleObject)]
pub struct DateRangeView {
    /// First day, inclusive.
    pub start: Date,
    /// Last day, inclusive.
    pub end: Date,
}

#[Object]
impl Kpis {
    /// The dates these figures cover, in the brand's time zone.
    async fn date_range(&self) -> DateRangeView {
        DateRangeView {
            start: Date(self.range.start),
            end: Date(self.range.end),
        }
    }

    /// Memberships that existed during the range; a member in two offers counts twice.
    async fn members(&self) -> i64 {
        self.figures.members
    }

    /// Memberships with at least one accepted conversion in the range.
    async fn members_with_conversions(&self) -> i64 {
        self.figures.members_with_conversions
    }

    /// Accepted conversions in the range.
    async fn conversions(&self) -> i64 {
        self.figures.conversions
    }

    /// Counted (non-bot) clicks in the range.
    async fn clicks(&self) -> i64 {
        self.figures.clicks
    }

    /// Sum of accepted conversions' sale amounts in the range.
    async fn total_sales(&self) -> Money {
        Money(self.figures.total_sales)
    }

    /// Total Sales ÷ Members with Conversions; null when none converted.
    async fn sales_per_member(&self) -> Option<Money> {
        self.figures.sales_per_member().map(Money)
    }

    /// Commission earned in the range: conversions, paid clicks and cash rewards.
    async fn commissions_earned(&self) -> Money {
        Money(self.figures.commissions_earned)
    }

    /// Commissions Earned ÷ Members with Conversions; null when none converted.
    async fn average_commission_per_member(&self) -> Option<Money> {
        self.figures.average_commission_per_member().map(Money)
    }

    /// Earned, past its hold period and not yet paid, net of clawbacks; as of now, not range-bound.
    async fn payments_due(&self) -> Money {
        Money(self.figures.payments_due)
    }

    /// Memberships whose Payments Due is above zero.
    async fn members_with_payments_due(&self) -> i64 {
        self.figures.members_with_payments_due
    }

    /// Paid out so far (not range-bound).
    async fn payouts(&self) -> Money {
        Money(self.figures.paid)
    }

    /// Total Sales ÷ Conversions; null without conversions.
    async fn average_sale(&self) -> Option<Money> {
        self.figures.average_sale().map(Money)
    }
}

/// What a loaded KPI block belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KpiKey {
    Offer(i64, DateRange),
    Membership(i64, DateRange),
}

/// KPIs of many offers or memberships, one query per distinct date range.
pub struct KpiLoader {
    pub pool: DbPool,
    pub brand_id: i64,
    pub zone: Tz,
}

impl Loader<KpiKey> for KpiLoader {
    type Value = Figures;
    type Error = Arc<DbError>;

    async fn load(&self, keys: &[KpiKey]) -> Result<HashMap<KpiKey, Figures>, Self::Error> {
        let mut by_range: HashMap<DateRange, Scope> = HashMap::new();
        for key in keys {
            match *key {
                KpiKey::Offer(id, range) => by_range.entry(range).or_default().offer_ids.push(id),
                KpiKey::Membership(id, range) => by_range.entry(range).or_default().membership_ids.push(id),
            }
        }
        let mut conn = self.pool.get().await.map_err(|e| Arc::new(DbError::from(e)))?;
        let mut loaded = HashMap::new();
        for (range, scope) in by_range {
            let (start, end) = range.utc_bounds(self.zone);
            if !scope.offer_ids.is_empty() {
                let mut by_offer = reporting::offer_kpis(
                    &mut conn,
                    self.brand_id,
                    &scope.offer_ids,
                    range,
                    (start, end),
                    Utc::now(),
                )
                .await
                .map_err(Arc::new)?;
                for &offer_id in &scope.offer_ids {
                    let kpis = by_offer.remove(&offer_id).unwrap_or_default();
                    loaded.insert(KpiKey::Offer(offer_id, range), kpis);
                }
            }
            if scope.membership_ids.is_empty() {
                continue;
            }
            let scope = Scope {
                offer_ids: vec![],
                membership_ids: scope.membership_ids,
            };
            let figures = reporting::membership_figures(&mut conn, self.brand_id, &scope, range, Utc::now())
                .await
                .map_err(Arc::new)?;
            for &membership_id in &scope.membership_ids {
                let kpis = Figures::of(figures.iter().filter(|f| f.membership_id == membership_id), start, end);
                loaded.insert(KpiKey::Membership(membership_id, range), kpis);
            }
        }
        Ok(loaded)
    }
}

/// The KPI loader of one request: values are cached for the request's lifetime.
pub fn kpi_loader(pool: &ReportPool, viewer: &Caller) -> DataLoader<KpiLoader, HashMapCache> {
    let loader = KpiLoader {
        pool: pool.0.clone(),
        brand_id: viewer.brand_id,
        zone: viewer.time_zone,
    };
    DataLoader::with_cache(loader, tokio::spawn, HashMapCache::default())
}

pub async fn load_kpis(ctx: &Context<'_>, key: KpiKey) -> AppResult<Figures> {
    let loader = ctx.data_unchecked::<DataLoader<KpiLoader, HashMapCache>>();
    Ok(loader.load_one(key).await?.unwrap_or_default())
}

/// Offers that pass a filter's status, type, project and search conditions (not its KPI ranges).
pub async fn offers_in_filter(
    ctx: &Context<'_>,
    filter: &OfferFilter,
    search: Option<&str>,
) -> AppResult<Vec<OfferRow>> {
    let viewer = viewer(ctx)?;
    let today = viewer.today();
    let project_ids = filter
        .project_ids
        .as_deref()
        .map(|ids| decode_all(Kind::Project, ids))
        .transpose()?;
    let mut conn = conn(ctx).await?;
    let rows = offers::all(&mut conn, viewer.brand_id).await?;
    let projects_of = match &project_ids {
        Some(_) => reporting::offer_project_ids(&mut conn, viewer.brand_id).await?,
        None => HashMap::new(),
    };
    let needle = search.map(str::to_lowercase);
    Ok(rows
        .into_iter()
        .filter(|o| {
            let status = OfferStatus::effective(
                OfferStatus::parse(&o.status).unwrap_or(OfferStatus::Archived),
                o.ends_on.is_some_and(|end| end < today),
            );
            filter.statuses.contains(&status)
        })
        .filter(|o| {
            filter
                .types
                .as_ref()
                .is_none_or(|types| OfferType::parse(&o.offer_type).is_some_and(|t| types.contains(&t)))
        })
        .filter(|o| {
            project_ids.as_ref().is_none_or(|wanted| {
                projects_of
                    .get(&o.id)
                    .is_some_and(|has| has.iter().any(|p| wanted.contains(p)))
            })
        })
        .filter(|o| needle.as_ref().is_none_or(|n| o.name.to_lowercase().contains(n)))
        .collect())
}

/// Offers that pass the whole filter, KPI ranges included, each with its KPIs for `range`.
pub struct OfferReport {
    pub offers: Vec<(OfferRow, Figures)>,
}

impl OfferReport {
    /// The KPIs of all its offers together.
    pub fn total(&self) -> Figures {
        let mut total = Figures::default();
        for (_, offer_kpis) in &self.offers {
            total += offer_kpis;
        }
        total
    }
}

pub async fn offer_report(
    ctx: &Context<'_>,
    filter: &OfferFilter,
    search: Option<&str>,
    range: DateRange,
) -> AppResult<OfferReport> {
    let viewer = viewer(ctx)?;
    let candidates = offers_in_filter(ctx, filter, search).await?;
    let offer_ids: Vec<i64> = candidates.iter().map(|o| o.id).collect();
    let bounds = range.utc_bounds(viewer.time_zone);
    let mut kpis = reporting::offer_kpis(
        &mut *report_conn(ctx).await?,
        viewer.brand_id,
        &offer_ids,
        range,
        bounds,
        Utc::now(),
    )
    .await?;
    let offers = candidates
        .into_iter()
        .map(|o| {
            let figures = kpis.remove(&o.id).unwrap_or_default();
            (o, figures)
        })
        .filter(|(_, kpis)| filter.kpis.contain(kpis))
        .collect();
    Ok(OfferReport { offers })
}

/// The most points one series may have.
const MAX_POINTS: usize = 1_000;

/// One point of a chart: the KPIs of one day, week or month (clipped to the range).
#[derive(SimpleObject)]
pub struct KpiPoint {
    pub start: Date,
    pub end: Date,
    pub kpis: Kpis,
}

/// Which of a series' figures a query selects; the others are not computed.
#[derive(Clone, Copy, Debug)]
pub struct SeriesNeeds {
    pub members: bool,
    pub members_with_conversions: bool,
    /// Payments due and payouts: as of now, the same at every point.
    pub ledger: bool,
}

impl SeriesNeeds {
    /// From the selection of a `kpiSeries` field (fragments included).
    pub fn of(ctx: &Context<'_>) -> SeriesNeeds {
        let kpis = ctx.look_ahead().field("kpis");
        let any = |fields: &[&str]| fields.iter().any(|&field| kpis.field(field).exists());
        SeriesNeeds {
            members: any(&["members"]),
            members_with_conversions: any(&["membersWithConversions", "salesPerMember", "averageCommissionPerMember"]),
            ledger: any(&["paymentsDue", "membersWithPaymentsDue", "payouts"]),
        }
    }
}

/// The series of one offer or one membership for the range in `key`; the ledger
/// figures come from the node's own KPIs, loaded only when selected.
pub async fn node_series(ctx: &Context<'_>, key: KpiKey, interval: SeriesInterval) -> AppResult<Vec<KpiPoint>> {
    let needs = SeriesNeeds::of(ctx);
    let overall = match needs.ledger {
        true => load_kpis(ctx, key).await?,
        false => Figures::default(),
    };
    let (scope, range) = match key {
        KpiKey::Offer(id, range) => (SeriesScope::Offers(vec![id]), range),
        KpiKey::Membership(id, range) => (SeriesScope::Membership(id), range),
    };
    series(ctx, scope, range, interval, needs, &overall).await
}

/// A KPI series over `scope`, computing only what `needs` asks for. Each point has its
/// own members, conversions and sales; the ledger figures (payments due, payouts) are
/// as of now, so every point shows `overall`'s, the scope's KPIs for the whole range.
pub async fn series(
    ctx: &Context<'_>,
    scope: SeriesScope,
    range: DateRange,
    interval: SeriesInterval,
    needs: SeriesNeeds,
    overall: &Figures,
) -> AppResult<Vec<KpiPoint>> {
    let viewer = viewer(ctx)?;
    let mut conn = report_conn(ctx).await?;
    let periods = reporting::membership_periods(&mut conn, viewer.brand_id, &scope).await?;
    let rows = reporting::buckets(
        &mut conn,
        viewer.brand_id,
        &scope,
        range,
        interval,
        needs.members_with_conversions,
    )
    .await?;
    // ALL_TIME starts long before anything happened: begin at the first recorded day.
    let first_day = periods
        .iter()
        .map(|(joined_at, _)| joined_at.with_timezone(&viewer.time_zone).date_naive())
        .chain(rows.iter().map(|r| r.bucket))
        .min()
        .unwrap_or(range.end)
        .max(range.start);
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
        let clipped = DateRange {
            start: start.max(range.start),
            end: (next - Days::new(1)).min(range.end),
        };
        let (from, to) = clipped.utc_bounds(viewer.time_zone);
        let row = by_bucket.remove(&start);
        let members = if needs.members {
            periods
                .iter()
                .filter(|&&(joined_at, removed_at)| existed_during(joined_at, removed_at, from, to))
                .count()
        } else {
            0
        };
        points.push(KpiPoint {
            start: Date(clipped.start),
            end: Date(clipped.end),
            kpis: Kpis {
                range: clipped,
                figures: Figures {
                    members: i64::try_from(members).unwrap_or(i64::MAX),
                    members_with_conversions: row.as_ref().map_or(0, |r| r.members_with_conversions),
                    conversions: row.as_ref().map_or(0, |r| r.conversions),
                    clicks: row.as_ref().map_or(0, |r| r.clicks),
                    total_sales: row.as_ref().map_or(Decimal::ZERO, |r| r.sales),
                    commissions_earned: row.as_ref().map_or(Decimal::ZERO, |r| r.commission),
                    ..overall.clone()
                },
            },
        });
        start = next;
    }
    Ok(points)
}

#[derive(Default)]
pub struct ReportQueries;

#[Object]
impl ReportQueries {
    /// The ten KPIs over the offers a filter selects (default: active offers, last 6 months).
    async fn kpis(
        &self,
        ctx: &Context<'_>,
        filter: Option<OfferFilter>,
        date_range: Option<DateRangeInput>,
    ) -> AppResult<Kpis> {
        let viewer = viewer(ctx)?;
        let range = DateRangeInput::resolve(date_range.as_ref(), viewer)?;
        let report = offer_report(ctx, &filter.unwrap_or_default(), None, range).await?;
        Ok(Kpis {
            range,
            figures: report.total(),
        })
    }

    /// The KPIs per day, week or month, for charts, over the offers a filter selects.
    async fn kpi_series(
        &self,
        ctx: &Context<'_>,
        filter: Option<OfferFilter>,
        date_range: Option<DateRangeInput>,
        #[graphql(default_with = "SeriesInterval::Day")] interval: SeriesInterval,
    ) -> AppResult<Vec<KpiPoint>> {
        let viewer = viewer(ctx)?;
        let range = DateRangeInput::resolve(date_range.as_ref(), viewer)?;
        let filter = filter.unwrap_or_default();
        let needs = SeriesNeeds::of(ctx);
        // The offers' KPIs only when the filter's ranges or the ledger figures need them.
        let (offer_ids, overall) = if filter.kpis.any() || needs.ledger {
            let report = offer_report(ctx, &filter, None, range).await?;
            (report.offers.iter().map(|(o, _)| o.id).collect(), report.total())
        } else {
            let offers = offers_in_filter(ctx, &filter, None).await?;
            (offers.iter().map(|o| o.id).collect(), Figures::default())
        };
        series(ctx, SeriesScope::Offers(offer_ids), range, interval, needs, &overall).await
    }
}
