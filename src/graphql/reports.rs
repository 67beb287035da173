//! Reports in GraphQL: date ranges, filters, sorting, the `Kpis` type and its
//! loader, series, and the brand-wide `kpis` and `kpiSeries`. The KPI fields, the
//! range filters and the series selection are expanded from `kpi_table!`.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use chrono_tz::Tz;

use super::columns::TableColumn;
use super::context::{Caller, brand_currency, conn, exchange_rate, report_conn, viewer};
use super::error::{AppError, AppResult};
use super::ids::decode_all;
use super::scalars::{Date, Money};
use super::types::conversion::AppliedExchangeRate;
use crate::app::exchange_rates::ExchangeRate;
use crate::app::reports::ReportReads;
use crate::app::reports::SeriesScope;
use crate::app::reports::{self, KpiKey, MembershipSelection, OfferReport, OfferSelection, SeriesNeeds};
use crate::domain::currency::{at_rate, is_code};
use crate::domain::date_range::DateRange;
use crate::domain::ids::{BrandId, ProjectId};
use crate::domain::kpis::{Kpi, Kpis};
use crate::domain::report::{Bound, Column, KpiBounds};
use crate::graphql::enums::DateRangePreset;
pub use crate::graphql::enums::SeriesInterval;
use crate::graphql::enums::{OfferStatus, OfferType};
use rust_decimal::Decimal;

/// A date range: a preset, or custom `start` and `end` dates (inclusive, in the
/// brand's time zone). Neither means the last 6 months.
#[derive(InputObject, Clone, Default)]
pub struct DateRangeInput {
    pub preset: Option<DateRangePreset>,
    pub start: Option<Date>,
    pub end: Option<Date>,
}

impl DateRangeInput {
    pub fn resolve(input: Option<&DateRangeInput>, caller: &Caller) -> AppResult<DateRange> {
        let input = input.cloned().unwrap_or_default();
        DateRange::resolve(
            input.preset.map(Into::into),
            input.start.map(|d| d.0),
            input.end.map(|d| d.0),
            caller.today(),
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

impl From<CountRange> for Bound {
    fn from(range: CountRange) -> Self {
        Bound {
            min: range.min.map(Decimal::from),
            max: range.max.map(Decimal::from),
        }
    }
}

impl From<MoneyRange> for Bound {
    fn from(range: MoneyRange) -> Self {
        Bound {
            min: range.min.map(|m| m.0),
            max: range.max.map(|m| m.0),
        }
    }
}

/// The range input of a KPI of each kind.
macro_rules! range_of {
    (count) => {
        CountRange
    };
    (amount) => {
        MoneyRange
    };
    (ratio) => {
        MoneyRange
    };
}

/// A KPI field's GraphQL value, by kind, from its figure.
macro_rules! kpi_field {
    (count, $block:expr, $figure:expr) => {
        $figure
    };
    (amount, $block:expr, $figure:expr) => {
        Money($block.shown($figure))
    };
    (ratio, $block:expr, $figure:expr) => {
        $figure.map(|figure| Money($block.shown(figure)))
    };
}

macro_rules! kpi_field_type {
    (count) => { i64 };
    (amount) => { Money };
    (ratio) => { Option<Money> };
}

macro_rules! kpis_api {
    ($( ($variant:ident, $field:ident, $name:literal, $kind:ident, |$k:ident| $figure:expr, $part:ident, [$($filter:ident)?], $doc:literal) )*) => {
        /// Bounds on a row's KPIs for the report's date range; every bound given must hold.
        #[derive(InputObject, Clone, Default)]
        pub struct KpiRanges {
            $( $( #[doc = concat!("Only rows whose `", $name, "` is within these bounds (null counts as 0).")] pub $filter: Option<range_of!($kind)>, )? )*
        }

        impl KpiRanges {
            /// The bounds given, by KPI.
            pub fn bounds(&self) -> KpiBounds {
                let mut bounds = Vec::new();
                $( $( if let Some(range) = self.$filter { bounds.push((Kpi::$variant, Bound::from(range))); } )? )*
                KpiBounds(bounds)
            }
        }

        #[Object(name = "Kpis")]
        impl KpiBlock {
            /// The dates these figures cover, in the brand's time zone.
            async fn date_range(&self) -> DateRangeView {
                DateRangeView {
                    start: Date(self.range.start),
                    end: Date(self.range.end),
                }
            }

            /// The currency the amounts are in: the brand's, or the one asked for with `in`.
            async fn currency(&self, ctx: &Context<'_>) -> AppResult<String> {
                match &self.shown_in {
                    Some(rate) => Ok(rate.to.clone()),
                    None => Ok(brand_currency(ctx).await?.to_string()),
                }
            }

            /// The one rate the amounts were converted at when asked `in` another
            /// currency: an estimate, since each order was valued at its own day's
            /// rate. Null in the brand's currency.
            async fn exchange_rate(&self) -> Option<AppliedExchangeRate> {
                self.shown_in.as_ref().map(Into::into)
            }

            $(
                #[doc = $doc]
                async fn $field(&self) -> kpi_field_type!($kind) {
                    kpi_field!($kind, self, (|$k: &Kpis| $figure)(&self.figures))
                }
            )*
        }
    };
}

/// The ten dashboard KPIs (SPEC.md) and the two the tables add, for a date range
/// (the GraphQL `Kpis`).
pub struct KpiBlock {
    pub range: DateRange,
    pub figures: Kpis,
    /// Shown in another currency than the brand's (`rate.to`), at this one rate.
    pub shown_in: Option<ExchangeRate>,
}

impl KpiBlock {
    pub fn new(range: DateRange, figures: Kpis) -> Self {
        KpiBlock {
            range,
            figures,
            shown_in: None,
        }
    }

    /// An amount as shown: converted at the one rate when asked, rounded once.
    fn shown(&self, amount: Decimal) -> Decimal {
        match &self.shown_in {
            Some(rate) => at_rate(amount, rate.rate, &rate.to),
            None => amount,
        }
    }

    /// The same figures in `currency` at the rate for `on` (default today in the
    /// brand's zone); `BAD_USER_INPUT` for a code no rate is published for.
    pub async fn shown_in(mut self, ctx: &Context<'_>, currency: Option<String>, on: Option<Date>) -> AppResult<Self> {
        let Some(code) = currency.map(|code| code.trim().to_ascii_uppercase()) else {
            return Ok(self);
        };
        if !is_code(&code) {
            return Err(AppError::bad_input(format!(
                "in: {code:?} is not a currency code (three capital letters, e.g. EUR)"
            )));
        }
        let brand_currency = brand_currency(ctx).await?.to_string();
        if code == brand_currency {
            return Ok(self);
        }
        let on = on.map_or_else(|| viewer(ctx).map(Caller::today), |day| Ok(day.0))?;
        let rate = exchange_rate(ctx, &brand_currency, &code, on).await?.ok_or_else(|| {
            AppError::bad_input(format!(
                "no exchange rate from {brand_currency} to {code} is published for {on} or before"
            ))
        })?;
        self.shown_in = Some(rate);
        Ok(self)
    }
}

/// The dates a figure covers.
#[derive(SimpleObject)]
pub struct DateRangeView {
    /// First day, inclusive.
    pub start: Date,
    /// Last day, inclusive.
    pub end: Date,
}

crate::kpi_table!(kpis_api);

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

impl OfferFilter {
    /// The selection this filter and search text make.
    pub fn selection(&self, search: Option<&str>) -> AppResult<OfferSelection> {
        Ok(OfferSelection {
            statuses: self.statuses.iter().map(|&s| s.into()).collect(),
            types: self
                .types
                .as_ref()
                .map(|types| types.iter().map(|&t| t.into()).collect()),
            project_ids: self.project_ids.as_deref().map(decode_all::<ProjectId>).transpose()?,
            search: search.map(str::to_string),
            bounds: self.kpis.bounds(),
        })
    }
}

/// Which memberships an offer page shows; the KPI ranges use the page's date range.
#[derive(InputObject, Clone, Default)]
pub struct MembershipFilter {
    /// Only active (true) or only inactive and removed (false) memberships.
    pub active: Option<bool>,
    /// Only members removed from the offer (true) or only current ones (false);
    /// null: both. Removed members keep their history.
    pub removed: Option<bool>,
    #[graphql(flatten)]
    pub kpis: KpiRanges,
}

impl MembershipFilter {
    pub fn selection(&self, search: Option<String>) -> MembershipSelection {
        MembershipSelection {
            active: self.active,
            removed: self.removed,
            search,
            bounds: self.kpis.bounds(),
        }
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
#[graphql(remote = "crate::domain::report::SortDirection")]
pub enum SortDirection {
    Asc,
    #[default]
    Desc,
}

/// How to order the offers table (any column but `PROMO_CODE` and `TRACKING_URL`).
#[derive(InputObject, Clone, Copy)]
pub struct OfferSort {
    pub field: TableColumn,
    #[graphql(default_with = "SortDirection::Desc")]
    pub direction: SortDirection,
}

/// How to order an offer's memberships (`NAME` is the member's name, `CREATED_AT` when they joined).
#[derive(InputObject, Clone, Copy)]
pub struct MembershipSort {
    pub field: TableColumn,
    #[graphql(default_with = "SortDirection::Desc")]
    pub direction: SortDirection,
}

/// A sort's column and direction; newest first when none is given.
pub fn sort_order(sort: Option<(TableColumn, SortDirection)>) -> (Column, crate::domain::report::SortDirection) {
    let (field, direction) = sort.unwrap_or((TableColumn::CreatedAt, SortDirection::Desc));
    (field.column(), direction.into())
}

/// KPIs of many offers or memberships, one query per distinct date range.
pub struct KpiLoader {
    pub reads: Arc<ReportReads>,
    pub brand_id: BrandId,
    pub zone: Tz,
}

impl Loader<KpiKey> for KpiLoader {
    type Value = Kpis;
    type Error = AppError;

    async fn load(&self, keys: &[KpiKey]) -> Result<HashMap<KpiKey, Kpis>, Self::Error> {
        reports::kpis_read(&self.reads, self.brand_id, self.zone, keys).await
    }
}

/// The KPI loader of one request: values are cached for the request's lifetime.
pub fn kpi_loader(reads: Arc<ReportReads>, caller: &Caller) -> DataLoader<KpiLoader, HashMapCache> {
    let loader = KpiLoader {
        reads,
        brand_id: caller.brand_id,
        zone: caller.time_zone,
    };
    DataLoader::with_cache(loader, tokio::spawn, HashMapCache::default())
}

pub async fn load_kpis(ctx: &Context<'_>, key: KpiKey) -> AppResult<Kpis> {
    let loader = ctx.data_unchecked::<DataLoader<KpiLoader, HashMapCache>>();
    Ok(loader.load_one(key).await?.unwrap_or_default())
}

/// The offers of a filter with their KPIs for `range`.
pub async fn offer_report(
    ctx: &Context<'_>,
    filter: &OfferFilter,
    search: Option<&str>,
    range: DateRange,
) -> AppResult<OfferReport> {
    let caller = viewer(ctx)?;
    let selection = filter.selection(search)?;
    reports::offer_report(
        &mut *conn(ctx).await?,
        &mut *report_conn(ctx).await?,
        caller,
        &selection,
        range,
    )
    .await
}

/// One point of a chart: the KPIs of one day, week or month (clipped to the range).
#[derive(SimpleObject)]
pub struct KpiPoint {
    pub start: Date,
    pub end: Date,
    /// The range cuts this week or month short (its first or last, or the one
    /// still going on): charts should not read its lower figures as a fall.
    pub partial: bool,
    pub kpis: KpiBlock,
}

/// What the `kpis` of a `kpiSeries` selection asks for (fragments included).
pub fn series_needs(ctx: &Context<'_>) -> SeriesNeeds {
    let kpis = ctx.look_ahead().field("kpis");
    SeriesNeeds::of(Kpi::ALL.iter().copied().filter(|kpi| kpis.field(kpi.field()).exists()))
}

async fn series(
    ctx: &Context<'_>,
    scope: SeriesScope,
    range: DateRange,
    interval: SeriesInterval,
    needs: SeriesNeeds,
    overall: &Kpis,
) -> AppResult<Vec<KpiPoint>> {
    let caller = viewer(ctx)?;
    let points = reports::series(
        &mut *report_conn(ctx).await?,
        caller,
        scope,
        range,
        interval.into(),
        needs,
        overall,
    )
    .await?;
    Ok(points
        .into_iter()
        .map(|point| KpiPoint {
            start: Date(point.range.start),
            end: Date(point.range.end),
            partial: point.partial,
            kpis: KpiBlock::new(point.range, point.kpis),
        })
        .collect())
}

/// The series of one offer or one membership for the range in `key`; the ledger
/// figures come from the node's own KPIs, loaded only when selected.
pub async fn node_series(ctx: &Context<'_>, key: KpiKey, interval: SeriesInterval) -> AppResult<Vec<KpiPoint>> {
    let needs = series_needs(ctx);
    let overall = match needs.ledger {
        true => load_kpis(ctx, key).await?,
        false => Kpis::default(),
    };
    let (scope, range) = match key {
        KpiKey::Offer(id, range) => (SeriesScope::Offers(vec![id]), range),
        KpiKey::Membership(id, range) => (SeriesScope::Membership(id), range),
    };
    series(ctx, scope, range, interval, needs, &overall).await
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
        #[graphql(
            name = "in",
            desc = "Show the amounts in this currency (ISO 4217, e.g. `EUR`) at one rate, that of `rateOn`: an estimate (each order was valued at its own day's rate). Default the brand's currency."
        )]
        in_currency: Option<String>,
        #[graphql(desc = "The day whose rate `in` uses (default today in the brand's time zone).")] rate_on: Option<
            Date,
        >,
    ) -> AppResult<KpiBlock> {
        let range = DateRangeInput::resolve(date_range.as_ref(), viewer(ctx)?)?;
        let report = offer_report(ctx, &filter.unwrap_or_default(), None, range).await?;
        KpiBlock::new(range, report.total())
            .shown_in(ctx, in_currency, rate_on)
            .await
    }

    /// The KPIs per day, week or month, for charts, over the offers a filter selects.
    async fn kpi_series(
        &self,
        ctx: &Context<'_>,
        filter: Option<OfferFilter>,
        date_range: Option<DateRangeInput>,
        #[graphql(default_with = "SeriesInterval::Day")] interval: SeriesInterval,
    ) -> AppResult<Vec<KpiPoint>> {
        let caller = viewer(ctx)?;
        let range = DateRangeInput::resolve(date_range.as_ref(), caller)?;
        let filter = filter.unwrap_or_default();
        let needs = series_needs(ctx);
        // The offers' KPIs only when the filter's ranges or the ledger figures need them.
        let (offer_ids, overall) = if !filter.kpis.bounds().is_empty() || needs.ledger {
            let report = offer_report(ctx, &filter, None, range).await?;
            (report.offers.iter().map(|(o, _)| o.id).collect(), report.total())
        } else {
            let selection = filter.selection(None)?;
            let offers = reports::offers_in(&mut *conn(ctx).await?, caller, &selection).await?;
            (offers.iter().map(|o| o.id).collect(), Kpis::default())
        };
        series(ctx, SeriesScope::Offers(offer_ids), range, interval, needs, &overall).await
    }
}
