use async_graphql::connection::Connection;
use async_graphql::{Context, ID, MergedObject, Object, SimpleObject};

use super::columns::ColumnQueries;
use super::payment_mutations::PaymentQueries;

use super::context::{conn, viewer};
use super::error::{ApiError, ApiResult};
use super::ids::{Kind, decode};
use super::loaders::{Members, OfferMemberships, OfferProjects, PromoCodes, loader};
use super::pagination::{IdCursor, page_request, to_connection};
use super::reporting::{
    DateRangeInput, KpiPoint, Kpis, OfferFilter, SeriesInterval, SeriesNeeds, offer_report, offers_in_filter, series,
};
use super::reporting::{KpiKey, KpiLoader};
use super::sorting::OfferSort;
use super::types::brand::Viewer;
use super::types::conversion::Conversion;
use super::types::member::Member;
use super::types::membership::Membership;
use super::types::offer::Offer;
use super::types::project::Project;
use crate::db::pagination::Page;
use crate::db::reporting::SeriesScope;
use crate::db::{audit, conversions, members, memberships, offers, projects};
use crate::domain::date_range::DateRange;
use crate::domain::kpis::Kpis as Figures;
use async_graphql::dataloader::{DataLoader, HashMapCache};

/// Everything a brand's API key can read.
///
/// **What a query costs** (reported in `extensions.cost` of every response, and
/// charged to the key's budget, which refills every second): a scalar 0, an object
/// 1, a list its length times its element: `first` (default 20) for a connection's
/// `edges` and `nodes`, one per bucket for `kpiSeries` (a daily series over six
/// months: 185), 10 for other lists. A `kpis` with a date range adds 1 plus one per
/// 31 days of the range, once per field in the document; `__schema` and `__type`
/// cost 10. A query may cost at most 10,000, select at most 2,000 fields once its
/// fragments are expanded, use 150 aliases or root fields and nest 12 deep.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(CoreQueries, ColumnQueries, PaymentQueries);

#[derive(Default)]
pub struct CoreQueries;

/// Extra fields of the offers connection.
#[derive(SimpleObject)]
pub struct OfferListInfo {
    /// How many offers match, across all pages.
    total_count: i64,
}

/// Extra fields of the members connection.
pub struct MemberListInfo {
    brand_id: i64,
    search: Option<String>,
}

#[Object]
impl MemberListInfo {
    /// How many members match, across all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> ApiResult<i64> {
        Ok(members::count(&mut *conn(ctx).await?, self.brand_id, self.search.as_deref()).await?)
    }
}

/// Loads, in one batch each, what the page's offers will ask their loaders for, so
/// the statements a page runs do not depend on how long resolving it takes.
async fn prime_offer_loaders(ctx: &Context<'_>, offer_ids: Vec<i64>, range: DateRange) -> ApiResult<()> {
    let look_ahead = ctx.look_ahead();
    let wants = |field: &str| {
        look_ahead.field("edges").field("node").field(field).exists() || look_ahead.field("nodes").field(field).exists()
    };
    if wants("projects") {
        loader::<OfferProjects>(ctx)
            .load_many(offer_ids.iter().copied())
            .await?;
    }
    if wants("memberships") {
        let memberships: Vec<_> = loader::<OfferMemberships>(ctx)
            .load_many(offer_ids)
            .await?
            .into_values()
            .flatten()
            .collect();
        let kpi_keys = memberships.iter().map(|m| KpiKey::Membership(m.id, range));
        let kpis = ctx
            .data_unchecked::<DataLoader<KpiLoader, HashMapCache>>()
            .load_many(kpi_keys);
        let members = loader::<Members>(ctx).load_many(memberships.iter().map(|m| m.member_id));
        let codes = loader::<PromoCodes>(ctx).load_many(memberships.iter().map(|m| m.id));
        futures_util::try_join!(kpis, members, codes).map_err(ApiError::from)?;
    }
    Ok(())
}

/// One audited change.
pub struct AuditEvent(audit::AuditRow);

#[Object]
impl AuditEvent {
    /// The mutation, e.g. `refreshPromoCodes`.
    async fn action(&self) -> &str {
        &self.0.action
    }

    /// What it was given.
    async fn details(&self) -> async_graphql::Json<serde_json::Value> {
        async_graphql::Json(self.0.details.clone())
    }

    /// The API key that made it.
    async fn api_key_id(&self) -> ID {
        ID(format!("apikey_{}", self.0.api_key_id))
    }

    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_at
    }
}

/// Blank search text means no search.
fn search_text(search: Option<String>) -> Option<String> {
    search.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

#[Object]
impl CoreQueries {
    /// The caller: the API key's role and brand.
    async fn viewer(&self, ctx: &Context<'_>) -> ApiResult<Viewer> {
        Ok(Viewer(*viewer(ctx)?))
    }

    /// The brand's offers with their KPIs: filtered (default: active), searched by name,
    /// sorted by any column (default: newest first).
    #[allow(clippy::too_many_arguments)]
    async fn offers(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
        #[graphql(desc = "Only offers whose name contains this text, in any case.")] search: Option<String>,
        filter: Option<OfferFilter>,
        #[graphql(desc = "The range every node's `kpis` use unless given their own (default: last 6 months).")]
        date_range: Option<DateRangeInput>,
        sort: Option<OfferSort>,
    ) -> ApiResult<Connection<IdCursor, Offer, OfferListInfo>> {
        let viewer = viewer(ctx)?;
        let range = DateRangeInput::resolve(date_range.as_ref(), viewer)?;
        let request = page_request(first, after.clone())?;
        let filter = filter.unwrap_or_default();
        let report = offer_report(ctx, &filter, search_text(search).as_deref(), range).await?;
        let mut rows = report.offers;
        sort.unwrap_or_default().apply(&mut rows);
        let total_count = rows.len() as i64;
        let page = Page::after_id(rows, request, |(offer, _)| offer.id)?;
        prime_offer_loaders(ctx, page.rows.iter().map(|(offer, _)| offer.id).collect(), range).await?;
        let today = viewer.today();
        let had_cursor = after.is_some();
        Ok(to_connection(
            page,
            had_cursor,
            OfferListInfo { total_count },
            |(offer, _)| offer.id,
            |(offer, kpis)| Offer::with_kpis(offer, today, range, kpis),
        ))
    }

    /// The ten KPIs over the offers a filter selects (default: active offers, last 6 months).
    async fn kpis(
        &self,
        ctx: &Context<'_>,
        filter: Option<OfferFilter>,
        date_range: Option<DateRangeInput>,
    ) -> ApiResult<Kpis> {
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
    ) -> ApiResult<Vec<KpiPoint>> {
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

    /// One offer by id.
    async fn offer(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Offer>> {
        let viewer = viewer(ctx)?;
        let offer_id = decode(Kind::Offer, &id)?;
        let row = offers::find(&mut *conn(ctx).await?, viewer.brand_id, offer_id).await?;
        let row = row.ok_or(ApiError::NotFound("offer"))?;
        Ok(Some(Offer::new(row, viewer.today())))
    }

    /// The brand's members (creators), newest first.
    async fn members(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
        #[graphql(desc = "Only members whose name or email contains this text, in any case.")] search: Option<String>,
    ) -> ApiResult<Connection<IdCursor, Member, MemberListInfo>> {
        let viewer = viewer(ctx)?;
        let had_cursor = after.is_some();
        let request = page_request(first, after)?;
        let search = search_text(search);
        let page = members::page(&mut *conn(ctx).await?, viewer.brand_id, search.as_deref(), request).await?;
        let info = MemberListInfo {
            brand_id: viewer.brand_id,
            search,
        };
        Ok(to_connection(page, had_cursor, info, |row| row.id, Member))
    }

    /// One member by id.
    async fn member(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Member>> {
        let viewer = viewer(ctx)?;
        let member_id = decode(Kind::Member, &id)?;
        let row = members::find(&mut *conn(ctx).await?, viewer.brand_id, member_id).await?;
        Ok(Some(Member(row.ok_or(ApiError::NotFound("member"))?)))
    }

    /// One membership (a member in an offer) by id.
    async fn membership(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Membership>> {
        let viewer = viewer(ctx)?;
        let membership_id = decode(Kind::Membership, &id)?;
        let row = memberships::find(&mut *conn(ctx).await?, viewer.brand_id, membership_id).await?;
        Ok(Some(Membership(row.ok_or(ApiError::NotFound("membership"))?)))
    }

    /// One conversion (order) by id.
    async fn conversion(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Conversion>> {
        let viewer = viewer(ctx)?;
        let conversion_id = decode(Kind::Conversion, &id)?;
        let row = conversions::find(&mut *conn(ctx).await?, viewer.brand_id, conversion_id).await?;
        Ok(Some(Conversion(row.ok_or(ApiError::NotFound("conversion"))?)))
    }

    /// Orders that matched no membership: kept for the brand to see, earning nothing.
    async fn unattributed_orders(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<IdCursor, Conversion>> {
        let viewer = viewer(ctx)?;
        Conversion::connection(
            ctx,
            viewer.brand_id,
            conversions::Owner::Unattributed,
            first,
            after,
            None,
        )
        .await
    }

    /// Who changed money, codes or memberships, and when; newest first.
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> ApiResult<Connection<IdCursor, AuditEvent>> {
        let viewer = viewer(ctx)?;
        let had_cursor = after.is_some();
        let request = page_request(first, after)?;
        let page = audit::page(&mut *conn(ctx).await?, viewer.brand_id, request).await?;
        Ok(to_connection(
            page,
            had_cursor,
            async_graphql::connection::EmptyFields,
            |row| row.id,
            AuditEvent,
        ))
    }

    /// The brand's connected projects, by name.
    async fn projects(&self, ctx: &Context<'_>) -> ApiResult<Vec<Project>> {
        let viewer = viewer(ctx)?;
        let rows = projects::list(&mut *conn(ctx).await?, viewer.brand_id).await?;
        Ok(rows.into_iter().map(Project).collect())
    }
}
