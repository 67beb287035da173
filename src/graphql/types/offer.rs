use async_graphql::{Context, ID, Object};
use chrono::{DateTime, NaiveDate, Utc};

use async_graphql::connection::{Connection, EmptyFields};

use super::conversion::Conversion;
use super::membership::Membership;
use super::payout::PayoutRule;
use super::project::Project;
use crate::db::conversions::Owner;
use crate::db::memberships;
use crate::db::models::OfferRow;
use crate::db::reporting::Scope;
use crate::domain::date_range::DateRange;
use crate::domain::kpis::Kpis as Figures;
use crate::graphql::reporting::{DateRangeInput, KpiKey, KpiPoint, Kpis, SeriesInterval, load_kpis, series};
use crate::domain::enums::{ConversionStatus, OfferStatus, OfferType};
use crate::graphql::context::{conn, viewer};
use crate::graphql::error::{ApiError, ApiResult};
use crate::graphql::ids::{Kind, encode};
use crate::graphql::loaders::{OfferProjects, load_one};
use crate::graphql::pagination::{IdCursor, page_request, to_connection};
use crate::graphql::scalars::Date;

/// An offer: a tracked sales link or promo code program that members join.
pub struct Offer {
    row: OfferRow,
    /// Today in the brand's time zone, to tell whether the offer has expired.
    today: NaiveDate,
    /// The range `kpis` and the memberships' `kpis` use by default, and the KPIs
    /// already computed for it by the list this offer came from.
    report: Option<(DateRange, Figures)>,
}

impl Offer {
    pub fn new(row: OfferRow, today: NaiveDate) -> Self {
        Offer { row, today, report: None }
    }

    pub fn with_kpis(row: OfferRow, today: NaiveDate, range: DateRange, kpis: Figures) -> Self {
        Offer { row, today, report: Some((range, kpis)) }
    }
}

/// A stored enum spelling that fails to parse means the database and code disagree.
fn stored<T>(value: Option<T>, column: &str, text: &str) -> ApiResult<T> {
    value.ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "unexpected {column} '{text}' in the database"
        ))
    })
}

#[Object]
impl Offer {
    async fn id(&self) -> ID {
        encode(Kind::Offer, self.row.id)
    }

    async fn name(&self) -> &str {
        &self.row.name
    }

    /// The offer's KPIs for `dateRange` (default: the list's range, else the last 6 months).
    async fn kpis(&self, ctx: &Context<'_>, date_range: Option<DateRangeInput>) -> ApiResult<Kpis> {
        let range = match (&date_range, &self.report) {
            (None, Some((range, kpis))) => return Ok(Kpis { range: *range, figures: kpis.clone() }),
            (None, None) => DateRangeInput::resolve(None, viewer(ctx)?)?,
            (Some(input), _) => DateRangeInput::resolve(Some(input), viewer(ctx)?)?,
        };
        Ok(Kpis { range, figures: load_kpis(ctx, KpiKey::Offer(self.row.id, range)).await? })
    }

    /// The offer's KPIs per day, week or month, for charts.
    async fn kpi_series(
        &self,
        ctx: &Context<'_>,
        date_range: Option<DateRangeInput>,
        #[graphql(default_with = "SeriesInterval::Day")] interval: SeriesInterval,
    ) -> ApiResult<Vec<KpiPoint>> {
        let range = DateRangeInput::resolve(date_range.as_ref(), viewer(ctx)?)?;
        series(ctx, Scope { offer_ids: vec![self.row.id], membership_ids: vec![] }, range, interval).await
    }

    /// Sales link or promo code.
    #[graphql(name = "type")]
    async fn offer_type(&self) -> ApiResult<OfferType> {
        stored(
            OfferType::parse(&self.row.offer_type),
            "offer_type",
            &self.row.offer_type,
        )
    }

    /// `EXPIRED` once the end date has passed in the brand's time zone, unless archived.
    async fn status(&self) -> ApiResult<OfferStatus> {
        let saved = stored(
            OfferStatus::parse(&self.row.status),
            "status",
            &self.row.status,
        )?;
        let ended = self.row.ends_on.is_some_and(|end| end < self.today);
        Ok(OfferStatus::effective(saved, ended))
    }

    /// Where a sales link sends the buyer.
    async fn destination_url(&self) -> Option<&str> {
        self.row.destination_url.as_deref()
    }

    /// The prefix of the promo codes members get, e.g. `SUMMER` for `SUMMER-ANA`.
    async fn code_prefix(&self) -> Option<&str> {
        self.row.code_prefix.as_deref()
    }

    /// The default payout; a membership's own override beats it.
    async fn payout(&self) -> ApiResult<PayoutRule> {
        let owner = format!("offer {}", self.row.id);
        PayoutRule::from_columns(
            Some(&self.row.payout_type),
            self.row.payout_percent,
            self.row.payout_flat,
            &owner,
        )?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("{owner} has no payout")))
    }

    /// Days after a click during which an order is credited to it.
    async fn attribution_window_days(&self) -> i32 {
        self.row.attribution_window_days
    }

    /// Days a commission waits before it can be paid (returns and refunds settle first).
    async fn hold_period_days(&self) -> i32 {
        self.row.hold_period_days
    }

    /// First day of the offer, in the brand's time zone.
    async fn starts_on(&self) -> Date {
        Date(self.row.starts_on)
    }

    /// Last day of the offer, inclusive; none for an open-ended offer.
    async fn ends_on(&self) -> Option<Date> {
        self.row.ends_on.map(Date)
    }

    /// The connected projects (campaigns) this offer belongs to.
    async fn projects(&self, ctx: &Context<'_>) -> ApiResult<Vec<Project>> {
        let rows = load_one::<OfferProjects>(ctx, self.row.id)
            .await?
            .unwrap_or_default();
        Ok(rows.into_iter().map(Project).collect())
    }

    /// The offer's members, newest first.
    async fn memberships(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<IdCursor, Membership>> {
        let viewer = viewer(ctx)?;
        let had_cursor = after.is_some();
        let request = page_request(first, after)?;
        let page = memberships::page_for_offer(
            &mut *conn(ctx).await?,
            viewer.brand_id,
            self.row.id,
            request,
        )
        .await?;
        Ok(to_connection(
            page,
            had_cursor,
            EmptyFields,
            |row| row.id,
            Membership,
        ))
    }

    /// Orders credited to the offer's members, newest first.
    async fn conversions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<ConversionStatus>,
    ) -> ApiResult<Connection<IdCursor, Conversion>> {
        let viewer = viewer(ctx)?;
        Conversion::connection(
            ctx,
            viewer.brand_id,
            Owner::Offer(self.row.id),
            first,
            after,
            status,
        )
        .await
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.row.updated_at
    }
}
