//! Editing offers and payouts. Conversions already recorded keep the rule they were
//! computed with (it is stored on each conversion), so edits change future earnings only.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use diesel_async::scoped_futures::ScopedFutureExt;
use serde_json::json;

use super::audited::audited;
use super::context::{AdminOnly, viewer};
use super::error::{ApiError, ApiResult};
use super::ids::{Kind, decode, decode_all, decode_list};
use super::membership_mutations::{MembershipsPayload, memberships_of};
use super::scalars::Date;
use super::types::membership::Membership;
use super::types::offer::Offer;
use super::types::payout::PayoutRuleInput;
use crate::db::models::OfferRow;
use crate::db::offers::{self, OfferChanges};
use crate::db::{memberships, projects};
use crate::domain::enums::{OfferType, PayoutType};
use crate::domain::payout::PayoutRule;
use crate::domain::validate;

#[derive(Default)]
pub struct OfferMutations;

/// What `updateOffer` changes; fields left out stay as they are. The type cannot change.
#[derive(InputObject)]
pub struct UpdateOfferInput {
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
}

/// The offer a mutation changed.
#[derive(SimpleObject)]
pub struct OfferPayload {
    pub offer: Offer,
}

/// A rule that cannot apply to this offer is refused: promo codes have no clicks.
fn check_rule_fits(offer: &OfferRow, rule: &PayoutRule) -> ApiResult<()> {
    if offer.offer_type == OfferType::PromoCode.as_str() && rule.payout_type() == PayoutType::FlatPerClick {
        return Err(ApiError::bad_input(
            "FLAT_PER_CLICK payouts need a SALES_LINK offer: promo codes have no clicks",
        ));
    }
    Ok(())
}

fn changes_from_input(offer: &OfferRow, input: &UpdateOfferInput) -> ApiResult<OfferChanges> {
    let bad = ApiError::bad_input;
    let invalid = ApiError::BadUserInput;
    let is_link = offer.offer_type == OfferType::SalesLink.as_str();
    if input.destination_url.is_some() && !is_link {
        return Err(bad("destinationUrl is only for SALES_LINK offers"));
    }
    if input.code_prefix.is_some() && is_link {
        return Err(bad("codePrefix is only for PROMO_CODE offers"));
    }
    if input
        .attribution_window_days
        .is_some_and(|days| !(1..=365).contains(&days))
    {
        return Err(bad("attributionWindowDays must be between 1 and 365"));
    }
    if input.hold_period_days.is_some_and(|days| !(0..=365).contains(&days)) {
        return Err(bad("holdPeriodDays must be between 0 and 365"));
    }
    let starts_on = input.starts_on.map(|d| d.0);
    let ends_on = match &input.ends_on {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(date) => Some(Some(date.0)),
    };
    let effective_start = starts_on.unwrap_or(offer.starts_on);
    let effective_end = ends_on.unwrap_or(offer.ends_on);
    if effective_end.is_some_and(|end| end < effective_start) {
        return Err(bad("endsOn must not be before startsOn"));
    }
    Ok(OfferChanges {
        name: input
            .name
            .as_deref()
            .map(|n| validate::name("name", n))
            .transpose()
            .map_err(invalid)?,
        destination_url: input
            .destination_url
            .as_deref()
            .map(validate::destination_url)
            .transpose()
            .map_err(invalid)?,
        code_prefix: input
            .code_prefix
            .as_deref()
            .map(validate::code_prefix)
            .transpose()
            .map_err(invalid)?,
        attribution_window_days: input.attribution_window_days,
        hold_period_days: input.hold_period_days,
        starts_on,
        ends_on,
        ..OfferChanges::default()
    })
}

fn id_strings(ids: &[ID]) -> Vec<&str> {
    ids.iter().map(|id| id.as_str()).collect()
}

#[Object]
impl OfferMutations {
    /// Changes an offer's name, destination, code prefix, attribution window, hold
    /// period, dates or connected projects. An archived offer cannot be edited.
    #[graphql(guard = "AdminOnly")]
    async fn update_offer(&self, ctx: &Context<'_>, id: ID, input: UpdateOfferInput) -> ApiResult<OfferPayload> {
        let offer_id = decode(Kind::Offer, &id)?;
        let today = viewer(ctx)?.today();
        let mut project_ids = input
            .project_ids
            .as_ref()
            .map(|ids| decode_all(Kind::Project, ids))
            .transpose()?;
        if let Some(ids) = project_ids.as_mut() {
            ids.sort_unstable();
            ids.dedup();
        }
        let details = json!({
            "offerId": id.as_str(),
            "name": input.name,
            "destinationUrl": input.destination_url,
            "codePrefix": input.code_prefix,
            "attributionWindowDays": input.attribution_window_days,
            "holdPeriodDays": input.hold_period_days,
            "startsOn": input.starts_on.map(|d| d.0.to_string()),
            "endsOn": match &input.ends_on { MaybeUndefined::Value(d) => json!(d.0.to_string()), MaybeUndefined::Null => json!(null), MaybeUndefined::Undefined => json!("unchanged") },
            "projectIds": input.project_ids.as_deref().map(id_strings),
        });
        let row = audited(ctx, "updateOffer", details, move |conn, viewer| {
            async move {
                let offer = offers::find(conn, viewer.brand_id, offer_id)
                    .await?
                    .ok_or(ApiError::NotFound("offer"))?;
                if offer.status == "ARCHIVED" {
                    return Err(ApiError::bad_input(
                        "an archived offer cannot be edited; activate it first",
                    ));
                }
                let changes = changes_from_input(&offer, &input)?;
                if let Some(ids) = &project_ids
                    && projects::count_existing(conn, viewer.brand_id, ids).await? != ids.len() as i64
                {
                    return Err(ApiError::NotFound("project"));
                }
                Ok(offers::update(conn, viewer.brand_id, offer_id, changes, project_ids).await?)
            }
            .scope_boxed()
        })
        .await?;
        Ok(OfferPayload {
            offer: Offer::new(row, today),
        })
    }

    /// Sets the offer's default payout. Members with their own override keep it.
    #[graphql(guard = "AdminOnly")]
    async fn edit_payout(&self, ctx: &Context<'_>, offer_id: ID, payout: PayoutRuleInput) -> ApiResult<OfferPayload> {
        let id = decode(Kind::Offer, &offer_id)?;
        let rule = payout.to_rule()?;
        let today = viewer(ctx)?.today();
        let details = json!({ "offerId": offer_id.as_str(), "payout": rule_json(&rule) });
        let row = audited(ctx, "editPayout", details, move |conn, viewer| {
            async move {
                let offer = offers::find(conn, viewer.brand_id, id)
                    .await?
                    .ok_or(ApiError::NotFound("offer"))?;
                check_rule_fits(&offer, &rule)?;
                let (percent, flat) = rule.parts();
                let changes = OfferChanges {
                    payout_type: Some(rule.payout_type().as_str().to_string()),
                    payout_percent: Some(percent),
                    payout_flat: Some(flat),
                    ..OfferChanges::default()
                };
                Ok(offers::update(conn, viewer.brand_id, id, changes, None).await?)
            }
            .scope_boxed()
        })
        .await?;
        Ok(OfferPayload {
            offer: Offer::new(row, today),
        })
    }

    /// Gives memberships their own payout, which beats the offer's default. All or nothing.
    #[graphql(guard = "AdminOnly")]
    async fn set_payout_override(
        &self,
        ctx: &Context<'_>,
        membership_ids: Vec<ID>,
        payout: PayoutRuleInput,
    ) -> ApiResult<MembershipsPayload> {
        let rule = payout.to_rule()?;
        let details = json!({ "membershipIds": id_strings(&membership_ids), "payout": rule_json(&rule) });
        override_payouts(ctx, "setPayoutOverride", &membership_ids, Some(rule), details).await
    }

    /// Removes memberships' own payouts: the offer's default applies again.
    #[graphql(guard = "AdminOnly")]
    async fn clear_payout_override(&self, ctx: &Context<'_>, membership_ids: Vec<ID>) -> ApiResult<MembershipsPayload> {
        let details = json!({ "membershipIds": id_strings(&membership_ids) });
        override_payouts(ctx, "clearPayoutOverride", &membership_ids, None, details).await
    }
}

fn rule_json(rule: &PayoutRule) -> serde_json::Value {
    let (percent, flat) = rule.parts();
    json!({ "type": rule.payout_type().as_str(), "percent": percent, "flatAmount": flat })
}

async fn override_payouts(
    ctx: &Context<'_>,
    action: &'static str,
    membership_ids: &[ID],
    rule: Option<PayoutRule>,
    details: serde_json::Value,
) -> ApiResult<MembershipsPayload> {
    let ids = decode_list(Kind::Membership, membership_ids)?;
    let rows = audited(ctx, action, details, move |conn, viewer| {
        async move {
            let rows = memberships_of(conn, viewer.brand_id, &ids).await?;
            if let Some(rule) = &rule {
                let offer_ids: Vec<i64> = rows.iter().map(|m| m.offer_id).collect();
                for offer in offers::by_ids(conn, viewer.brand_id, &offer_ids).await? {
                    check_rule_fits(&offer, rule)?;
                }
            }
            Ok(memberships::set_payout_override(conn, viewer.brand_id, &ids, rule).await?)
        }
        .scope_boxed()
    })
    .await?;
    Ok(MembershipsPayload {
        memberships: rows.into_iter().map(Membership).collect(),
    })
}
