use async_graphql::{Context, ID, Object};
use chrono::{DateTime, NaiveDate, Utc};

use async_graphql::connection::Connection;

use super::conversion::Conversion;
use super::membership::Membership;
use super::payout::PayoutRule;
use super::project::Project;
use crate::app::records::OfferRow;
use crate::app::records::Owner;
use crate::app::records::Page;
use crate::app::reports::{self, KpiKey, MembershipLine};
use crate::domain::date_range::DateRange;
use crate::domain::ids::{MemberId, MembershipId};
use crate::domain::kpis::Kpis;
use crate::domain::report::{Column, SortDirection};
use crate::graphql::context::viewer;
use crate::graphql::enums::{ConversionStatus, OfferStatus, OfferType};
use crate::graphql::error::{AppError, AppResult};
use crate::graphql::ids::encode;
use crate::graphql::loaders::{BrandLoader, Members, OfferMemberships, OfferRewardRules, PromoCodes};
use crate::graphql::loaders::{OfferProjects, load_one};
use crate::graphql::pagination::{IdCursor, page_request, to_connection};
use crate::graphql::reports::{
    DateRangeInput, KpiBlock, KpiLoader, KpiPoint, MembershipFilter, MembershipSort, SeriesInterval, load_kpis,
    node_series, sort_order,
};
use crate::graphql::scalars::Date;
use async_graphql::SimpleObject;
use async_graphql::dataloader::{DataLoader, HashMapCache};

/// An offer: a tracked sales link or promo code program that members join.
pub struct Offer {
    row: OfferRow,
    /// Today in the brand's time zone, to tell whether the offer has expired.
    today: NaiveDate,
    /// The range `kpis` and the memberships' `kpis` use by default, and the KPIs
    /// already computed for it by the list this offer came from.
    report: Option<(DateRange, Kpis)>,
}

impl Offer {
    pub fn new(row: OfferRow, today: NaiveDate) -> Self {
        Offer {
            row,
            today,
            report: None,
        }
    }

    pub fn with_kpis(row: OfferRow, today: NaiveDate, range: DateRange, kpis: Kpis) -> Self {
        Offer {
            row,
            today,
            report: Some((range, kpis)),
        }
    }
}

/// Extra fields of an offer's memberships connection.
#[derive(SimpleObject)]
pub struct MembershipListInfo {
    /// How many memberships match, across all pages.
    total_count: i64,
}

#[Object]
impl Offer {
    pub async fn id(&self) -> ID {
        encode(self.row.id)
    }

    async fn name(&self) -> &str {
        &self.row.name
    }

    /// The offer's KPIs for `dateRange` (default: the list's range, else the last 6 months).
    async fn kpis(
        &self,
        ctx: &Context<'_>,
        date_range: Option<DateRangeInput>,
        #[graphql(
            desc = "Only the memberships the member table would list with this filter: the summary then adds up exactly that table's rows."
        )]
        filter: Option<MembershipFilter>,
        #[graphql(desc = "Only members whose name or promo code contains this text, as in the member table.")]
        search: Option<String>,
        #[graphql(
            name = "in",
            desc = "Show the amounts in this currency at one rate (see `Query.kpis`)."
        )]
        in_currency: Option<String>,
        #[graphql(desc = "The day whose rate `in` uses (default today in the brand's time zone).")] rate_on: Option<
            Date,
        >,
    ) -> AppResult<KpiBlock> {
        let block = self.kpi_block(ctx, date_range, filter, search).await?;
        block.shown_in(ctx, in_currency, rate_on).await
    }

    /// The offer's KPIs per day, week or month, for charts.
    async fn kpi_series(
        &self,
        ctx: &Context<'_>,
        date_range: Option<DateRangeInput>,
        #[graphql(default_with = "SeriesInterval::Day")] interval: SeriesInterval,
    ) -> AppResult<Vec<KpiPoint>> {
        let range = DateRangeInput::resolve(date_range.as_ref(), viewer(ctx)?)?;
        node_series(ctx, KpiKey::Offer(self.row.id, range), interval).await
    }

    /// Sales link or promo code.
    #[graphql(name = "type")]
    async fn offer_type(&self) -> OfferType {
        self.row.offer_type.into()
    }

    /// `EXPIRED` once the end date has passed in the brand's time zone, unless archived.
    async fn status(&self) -> OfferStatus {
        crate::app::reports::effective_status(&self.row, self.today).into()
    }

    /// Where a sales link sends the buyer.
    async fn destination_url(&self) -> Option<&str> {
        self.row.destination_url.as_deref()
    }

    /// The prefix of the promo codes members get, e.g. `SUMMER` for `SUMMER-ANA`.
    async fn code_prefix(&self) -> Option<&str> {
        self.row.code_prefix.as_deref()
    }

    /// What the offer's promo codes take off at the shop's checkout; null when
    /// none is set (`setShopperDiscount`), or for a sales-link offer.
    async fn shopper_discount(&self, ctx: &Context<'_>) -> AppResult<Option<crate::graphql::shopify::ShopperDiscount>> {
        let found = load_one::<crate::graphql::loaders::OfferShopperDiscounts>(ctx, self.row.id).await?;
        Ok(found.map(crate::graphql::shopify::ShopperDiscount))
    }

    /// The default payout; a membership's own override beats it.
    async fn payout(&self) -> AppResult<PayoutRule> {
        let owner = self.row.id.to_string();
        PayoutRule::from_columns(
            Some(self.row.payout_type),
            self.row.payout_percent,
            self.row.payout_flat,
            &owner,
        )?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("{owner} has no payout")))
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
    async fn projects(&self, ctx: &Context<'_>) -> AppResult<Vec<Project>> {
        let rows = load_one::<OfferProjects>(ctx, self.row.id).await?.unwrap_or_default();
        Ok(rows.into_iter().map(Project).collect())
    }

    /// The offer's members with their KPIs: searched by member name or promo code,
    /// filtered, sorted by any column (default: newest first). KPIs use `dateRange`,
    /// else the offers list's range, else the last 6 months.
    #[allow(clippy::too_many_arguments)]
    async fn memberships(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(desc = "Only members whose name or promo code contains this text, in any case.")] search: Option<
            String,
        >,
        filter: Option<MembershipFilter>,
        date_range: Option<DateRangeInput>,
        sort: Option<MembershipSort>,
    ) -> AppResult<Connection<IdCursor, Membership, MembershipListInfo>> {
        let viewer = viewer(ctx)?;
        let range = match (&date_range, &self.report) {
            (None, Some((range, _))) => *range,
            _ => DateRangeInput::resolve(date_range.as_ref(), viewer)?,
        };
        let request = page_request(first, after.clone())?;
        let lines = self.member_lines(ctx, range).await?;
        let selection = member_selection(filter, search);
        let (column, direction) = sort_order(sort.map(|s| (s.field, s.direction)));
        let listed = reports::membership_table(lines, &selection, column, direction);
        let total_count = listed.len() as i64;
        let page = Page::after_id(listed, request, |line| line.membership.id)?;
        Ok(to_connection(
            page,
            after.is_some(),
            MembershipListInfo { total_count },
            |line| line.membership.id,
            |line| Membership(line.membership, Some(range)),
        ))
    }

    /// Rules that grant rewards by themselves when a conversion crosses them.
    async fn reward_rules(&self, ctx: &Context<'_>) -> AppResult<Vec<super::reward::RewardRule>> {
        let rows = load_one::<OfferRewardRules>(ctx, self.row.id)
            .await?
            .unwrap_or_default();
        Ok(rows.into_iter().map(super::reward::RewardRule).collect())
    }

    /// Orders credited to the offer's members, newest first.
    async fn conversions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<ConversionStatus>,
    ) -> AppResult<Connection<IdCursor, Conversion>> {
        let viewer = viewer(ctx)?;
        Conversion::connection(ctx, viewer, Owner::Offer(self.row.id), first, after, status).await
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.row.updated_at
    }
}

impl Offer {
    /// Every membership of the offer with its member's name, promo code and KPIs for
    /// `range`: the member table before filtering, sorting and paging.
    async fn member_lines(&self, ctx: &Context<'_>, range: DateRange) -> AppResult<Vec<MembershipLine>> {
        let rows = load_one::<OfferMemberships>(ctx, self.row.id)
            .await?
            .unwrap_or_default();
        let ids: Vec<MembershipId> = rows.iter().map(|m| m.id).collect();
        let keys: Vec<KpiKey> = ids.iter().map(|&id| KpiKey::Membership(id, range)).collect();
        let member_ids: Vec<MemberId> = rows.iter().map(|m| m.member_id).collect();
        let loaders = (
            ctx.data_unchecked::<DataLoader<KpiLoader, HashMapCache>>()
                .load_many(keys),
            ctx.data_unchecked::<DataLoader<BrandLoader<Members>, HashMapCache>>()
                .load_many(member_ids),
            ctx.data_unchecked::<DataLoader<BrandLoader<PromoCodes>, HashMapCache>>()
                .load_many(ids.iter().copied()),
        );
        let (mut kpis, members, mut codes) = futures_util::try_join!(loaders.0, loaders.1, loaders.2)?;
        Ok(rows
            .into_iter()
            .map(|membership| MembershipLine {
                member_name: members
                    .get(&membership.member_id)
                    .map(|member| member.name.clone())
                    .unwrap_or_default(),
                promo_code: codes.remove(&membership.id).flatten(),
                kpis: kpis
                    .remove(&KpiKey::Membership(membership.id, range))
                    .unwrap_or_default(),
                membership,
            })
            .collect())
    }
}

/// Which memberships a member-table filter and search keep.
fn member_selection(filter: Option<MembershipFilter>, search: Option<String>) -> reports::MembershipSelection {
    let needle = search.map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty());
    filter.unwrap_or_default().selection(needle)
}

impl Offer {
    /// `Offer.kpis` in the brand's currency.
    async fn kpi_block(
        &self,
        ctx: &Context<'_>,
        date_range: Option<DateRangeInput>,
        filter: Option<MembershipFilter>,
        search: Option<String>,
    ) -> AppResult<KpiBlock> {
        let range = match (&date_range, &self.report) {
            (None, Some((range, kpis))) if filter.is_none() && search.is_none() => {
                return Ok(KpiBlock::new(*range, kpis.clone()));
            }
            (None, Some((range, _))) => *range,
            (None, None) => DateRangeInput::resolve(None, viewer(ctx)?)?,
            (Some(input), _) => DateRangeInput::resolve(Some(input), viewer(ctx)?)?,
        };
        if filter.is_none() && search.is_none() {
            return Ok(KpiBlock::new(
                range,
                load_kpis(ctx, KpiKey::Offer(self.row.id, range)).await?,
            ));
        }
        let selection = member_selection(filter, search);
        let lines = self.member_lines(ctx, range).await?;
        let mut figures = Kpis::default();
        for line in reports::membership_table(lines, &selection, Column::Name, SortDirection::Asc) {
            figures += &line.kpis;
        }
        Ok(KpiBlock::new(range, figures))
    }
}
