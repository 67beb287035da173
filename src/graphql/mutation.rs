use async_graphql::{Context, ID, InputObject, MergedObject, Object, SimpleObject};
use diesel_async::scoped_futures::ScopedFutureExt;

use super::audited::audited;
use super::columns::ColumnMutations;
use super::membership_mutations::MembershipMutations;
use super::offer_mutations::OfferMutations;
use super::payment_mutations::PaymentMutations;
use super::reward_mutations::RewardMutations;
use super::tracking_mutations::TrackingMutations;

use super::context::{AdminOnly, conn, viewer};
use super::error::{ApiError, ApiResult};
use super::ids::{Kind, decode_all};
use super::scalars::Date;
use super::types::member::Member;
use super::types::offer::Offer;
use super::types::payout::PayoutRuleInput;
use super::types::project::Project;
use crate::db::models::{NewMember, NewOffer};
use crate::db::{members, offers, projects};
use crate::domain::enums::{OfferType, PayoutType};
use crate::domain::validate;

/// Every change a brand's admin key can make. Each root field costs 10 points
/// plus what its payload selects (see `Query`).
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    CatalogMutations,
    OfferMutations,
    TrackingMutations,
    MembershipMutations,
    PaymentMutations,
    RewardMutations,
    ColumnMutations,
);

#[derive(Default)]
pub struct CatalogMutations;

/// A new connected project.
#[derive(InputObject)]
pub struct CreateProjectInput {
    pub name: String,
}

/// The result of `createProject`.
#[derive(SimpleObject)]
pub struct CreateProjectPayload {
    pub project: Project,
}

/// A new member (creator).
#[derive(InputObject)]
pub struct CreateMemberInput {
    pub name: String,
    /// Unique within the brand, in any case.
    pub email: String,
    /// Where payouts go (e.g. a PayPal email); defaults to none.
    pub payout_email: Option<String>,
    /// ISO 3166-1 alpha-2 code, e.g. `US`.
    pub country: Option<String>,
}

/// The result of `createMember`.
#[derive(SimpleObject)]
pub struct CreateMemberPayload {
    pub member: Member,
}

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
}

/// The result of `createOffer`.
#[derive(SimpleObject)]
pub struct CreateOfferPayload {
    pub offer: Offer,
}

#[Object]
impl CatalogMutations {
    /// Creates a connected project (campaign).
    #[graphql(guard = "AdminOnly")]
    async fn create_project(&self, ctx: &Context<'_>, input: CreateProjectInput) -> ApiResult<CreateProjectPayload> {
        let viewer = viewer(ctx)?;
        let name = validate::name("name", &input.name).map_err(ApiError::BadUserInput)?;
        let row = projects::create(&mut *conn(ctx).await?, viewer.brand_id, &name).await?;
        Ok(CreateProjectPayload { project: Project(row) })
    }

    /// Adds a creator to the brand. Add them to offers separately.
    #[graphql(guard = "AdminOnly")]
    async fn create_member(&self, ctx: &Context<'_>, input: CreateMemberInput) -> ApiResult<CreateMemberPayload> {
        let viewer = viewer(ctx)?;
        let member = NewMember {
            brand_id: viewer.brand_id,
            name: validate::name("name", &input.name).map_err(ApiError::BadUserInput)?,
            email: validate::email("email", &input.email).map_err(ApiError::BadUserInput)?,
            payout_email: input
                .payout_email
                .as_deref()
                .map(|e| validate::email("payoutEmail", e))
                .transpose()
                .map_err(ApiError::BadUserInput)?,
            country: input
                .country
                .as_deref()
                .map(validate::country)
                .transpose()
                .map_err(ApiError::BadUserInput)?,
        };
        let row = members::create(&mut *conn(ctx).await?, &member).await?;
        Ok(CreateMemberPayload { member: Member(row) })
    }

    /// Creates an offer of either type, connected to the given projects.
    #[graphql(guard = "AdminOnly")]
    async fn create_offer(&self, ctx: &Context<'_>, input: CreateOfferInput) -> ApiResult<CreateOfferPayload> {
        let viewer = viewer(ctx)?;
        let today = viewer.today();
        let new_offer = new_offer_from_input(viewer.brand_id, today, &input)?;
        let mut project_ids = decode_all(Kind::Project, &input.project_ids)?;
        project_ids.sort_unstable();
        project_ids.dedup();
        let details = serde_json::json!({
            "name": new_offer.name, "type": new_offer.offer_type, "payoutType": new_offer.payout_type,
            "payoutPercent": new_offer.payout_percent, "payoutFlat": new_offer.payout_flat,
        });
        let row = audited(ctx, "createOffer", details, move |conn, viewer| {
            async move {
                if projects::count_existing(conn, viewer.brand_id, &project_ids).await? != project_ids.len() as i64 {
                    return Err(ApiError::NotFound("project"));
                }
                Ok(offers::create(conn, new_offer, project_ids).await?)
            }
            .scope_boxed()
        })
        .await?;
        Ok(CreateOfferPayload {
            offer: Offer::new(row, today),
        })
    }
}

fn new_offer_from_input(brand_id: i64, today: chrono::NaiveDate, input: &CreateOfferInput) -> ApiResult<NewOffer> {
    let bad = ApiError::bad_input;
    let name = validate::name("name", &input.name).map_err(ApiError::BadUserInput)?;
    let rule = input.payout.to_rule()?;
    let destination_url = input
        .destination_url
        .as_deref()
        .map(validate::destination_url)
        .transpose()
        .map_err(ApiError::BadUserInput)?;
    let code_prefix = input
        .code_prefix
        .as_deref()
        .map(validate::code_prefix)
        .transpose()
        .map_err(ApiError::BadUserInput)?;
    match input.offer_type {
        OfferType::SalesLink if destination_url.is_none() => {
            return Err(bad("a SALES_LINK offer needs a destinationUrl"));
        }
        OfferType::SalesLink if code_prefix.is_some() => {
            return Err(bad("codePrefix is only for PROMO_CODE offers"));
        }
        OfferType::PromoCode if code_prefix.is_none() => {
            return Err(bad("a PROMO_CODE offer needs a codePrefix"));
        }
        OfferType::PromoCode if rule.payout_type() == PayoutType::FlatPerClick => {
            return Err(bad(
                "FLAT_PER_CLICK payouts need a SALES_LINK offer: promo codes have no clicks",
            ));
        }
        _ => {}
    }
    if !(1..=365).contains(&input.attribution_window_days) {
        return Err(bad("attributionWindowDays must be between 1 and 365"));
    }
    if !(0..=365).contains(&input.hold_period_days) {
        return Err(bad("holdPeriodDays must be between 0 and 365"));
    }
    let starts_on = input.starts_on.map_or(today, |d| d.0);
    let ends_on = input.ends_on.map(|d| d.0);
    if ends_on.is_some_and(|end| end < starts_on) {
        return Err(bad("endsOn must not be before startsOn"));
    }
    let (payout_percent, payout_flat) = rule.parts();
    Ok(NewOffer {
        brand_id,
        name,
        offer_type: input.offer_type.as_str().to_string(),
        destination_url,
        code_prefix,
        payout_type: rule.payout_type().as_str().to_string(),
        payout_percent,
        payout_flat,
        attribution_window_days: input.attribution_window_days,
        hold_period_days: input.hold_period_days,
        starts_on,
        ends_on,
    })
}
