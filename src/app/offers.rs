//! The brand's catalog: offers (creating, editing, payouts, status) and the
//! connected projects they are grouped in.

use chrono::NaiveDate;
use diesel_async::AsyncPgConnection;
use diesel_async::scoped_futures::ScopedFutureExt;

use super::audit::audited;
use super::shop_codes::{DiscountDraft, discount_terms};
use super::{AppError, AppResult, Caller};
use crate::db::models::{NewOffer, OfferRow, ProjectRow};
use crate::db::offers::{self, OfferChanges};
use crate::db::projects;
use crate::db::shop_codes::{self, DiscountTerms};
use crate::domain::enums::{OfferStatus, OfferType, PayoutType};
use crate::domain::ids::{BrandId, OfferId, ProjectId};
use crate::domain::payout::PayoutRule;
use crate::domain::validate;

/// A new offer as asked for, before checking.
pub struct OfferDraft {
    pub name: String,
    pub offer_type: OfferType,
    pub destination_url: Option<String>,
    pub code_prefix: Option<String>,
    pub rule: PayoutRule,
    pub attribution_window_days: i32,
    pub hold_period_days: i32,
    /// Default: today in the brand's time zone.
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    pub project_ids: Vec<ProjectId>,
    /// What a PROMO_CODE offer's codes take off at the shop's checkout.
    pub shopper_discount: Option<DiscountDraft>,
}

/// Changes to an offer; `None` leaves a field as it is.
#[derive(Default)]
pub struct OfferEdit {
    pub name: Option<String>,
    pub destination_url: Option<String>,
    pub code_prefix: Option<String>,
    pub attribution_window_days: Option<i32>,
    pub hold_period_days: Option<i32>,
    pub starts_on: Option<NaiveDate>,
    /// `Some(None)` makes the offer open-ended.
    pub ends_on: Option<Option<NaiveDate>>,
    /// Replaces the connected projects.
    pub project_ids: Option<Vec<ProjectId>>,
    /// Replaces a PROMO_CODE offer's shopper discount.
    pub shopper_discount: Option<DiscountDraft>,
}

/// A shopper discount, checked, for an offer of `offer_type` (promo codes only).
fn shopper_terms(offer_type: OfferType, draft: Option<DiscountDraft>) -> AppResult<Option<DiscountTerms>> {
    match draft {
        None => Ok(None),
        Some(_) if offer_type != OfferType::PromoCode => {
            Err(AppError::bad_input("only a PROMO_CODE offer has a shopper discount"))
        }
        Some(draft) => Ok(Some(discount_terms(draft)?)),
    }
}

fn check_window(attribution_window_days: Option<i32>, hold_period_days: Option<i32>) -> AppResult<()> {
    if attribution_window_days.is_some_and(|days| !(1..=365).contains(&days)) {
        return Err(AppError::bad_input("attributionWindowDays must be between 1 and 365"));
    }
    if hold_period_days.is_some_and(|days| !(0..=365).contains(&days)) {
        return Err(AppError::bad_input("holdPeriodDays must be between 0 and 365"));
    }
    Ok(())
}

/// A rule that cannot apply to this offer is refused: promo codes have no clicks.
fn check_rule_fits(offer_type: OfferType, rule: &PayoutRule) -> AppResult<()> {
    if offer_type == OfferType::PromoCode && rule.payout_type() == PayoutType::FlatPerClick {
        return Err(AppError::bad_input(
            "FLAT_PER_CLICK payouts need a SALES_LINK offer: promo codes have no clicks",
        ));
    }
    Ok(())
}

async fn check_projects_exist(conn: &mut AsyncPgConnection, brand_id: BrandId, ids: &[ProjectId]) -> AppResult<()> {
    if projects::count_existing(conn, brand_id, ids).await? != ids.len() as i64 {
        return Err(AppError::NotFound("project"));
    }
    Ok(())
}

fn new_offer(brand_id: BrandId, today: NaiveDate, draft: OfferDraft) -> AppResult<NewOffer> {
    let bad = AppError::bad_input;
    let name = validate::name("name", &draft.name).map_err(AppError::BadUserInput)?;
    let destination_url = draft
        .destination_url
        .as_deref()
        .map(validate::destination_url)
        .transpose()
        .map_err(AppError::BadUserInput)?;
    let code_prefix = draft
        .code_prefix
        .as_deref()
        .map(validate::code_prefix)
        .transpose()
        .map_err(AppError::BadUserInput)?;
    match draft.offer_type {
        OfferType::SalesLink if destination_url.is_none() => {
            return Err(bad("a SALES_LINK offer needs a destinationUrl"));
        }
        OfferType::SalesLink if code_prefix.is_some() => {
            return Err(bad("codePrefix is only for PROMO_CODE offers"));
        }
        OfferType::PromoCode if code_prefix.is_none() => {
            return Err(bad("a PROMO_CODE offer needs a codePrefix"));
        }
        _ => {}
    }
    check_rule_fits(draft.offer_type, &draft.rule)?;
    check_window(Some(draft.attribution_window_days), Some(draft.hold_period_days))?;
    let starts_on = draft.starts_on.unwrap_or(today);
    if draft.ends_on.is_some_and(|end| end < starts_on) {
        return Err(bad("endsOn must not be before startsOn"));
    }
    let (payout_percent, payout_flat) = draft.rule.parts();
    Ok(NewOffer {
        brand_id,
        name,
        offer_type: draft.offer_type.as_str().to_string(),
        destination_url,
        code_prefix,
        payout_type: draft.rule.payout_type().as_str().to_string(),
        payout_percent,
        payout_flat,
        attribution_window_days: draft.attribution_window_days,
        hold_period_days: draft.hold_period_days,
        starts_on,
        ends_on: draft.ends_on,
    })
}

/// Creates an offer of either type, connected to the given projects.
pub async fn create(conn: &mut AsyncPgConnection, caller: Caller, mut draft: OfferDraft) -> AppResult<OfferRow> {
    let mut project_ids = draft.project_ids.clone();
    project_ids.sort_unstable();
    project_ids.dedup();
    let discount = shopper_terms(draft.offer_type, draft.shopper_discount.take())?;
    let new = new_offer(caller.brand_id, caller.today(), draft)?;
    let details = serde_json::json!({
        "name": new.name, "type": new.offer_type, "payoutType": new.payout_type,
        "payoutPercent": new.payout_percent, "payoutFlat": new.payout_flat,
        "shopperDiscount": discount.as_ref().map(|t| serde_json::json!({ "type": t.discount_type.as_str(), "value": t.value.to_string() })),
    });
    audited(conn, caller, "createOffer", details, move |conn, caller| {
        async move {
            check_projects_exist(conn, caller.brand_id, &project_ids).await?;
            let row = offers::create(conn, new, project_ids).await?;
            if let Some(terms) = &discount {
                shop_codes::set_terms(conn, caller.brand_id, row.id, terms).await?;
            }
            Ok(row)
        }
        .scope_boxed()
    })
    .await
}

fn changes_of(offer: &OfferRow, offer_type: OfferType, edit: &OfferEdit) -> AppResult<OfferChanges> {
    let bad = AppError::bad_input;
    let invalid = AppError::BadUserInput;
    let is_link = offer_type == OfferType::SalesLink;
    if edit.destination_url.is_some() && !is_link {
        return Err(bad("destinationUrl is only for SALES_LINK offers"));
    }
    if edit.code_prefix.is_some() && is_link {
        return Err(bad("codePrefix is only for PROMO_CODE offers"));
    }
    check_window(edit.attribution_window_days, edit.hold_period_days)?;
    let effective_start = edit.starts_on.unwrap_or(offer.starts_on);
    let effective_end = edit.ends_on.unwrap_or(offer.ends_on);
    if effective_end.is_some_and(|end| end < effective_start) {
        return Err(bad("endsOn must not be before startsOn"));
    }
    Ok(OfferChanges {
        name: edit
            .name
            .as_deref()
            .map(|n| validate::name("name", n))
            .transpose()
            .map_err(invalid)?,
        destination_url: edit
            .destination_url
            .as_deref()
            .map(validate::destination_url)
            .transpose()
            .map_err(invalid)?,
        code_prefix: edit
            .code_prefix
            .as_deref()
            .map(validate::code_prefix)
            .transpose()
            .map_err(invalid)?,
        attribution_window_days: edit.attribution_window_days,
        hold_period_days: edit.hold_period_days,
        starts_on: edit.starts_on,
        ends_on: edit.ends_on,
        ..OfferChanges::default()
    })
}

async fn find_offer(conn: &mut AsyncPgConnection, brand_id: BrandId, id: OfferId) -> AppResult<OfferRow> {
    offers::find(conn, brand_id, id)
        .await?
        .ok_or(AppError::NotFound("offer"))
}

/// Changes an offer's name, destination, code prefix, windows, dates or projects.
/// An archived offer cannot be edited.
pub async fn update(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    offer_id: OfferId,
    mut edit: OfferEdit,
    details: serde_json::Value,
) -> AppResult<OfferRow> {
    if let Some(ids) = edit.project_ids.as_mut() {
        ids.sort_unstable();
        ids.dedup();
    }
    let discount = edit.shopper_discount.take();
    audited(conn, caller, "updateOffer", details, move |conn, caller| {
        async move {
            let offer = find_offer(conn, caller.brand_id, offer_id).await?;
            if offer.status == OfferStatus::Archived {
                return Err(AppError::bad_input(
                    "an archived offer cannot be edited; activate it first",
                ));
            }
            let changes = changes_of(&offer, offer.offer_type, &edit)?;
            if let Some(terms) = shopper_terms(offer.offer_type, discount)? {
                shop_codes::set_terms(conn, caller.brand_id, offer_id, &terms).await?;
            }
            if let Some(ids) = &edit.project_ids {
                check_projects_exist(conn, caller.brand_id, ids).await?;
            }
            let updated = offers::update(conn, caller.brand_id, offer_id, changes, edit.project_ids).await?;
            publish_offer(conn, caller, &updated).await?;
            Ok(updated)
        }
        .scope_boxed()
    })
    .await
}

/// Sets the offer's default payout. Members with their own override keep it.
pub async fn edit_payout(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    offer_id: OfferId,
    rule: PayoutRule,
    details: serde_json::Value,
) -> AppResult<OfferRow> {
    audited(conn, caller, "editPayout", details, move |conn, caller| {
        async move {
            let offer = find_offer(conn, caller.brand_id, offer_id).await?;
            check_rule_fits(offer.offer_type, &rule)?;
            let (percent, flat) = rule.parts();
            let changes = OfferChanges {
                payout_type: Some(rule.payout_type().as_str().to_string()),
                payout_percent: Some(percent),
                payout_flat: Some(flat),
                ..OfferChanges::default()
            };
            let updated = offers::update(conn, caller.brand_id, offer_id, changes, None).await?;
            publish_offer(conn, caller, &updated).await?;
            Ok(updated)
        }
        .scope_boxed()
    })
    .await
}

/// Pauses, activates or archives an offer; `EXPIRED` follows from the end date.
pub async fn set_status(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    offer_id: OfferId,
    status: OfferStatus,
    details: serde_json::Value,
) -> AppResult<OfferRow> {
    if status == OfferStatus::Expired {
        return Err(AppError::bad_input(
            "EXPIRED follows from the offer's end date; set endsOn instead",
        ));
    }
    audited(conn, caller, "setOfferStatus", details, move |conn, caller| {
        async move {
            let updated = offers::set_status(conn, caller.brand_id, offer_id, status.as_str())
                .await?
                .ok_or(AppError::NotFound("offer"))?;
            publish_offer(conn, caller, &updated).await?;
            Ok(updated)
        }
        .scope_boxed()
    })
    .await
}

/// `offer.updated` with the offer as it now stands.
async fn publish_offer(conn: &mut AsyncPgConnection, caller: Caller, offer: &OfferRow) -> AppResult<()> {
    let event = super::events::offer_updated(offer, caller.today());
    Ok(super::events::publish(conn, vec![event]).await?)
}

/// Payout overrides must fit each membership's offer: checked here for a set of offers.
pub(super) async fn check_rule_fits_offers(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    offer_ids: &[OfferId],
    rule: &PayoutRule,
) -> AppResult<()> {
    for offer in offers::by_ids(conn, brand_id, offer_ids).await? {
        check_rule_fits(offer.offer_type, rule)?;
    }
    Ok(())
}

/// Creates a connected project (campaign).
pub async fn create_project(conn: &mut AsyncPgConnection, caller: Caller, name: &str) -> AppResult<ProjectRow> {
    let name = validate::name("name", name).map_err(AppError::BadUserInput)?;
    let details = serde_json::json!({ "name": name });
    audited(conn, caller, "createProject", details, move |conn, caller| {
        async move { Ok(projects::create(conn, caller.brand_id, &name).await?) }.scope_boxed()
    })
    .await
}
