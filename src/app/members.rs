//! Members and their memberships of offers: adding, activating, removing,
//! promo codes, payout overrides.

use diesel_async::AsyncPgConnection;
use diesel_async::scoped_futures::ScopedFutureExt;

use super::audit::audited;
use super::events::{self, Event};
use super::offers::check_rule_fits_offers;
use super::{AppError, AppResult, Caller};
use crate::db::models::{MemberChanges, MemberRow, MembershipRow, NewMember};
use crate::db::{DbError, members, memberships, offers};
use crate::domain::enums::{OfferStatus, OfferType};
use crate::domain::ids::{BrandId, MemberId, MembershipId, OfferId};
use crate::domain::payout::PayoutRule;
use crate::domain::validate;
use crate::domain::webhooks::EventType;

/// The memberships of the brand with these ids, or NOT_FOUND if any is missing.
pub async fn memberships_of(
    conn: &mut AsyncPgConnection,
    brand_id: BrandId,
    ids: &[MembershipId],
) -> AppResult<Vec<MembershipRow>> {
    let rows = memberships::by_ids(conn, brand_id, ids).await?;
    if rows.len() != ids.len() {
        return Err(AppError::NotFound("membership"));
    }
    Ok(rows)
}

/// A new member as asked for, before checking.
pub struct MemberDraft {
    pub name: String,
    pub email: String,
    pub payout_email: Option<String>,
    pub country: Option<String>,
    /// None: the brand's currency.
    pub payout_currency: Option<String>,
}

/// Adds a creator to the brand (to offers separately).
pub async fn create(conn: &mut AsyncPgConnection, caller: Caller, draft: MemberDraft) -> AppResult<MemberRow> {
    let invalid = AppError::BadUserInput;
    let member = NewMember {
        brand_id: caller.brand_id,
        name: validate::name("name", &draft.name).map_err(invalid)?,
        email: validate::email("email", &draft.email).map_err(invalid)?,
        payout_email: draft
            .payout_email
            .as_deref()
            .map(|e| validate::payout_address("payoutEmail", e))
            .transpose()
            .map_err(invalid)?,
        country: draft
            .country
            .as_deref()
            .map(validate::country)
            .transpose()
            .map_err(invalid)?,
        payout_currency: match &draft.payout_currency {
            Some(code) => Some(payable_currency(conn, caller, code).await?),
            None => None,
        },
    };
    // The audit keeps the address as given; analysts see it hidden (`AuditEvent.details`).
    let details = serde_json::json!({
        "name": member.name,
        "email": member.email,
        "payoutEmail": member.payout_email,
        "country": member.country,
        "payoutCurrency": member.payout_currency,
    });
    audited(conn, caller, "createMember", details, move |conn, _| {
        async move { Ok(members::create(conn, &member).await?) }.scope_boxed()
    })
    .await
}

/// Changes to a member as asked for: `None` leaves a field as it is; for the
/// optional fields `Some(None)` clears it.
#[derive(Default)]
pub struct MemberEdit {
    pub name: Option<String>,
    pub email: Option<String>,
    pub payout_email: Option<Option<String>>,
    pub country: Option<Option<String>>,
    pub payout_currency: Option<String>,
}

/// Edits a member's name, email, payout address, country or payout currency.
/// Payments sent from now on use the new address and currency; the audit event names the fields changed.
pub async fn update(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    id: MemberId,
    edit: MemberEdit,
) -> AppResult<MemberRow> {
    let invalid = AppError::BadUserInput;
    let optional = |value: Option<Option<String>>, check: &dyn Fn(&str) -> Result<String, String>| {
        value.map(|v| v.as_deref().map(check).transpose()).transpose()
    };
    let changes = MemberChanges {
        name: edit
            .name
            .as_deref()
            .map(|n| validate::name("name", n))
            .transpose()
            .map_err(invalid)?,
        email: edit
            .email
            .as_deref()
            .map(|e| validate::email("email", e))
            .transpose()
            .map_err(invalid)?,
        payout_email: optional(edit.payout_email, &|e| validate::payout_address("payoutEmail", e)).map_err(invalid)?,
        country: optional(edit.country, &validate::country).map_err(invalid)?,
        payout_currency: match &edit.payout_currency {
            Some(code) => Some(payable_currency(conn, caller, code).await?),
            None => None,
        },
    };
    if changes.is_empty() {
        return Err(AppError::bad_input("give at least one field to change"));
    }
    let changed: Vec<&str> = [
        ("name", changes.name.is_some()),
        ("email", changes.email.is_some()),
        ("payoutEmail", changes.payout_email.is_some()),
        ("country", changes.country.is_some()),
        ("payoutCurrency", changes.payout_currency.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, set)| set.then_some(field))
    .collect();
    let details = serde_json::json!({ "memberId": id.to_string(), "changed": changed });
    audited(conn, caller, "updateMember", details, move |conn, caller| {
        async move {
            members::update(conn, caller.brand_id, id, &changes)
                .await?
                .ok_or(AppError::NotFound("member"))
        }
        .scope_boxed()
    })
    .await
}

async fn payable_currency(conn: &mut AsyncPgConnection, caller: Caller, code: &str) -> AppResult<String> {
    let brand_currency = super::brands::find(conn, caller).await?.currency;
    super::exchange_rates::payable_currency(conn, &brand_currency, code).await
}

/// Puts members in an offer, each with a fresh link code or promo code. All or nothing.
pub async fn add_to_offer(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    offer_id: OfferId,
    member_ids: Vec<MemberId>,
) -> AppResult<Vec<MembershipRow>> {
    let offer = offers::find(conn, caller.brand_id, offer_id)
        .await?
        .ok_or(AppError::NotFound("offer"))?;
    if offer.status == OfferStatus::Archived {
        return Err(AppError::bad_input("an archived offer cannot take members"));
    }
    if members::by_ids(conn, caller.brand_id, &member_ids).await?.len() != member_ids.len() {
        return Err(AppError::NotFound("member"));
    }
    let details = serde_json::json!({
        "offerId": offer_id.to_string(),
        "memberIds": member_ids.iter().map(|&id| id.to_string()).collect::<Vec<_>>(),
    });
    audited(conn, caller, "addMembers", details, move |conn, _| {
        async move {
            let added = memberships::add(conn, &offer, &member_ids).await.map_err(|e| match e {
                DbError::UniqueViolation(c) if c.contains("offer_id_member_id") => {
                    AppError::Conflict("a member is already in this offer".into())
                }
                other => other.into(),
            })?;
            let mut changes: Vec<Event> = added
                .iter()
                .map(|row| events::membership(row, EventType::MembershipCreated, "created"))
                .collect();
            if offer.offer_type == OfferType::PromoCode {
                let ids: Vec<MembershipId> = added.iter().map(|m| m.id).collect();
                let codes = memberships::promo_code_history(conn, offer.brand_id, &ids).await?;
                changes.extend(
                    codes
                        .iter()
                        .map(|code| events::promo_code(offer.brand_id, code, EventType::PromoCodeIssued)),
                );
            }
            events::publish(conn, changes).await?;
            Ok(added)
        }
        .scope_boxed()
    })
    .await
}

/// Turns memberships on or off. Removed memberships cannot be turned on.
pub async fn set_active(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    ids: Vec<MembershipId>,
    active: bool,
    details: serde_json::Value,
) -> AppResult<Vec<MembershipRow>> {
    audited(conn, caller, "setMembershipActive", details, move |conn, caller| {
        async move {
            let rows = memberships_of(conn, caller.brand_id, &ids).await?;
            if active && rows.iter().any(|m| m.removed_at.is_some()) {
                return Err(AppError::bad_input(
                    "a removed membership cannot be turned on; add the member again",
                ));
            }
            let changed = memberships::set_active(conn, caller.brand_id, &ids, active).await?;
            let change = if active { "activated" } else { "deactivated" };
            publish_memberships(conn, &changed, change).await?;
            Ok(changed)
        }
        .scope_boxed()
    })
    .await
}

/// Removes members from an offer; their history stays.
pub async fn remove_from_offer(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    offer_id: OfferId,
    member_ids: Vec<MemberId>,
    details: serde_json::Value,
) -> AppResult<Vec<MembershipRow>> {
    audited(conn, caller, "removeMembers", details, move |conn, caller| {
        async move {
            offers::find(conn, caller.brand_id, offer_id)
                .await?
                .ok_or(AppError::NotFound("offer"))?;
            let removed = memberships::remove(conn, caller.brand_id, offer_id, &member_ids).await?;
            if removed.len() != member_ids.len() {
                return Err(AppError::NotFound("member in this offer"));
            }
            publish_memberships(conn, &removed, "removed").await?;
            Ok(removed)
        }
        .scope_boxed()
    })
    .await
}

/// Issues new promo codes: a fresh one each, or `code` for a single membership.
/// The old codes are disabled and no longer attribute. All or nothing.
pub async fn refresh_promo_codes(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    ids: Vec<MembershipId>,
    code: Option<String>,
    details: serde_json::Value,
) -> AppResult<Vec<MembershipRow>> {
    let code = code.map(|c| c.trim().to_uppercase());
    if let Some(code) = &code {
        if ids.len() != 1 {
            return Err(AppError::bad_input("a chosen code is for one membership at a time"));
        }
        if !validate::promo_code_shape(code) {
            return Err(AppError::bad_input(
                "a promo code is 3 to 64 letters, digits, - or _, starting with a letter or digit",
            ));
        }
    }
    audited(conn, caller, "refreshPromoCodes", details, move |conn, caller| {
        async move {
            let rows = memberships_of(conn, caller.brand_id, &ids).await?;
            for row in &rows {
                let offer = offers::find(conn, caller.brand_id, row.offer_id)
                    .await?
                    .ok_or(AppError::NotFound("offer"))?;
                if offer.offer_type != OfferType::PromoCode {
                    return Err(AppError::bad_input(
                        "only memberships of PROMO_CODE offers have promo codes",
                    ));
                }
                let member = members::find(conn, caller.brand_id, row.member_id)
                    .await?
                    .ok_or(AppError::NotFound("member"))?;
                let new_code = match &code {
                    Some(chosen) if memberships::promo_code_taken(conn, caller.brand_id, chosen).await? => {
                        return Err(AppError::Conflict(format!(
                            "the code {chosen} was already issued in this brand"
                        )));
                    }
                    Some(chosen) => chosen.clone(),
                    None => {
                        let prefix = offer.code_prefix.as_deref().unwrap_or("CODE");
                        memberships::fresh_promo_code(conn, caller.brand_id, prefix, &member.name).await?
                    }
                };
                let (disabled, issued) =
                    memberships::replace_promo_code(conn, caller.brand_id, row.id, &new_code).await?;
                let brand_id = caller.brand_id;
                let mut changes: Vec<Event> = disabled
                    .iter()
                    .map(|code| events::promo_code(brand_id, code, EventType::PromoCodeDisabled))
                    .collect();
                changes.push(events::promo_code(brand_id, &issued, EventType::PromoCodeIssued));
                events::publish(conn, changes).await?;
            }
            Ok(rows)
        }
        .scope_boxed()
    })
    .await
}

/// Gives memberships their own payout (`Some`), or takes it away (`None`). All or nothing.
pub async fn set_payout_override(
    conn: &mut AsyncPgConnection,
    caller: Caller,
    action: &'static str,
    ids: Vec<MembershipId>,
    rule: Option<PayoutRule>,
    details: serde_json::Value,
) -> AppResult<Vec<MembershipRow>> {
    audited(conn, caller, action, details, move |conn, caller| {
        async move {
            let rows = memberships_of(conn, caller.brand_id, &ids).await?;
            if let Some(rule) = &rule {
                let offer_ids: Vec<OfferId> = rows.iter().map(|m| m.offer_id).collect();
                check_rule_fits_offers(conn, caller.brand_id, &offer_ids, rule).await?;
            }
            let changed = memberships::set_payout_override(conn, caller.brand_id, &ids, rule).await?;
            publish_memberships(conn, &changed, "payout_changed").await?;
            Ok(changed)
        }
        .scope_boxed()
    })
    .await
}

/// `membership.updated` for each of `rows`, saying what `change` was made.
async fn publish_memberships(conn: &mut AsyncPgConnection, rows: &[MembershipRow], change: &str) -> AppResult<()> {
    let changes = rows
        .iter()
        .map(|row| events::membership(row, EventType::MembershipUpdated, change))
        .collect();
    Ok(events::publish(conn, changes).await?)
}
