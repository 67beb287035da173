//! Offers: the list with its KPIs, one offer, and the catalog actions (create,
//! edit, payout, status).

use async_graphql::connection::Connection;
use async_graphql::dataloader::{DataLoader, HashMapCache};
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use serde_json::json;

use super::context::{AdminOnly, conn, viewer};
use super::error::{AppError, AppResult};
use super::ids::{decode, decode_all, id_strings};
use super::loaders::{Members, OfferMemberships, OfferProjects, PromoCodes, loader};
use super::pagination::{IdCursor, page_request, to_connection};
use super::reports::{DateRangeInput, KpiLoader, OfferFilter, OfferSort, offer_report, sort_order};
use super::scalars::Date;
use super::types::offer::Offer;
use super::types::payout::PayoutRuleInput;
use crate::app::offers::{self as offer_actions, OfferDraft, OfferEdit};
use crate::app::reads;
use crate::app::records::Page;
use crate::app::reports::{KpiKey, sort_offers};
use crate::domain::date_range::DateRange;
use crate::domain::ids::{OfferId, ProjectId};
use crate::domain::payout::PayoutRule;
use crate::graphql::enums::{OfferStatus, OfferType};
use crate::graphql::shopify::ShopperDiscountInput;

/// A new offer. It starts `ACTIVE`.
#[derive(InputObject)]
pub struct CreateOfferInput {
    pub name: String,
    #[graphql(name = "type")]
    pub offer_type: OfferType,
    /// Required for `SALES_LINK`: where the link sends buyers (http or https).
    pub destination_url: Option<String>,
    /// Required for `PROMO_CODE`: letters and digits that start every member's code.
    pub code_prefix: Option<String>,
    /// The default payout for every member of the offer.
    pub payout: PayoutRuleInput,
    /// Days after a click during which an order is credited to it (1 to 365, default 30).
    #[graphql(default = 30)]
    pub attribution_window_days: i32,
    /// Days before a commission can be paid (0 to 365, default 30).
    #[graphql(default = 30)]
    pub hold_period_days: i32,
    /// First day, in the brand's time zone (default today).
    pub starts_on: Option<Date>,
    /// Last day, inclusive (default none: open-ended).
    pub ends_on: Option<Date>,
    /// Connected projects to put the offer in.
    #[graphql(default)]
    pub project_ids: Vec<ID>,
    /// `PROMO_CODE` offers: what the codes take off at the shop's checkout (see `setShopperDiscount`).
    pub shopper_discount: Option<ShopperDiscountInput>,
}

/// The result of `createOffer`.
#[derive(SimpleObject)]
pub struct CreateOfferPayload {
    pub offer: Offer,
}

/// What `updateOffer` changes; fields left out stay as they are. The type cannot change.
#[derive(InputObject)]
pub struct UpdateOfferInput {
    /// The offer to change.
    pub id: ID,
    pub name: Option<String>,
    /// `SALES_LINK` offers only.
    pub destination_url: Option<String>,
    /// `PROMO_CODE` offers only; applies to codes issued from now on.
    pub code_prefix: Option<String>,
    /// 1 to 365; applies to orders recorded from now on.
    pub attribution_window_days: Option<i32>,
    /// 0 to 365; applies to commissions earned from now on.
    pub hold_period_days: Option<i32>,
    pub starts_on: Option<Date>,
    /// `null` makes the offer open-ended.
    pub ends_on: MaybeUndefined<Date>,
    /// Replaces the offer's connected projects.
    pub project_ids: Option<Vec<ID>>,
    /// `PROMO_CODE` offers: replaces what the codes take off at the shop's checkout.
    pub shopper_discount: Option<ShopperDiscountInput>,
}

/// The offer's new default payout.
#[derive(InputObject)]
pub struct EditPayoutInput {
    /// The offer to change.
    pub id: ID,
    pub payout: PayoutRuleInput,
}

/// The offer's new status.
#[derive(InputObject)]
pub struct SetOfferStatusInput {
    /// The offer to change.
    pub id: ID,
    pub status: OfferStatus,
}

/// The offer a mutation changed.
#[derive(SimpleObject)]
pub struct OfferPayload {
    pub offer: Offer,
}

/// The result of `setOfferStatus`.
#[derive(SimpleObject)]
pub struct SetOfferStatusPayload {
    pub offer: Offer,
}

/// Extra fields of the offers connection.
#[derive(SimpleObject)]
pub struct OfferListInfo {
    /// How many offers match, across all pages.
    total_count: i64,
}

/// Loads, in one batch each, what the page's offers will ask their loaders for, so
/// the statements a page runs do not depend on how long resolving it takes.
async fn prime_offer_loaders(ctx: &Context<'_>, offer_ids: Vec<OfferId>, range: DateRange) -> AppResult<()> {
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
        futures_util::try_join!(kpis, members, codes)?;
    }
    Ok(())
}

/// Blank search text means no search.
pub(super) fn search_text(search: Option<String>) -> Option<String> {
    search.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

#[derive(Default)]
pub struct OfferQueries;

#[Object]
impl OfferQueries {
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
    ) -> AppResult<Connection<IdCursor, Offer, OfferListInfo>> {
        let viewer = viewer(ctx)?;
        let range = DateRangeInput::resolve(date_range.as_ref(), viewer)?;
        let request = page_request(first, after.clone())?;
        let filter = filter.unwrap_or_default();
        let report = offer_report(ctx, &filter, search_text(search).as_deref(), range).await?;
        let mut rows = report.offers;
        let (column, direction) = sort_order(sort.map(|s| (s.field, s.direction)));
        sort_offers(&mut rows, column, direction, viewer.today())?;
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

    /// One offer by id.
    async fn offer(&self, ctx: &Context<'_>, id: ID) -> AppResult<Option<Offer>> {
        let viewer = viewer(ctx)?;
        let offer_id = decode::<OfferId>(&id)?;
        let row = reads::offer(&mut *conn(ctx).await?, viewer, offer_id).await?;
        let row = row.ok_or(AppError::NotFound("offer"))?;
        Ok(Some(Offer::new(row, viewer.today())))
    }
}

pub(super) fn rule_json(rule: &PayoutRule) -> serde_json::Value {
    let (percent, flat) = rule.parts();
    json!({ "type": rule.payout_type().as_str(), "percent": percent, "flatAmount": flat })
}

#[derive(Default)]
pub struct OfferMutations;

#[Object]
impl OfferMutations {
    /// Creates an offer of either type, connected to the given projects.
    #[graphql(guard = "AdminOnly")]
    async fn create_offer(&self, ctx: &Context<'_>, input: CreateOfferInput) -> AppResult<CreateOfferPayload> {
        let caller = *viewer(ctx)?;
        let draft = OfferDraft {
            name: input.name,
            offer_type: input.offer_type.into(),
            destination_url: input.destination_url,
            code_prefix: input.code_prefix,
            rule: input.payout.to_rule()?,
            attribution_window_days: input.attribution_window_days,
            hold_period_days: input.hold_period_days,
            starts_on: input.starts_on.map(|d| d.0),
            ends_on: input.ends_on.map(|d| d.0),
            project_ids: decode_all::<ProjectId>(&input.project_ids)?,
            shopper_discount: input.shopper_discount.map(Into::into),
        };
        let row = offer_actions::create(&mut *conn(ctx).await?, caller, draft).await?;
        Ok(CreateOfferPayload {
            offer: Offer::new(row, caller.today()),
        })
    }

    /// Changes an offer's name, destination, code prefix, attribution window, hold
    /// period, dates or connected projects. An archived offer cannot be edited.
    #[graphql(guard = "AdminOnly")]
    async fn update_offer(&self, ctx: &Context<'_>, input: UpdateOfferInput) -> AppResult<OfferPayload> {
        let caller = *viewer(ctx)?;
        let offer_id = decode::<OfferId>(&input.id)?;
        let details = json!({
            "offerId": input.id.as_str(),
            "name": input.name,
            "destinationUrl": input.destination_url,
            "codePrefix": input.code_prefix,
            "attributionWindowDays": input.attribution_window_days,
            "holdPeriodDays": input.hold_period_days,
            "startsOn": input.starts_on.map(|d| d.0.to_string()),
            "endsOn": match &input.ends_on { MaybeUndefined::Value(d) => json!(d.0.to_string()), MaybeUndefined::Null => json!(null), MaybeUndefined::Undefined => json!("unchanged") },
            "projectIds": input.project_ids.as_deref().map(id_strings),
            "shopperDiscount": input.shopper_discount.as_ref().map(|d| json!({ "type": crate::domain::enums::ShopperDiscountType::from(d.discount_type).as_str(), "value": d.value })),
        });
        let edit = OfferEdit {
            project_ids: input
                .project_ids
                .as_ref()
                .map(|ids| decode_all::<ProjectId>(ids))
                .transpose()?,
            name: input.name,
            destination_url: input.destination_url,
            code_prefix: input.code_prefix,
            attribution_window_days: input.attribution_window_days,
            hold_period_days: input.hold_period_days,
            starts_on: input.starts_on.map(|d| d.0),
            ends_on: match input.ends_on {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(date) => Some(Some(date.0)),
            },
            shopper_discount: input.shopper_discount.map(Into::into),
        };
        let row = offer_actions::update(&mut *conn(ctx).await?, caller, offer_id, edit, details).await?;
        super::context::app(ctx).wake(crate::domain::enums::JobKind::ShopifyCodeSync);
        Ok(OfferPayload {
            offer: Offer::new(row, caller.today()),
        })
    }

    /// Sets the offer's default payout. Members with their own override keep it.
    #[graphql(guard = "AdminOnly")]
    async fn edit_payout(&self, ctx: &Context<'_>, input: EditPayoutInput) -> AppResult<OfferPayload> {
        let caller = *viewer(ctx)?;
        let id = decode::<OfferId>(&input.id)?;
        let rule = input.payout.to_rule()?;
        let details = json!({ "offerId": input.id.as_str(), "payout": rule_json(&rule) });
        let row = offer_actions::edit_payout(&mut *conn(ctx).await?, caller, id, rule, details).await?;
        Ok(OfferPayload {
            offer: Offer::new(row, caller.today()),
        })
    }

    /// Pauses, activates or archives an offer. `EXPIRED` follows from the end date and
    /// cannot be set. Paused and archived offers attribute nothing; an archived offer
    /// takes no new members.
    #[graphql(guard = "AdminOnly")]
    async fn set_offer_status(
        &self,
        ctx: &Context<'_>,
        input: SetOfferStatusInput,
    ) -> AppResult<SetOfferStatusPayload> {
        let SetOfferStatusInput { id: offer_id, status } = input;
        let caller = *viewer(ctx)?;
        let id = decode::<OfferId>(&offer_id)?;
        let details =
            json!({ "offerId": offer_id.as_str(), "status": crate::domain::enums::OfferStatus::from(status).as_str() });
        let row = offer_actions::set_status(&mut *conn(ctx).await?, caller, id, status.into(), details).await?;
        super::context::app(ctx).wake(crate::domain::enums::JobKind::ShopifyCodeSync);
        Ok(SetOfferStatusPayload {
            offer: Offer::new(row, caller.today()),
        })
    }
}
