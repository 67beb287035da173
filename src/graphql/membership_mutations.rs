//! Managing offers and their members: status, activation, removal, promo codes.
//! Each runs in one transaction with its audit event.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use diesel_async::AsyncPgConnection;
use diesel_async::scoped_futures::ScopedFutureExt;
use serde_json::json;

use super::audited::audited;
use super::context::{AdminOnly, PublicUrl, viewer};
use super::error::{ApiError, ApiResult};
use super::ids::{Kind, decode, decode_list};
use super::types::email::Email;
use super::types::membership::Membership;
use super::types::offer::Offer;
use crate::db::models::MembershipRow;
use crate::db::schema::offers as offers_table;
use crate::db::{brands, members, memberships, offers};
use crate::domain::enums::{OfferStatus, OfferType};
use crate::email::{self, EmailWake, NewEmail, TemplateValues};

#[derive(Default)]
pub struct MembershipMutations;

/// The result of `setOfferStatus`.
#[derive(SimpleObject)]
pub struct SetOfferStatusPayload {
    pub offer: Offer,
}

/// The memberships a mutation changed.
#[derive(SimpleObject)]
pub struct MembershipsPayload {
    pub memberships: Vec<Membership>,
}

/// A message to members: plain text with `{{memberName}}`, `{{offerName}}`,
/// `{{brandName}}`, `{{link}}` (sales links) and `{{promoCode}}` (promo codes).
#[derive(InputObject)]
pub struct EmailTemplateInput {
    pub subject: String,
    pub body: String,
}

/// The result of `emailMembers`: the queued messages.
#[derive(SimpleObject)]
pub struct EmailMembersPayload {
    pub emails: Vec<Email>,
}

/// The memberships of the brand with these ids, or NOT_FOUND if any is missing.
pub(super) async fn memberships_of(
    conn: &mut AsyncPgConnection,
    brand_id: i64,
    ids: &[i64],
) -> Result<Vec<MembershipRow>, ApiError> {
    let rows = memberships::by_ids(conn, brand_id, ids).await?;
    if rows.len() != ids.len() {
        return Err(ApiError::NotFound("membership"));
    }
    Ok(rows)
}

pub(super) fn valid_promo_code(code: &str) -> bool {
    let mut chars = code.chars();
    (3..=64).contains(&code.len())
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[Object]
impl MembershipMutations {
    /// Pauses, activates or archives an offer. `EXPIRED` follows from the end date and
    /// cannot be set. Paused and archived offers attribute nothing; an archived offer
    /// takes no new members.
    #[graphql(guard = "AdminOnly")]
    async fn set_offer_status(
        &self,
        ctx: &Context<'_>,
        offer_id: ID,
        status: OfferStatus,
    ) -> ApiResult<SetOfferStatusPayload> {
        if status == OfferStatus::Expired {
            return Err(ApiError::bad_input(
                "EXPIRED follows from the offer's end date; set endsOn instead",
            ));
        }
        let id = decode(Kind::Offer, &offer_id)?;
        let today = viewer(ctx)?.today();
        let row = audited(
            ctx,
            "setOfferStatus",
            json!({ "offerId": offer_id.as_str(), "status": status.as_str() }),
            move |conn, viewer| {
                async move {
                    use diesel::prelude::*;
                    use diesel_async::RunQueryDsl;
                    offers::find(conn, viewer.brand_id, id)
                        .await?
                        .ok_or(ApiError::NotFound("offer"))?;
                    let row = diesel::update(offers_table::table.find((viewer.brand_id, id)))
                        .set((
                            offers_table::status.eq(status.as_str()),
                            offers_table::updated_at.eq(diesel::dsl::now),
                        ))
                        .returning(crate::db::models::OfferRow::as_returning())
                        .get_result(conn)
                        .await?;
                    Ok(row)
                }
                .scope_boxed()
            },
        )
        .await?;
        Ok(SetOfferStatusPayload {
            offer: Offer::new(row, today),
        })
    }

    /// Turns memberships on or off. Inactive memberships keep their history but
    /// attribute nothing. Removed memberships cannot be turned on.
    #[graphql(guard = "AdminOnly")]
    async fn set_membership_active(
        &self,
        ctx: &Context<'_>,
        membership_ids: Vec<ID>,
        active: bool,
    ) -> ApiResult<MembershipsPayload> {
        let ids = decode_list(Kind::Membership, &membership_ids)?;
        let details =
            json!({ "membershipIds": membership_ids.iter().map(|i| i.as_str()).collect::<Vec<_>>(), "active": active });
        let rows = audited(ctx, "setMembershipActive", details, move |conn, viewer| {
            async move {
                let rows = memberships_of(conn, viewer.brand_id, &ids).await?;
                if active && rows.iter().any(|m| m.removed_at.is_some()) {
                    return Err(ApiError::bad_input(
                        "a removed membership cannot be turned on; add the member again",
                    ));
                }
                Ok(memberships::set_active(conn, viewer.brand_id, &ids, active).await?)
            }
            .scope_boxed()
        })
        .await?;
        Ok(MembershipsPayload {
            memberships: rows.into_iter().map(Membership).collect(),
        })
    }

    /// Removes members from an offer. Their history (clicks, conversions, ledger) stays.
    #[graphql(guard = "AdminOnly")]
    async fn remove_members(
        &self,
        ctx: &Context<'_>,
        offer_id: ID,
        member_ids: Vec<ID>,
    ) -> ApiResult<MembershipsPayload> {
        let offer = decode(Kind::Offer, &offer_id)?;
        let members = decode_list(Kind::Member, &member_ids)?;
        let details = json!({ "offerId": offer_id.as_str(), "memberIds": member_ids.iter().map(|i| i.as_str()).collect::<Vec<_>>() });
        let rows = audited(ctx, "removeMembers", details, move |conn, viewer| {
            async move {
                offers::find(conn, viewer.brand_id, offer)
                    .await?
                    .ok_or(ApiError::NotFound("offer"))?;
                let removed = memberships::remove(conn, viewer.brand_id, offer, &members).await?;
                if removed.len() != members.len() {
                    return Err(ApiError::NotFound("member in this offer"));
                }
                Ok(removed)
            }
            .scope_boxed()
        })
        .await?;
        Ok(MembershipsPayload {
            memberships: rows.into_iter().map(Membership).collect(),
        })
    }

    /// Issues new promo codes: a fresh one each, or `code` for a single membership. The
    /// old codes are disabled, stay in history and no longer attribute. All or nothing.
    #[graphql(guard = "AdminOnly")]
    async fn refresh_promo_codes(
        &self,
        ctx: &Context<'_>,
        membership_ids: Vec<ID>,
        code: Option<String>,
    ) -> ApiResult<MembershipsPayload> {
        let ids = decode_list(Kind::Membership, &membership_ids)?;
        let code = code.map(|c| c.trim().to_uppercase());
        if let Some(code) = &code {
            if ids.len() != 1 {
                return Err(ApiError::bad_input("a chosen code is for one membership at a time"));
            }
            if !valid_promo_code(code) {
                return Err(ApiError::bad_input(
                    "a promo code is 3 to 64 letters, digits, - or _, starting with a letter or digit",
                ));
            }
        }
        let details =
            json!({ "membershipIds": membership_ids.iter().map(|i| i.as_str()).collect::<Vec<_>>(), "code": code });
        let rows = audited(ctx, "refreshPromoCodes", details, move |conn, viewer| {
            async move {
                let rows = memberships_of(conn, viewer.brand_id, &ids).await?;
                for row in &rows {
                    let offer = offers::find(conn, viewer.brand_id, row.offer_id)
                        .await?
                        .ok_or(ApiError::NotFound("offer"))?;
                    if offer.offer_type != OfferType::PromoCode.as_str() {
                        return Err(ApiError::bad_input(
                            "only memberships of PROMO_CODE offers have promo codes",
                        ));
                    }
                    let member = crate::db::members::find(conn, viewer.brand_id, row.member_id)
                        .await?
                        .ok_or(ApiError::NotFound("member"))?;
                    let new_code = match &code {
                        Some(chosen) if memberships::promo_code_taken(conn, viewer.brand_id, chosen).await? => {
                            return Err(ApiError::Conflict(format!(
                                "the code {chosen} was already issued in this brand"
                            )));
                        }
                        Some(chosen) => chosen.clone(),
                        None => {
                            let prefix = offer.code_prefix.as_deref().unwrap_or("CODE");
                            memberships::fresh_promo_code(conn, viewer.brand_id, prefix, &member.name).await?
                        }
                    };
                    memberships::replace_promo_code(conn, viewer.brand_id, row.id, &new_code).await?;
                }
                Ok(rows)
            }
            .scope_boxed()
        })
        .await?;
        Ok(MembershipsPayload {
            memberships: rows.into_iter().map(Membership).collect(),
        })
    }

    /// Emails members their link or promo code: one message each from `template`,
    /// queued with this request and sent in the background over SMTP, retried with
    /// backoff. Each membership's `emails` show the message and every attempt.
    #[graphql(guard = "AdminOnly")]
    async fn email_members(
        &self,
        ctx: &Context<'_>,
        membership_ids: Vec<ID>,
        template: EmailTemplateInput,
    ) -> ApiResult<EmailMembersPayload> {
        let ids = decode_list(Kind::Membership, &membership_ids)?;
        let subject = template.subject.trim().to_string();
        if subject.is_empty() || subject.len() > 200 || subject.contains(['\r', '\n']) {
            return Err(ApiError::bad_input("subject must be one line of 1 to 200 characters"));
        }
        if template.body.trim().is_empty() || template.body.len() > 20_000 {
            return Err(ApiError::bad_input("body must be 1 to 20000 characters"));
        }
        let body = template.body;
        let base_url = ctx.data_unchecked::<PublicUrl>().0.trim_end_matches('/').to_string();
        let details = json!({ "membershipIds": membership_ids.iter().map(|i| i.as_str()).collect::<Vec<_>>(), "subject": subject });
        let rows = audited(ctx, "emailMembers", details, move |conn, viewer| {
            async move {
                let rows = memberships_of(conn, viewer.brand_id, &ids).await?;
                if rows.iter().any(|m| m.removed_at.is_some()) {
                    return Err(ApiError::bad_input("removed members cannot be emailed about the offer"));
                }
                let brand = brands::find(conn, viewer.brand_id).await?;
                let offer_ids: Vec<i64> = rows.iter().map(|m| m.offer_id).collect();
                let member_ids: Vec<i64> = rows.iter().map(|m| m.member_id).collect();
                let offers = offers::by_ids(conn, viewer.brand_id, &offer_ids).await?;
                let people = members::by_ids(conn, viewer.brand_id, &member_ids).await?;
                let codes = memberships::current_promo_codes(conn, viewer.brand_id, &ids).await?;
                let mut emails = Vec::with_capacity(rows.len());
                for row in &rows {
                    let offer = offers
                        .iter()
                        .find(|o| o.id == row.offer_id)
                        .ok_or(ApiError::NotFound("offer"))?;
                    let member = people
                        .iter()
                        .find(|p| p.id == row.member_id)
                        .ok_or(ApiError::NotFound("member"))?;
                    let link = row.link_code.as_ref().map(|code| format!("{base_url}/r/{code}"));
                    let values = TemplateValues {
                        member_name: &member.name,
                        offer_name: &offer.name,
                        brand_name: &brand.name,
                        link: link.as_deref(),
                        promo_code: codes.get(&row.id).map(String::as_str),
                    };
                    let fill =
                        |text: &str| email::render(text, &values).map_err(|e| ApiError::bad_input(e.to_string()));
                    emails.push(NewEmail {
                        brand_id: viewer.brand_id,
                        membership_id: row.id,
                        to_address: member.email.clone(),
                        subject: fill(&subject)?,
                        body: fill(&body)?,
                    });
                }
                Ok(email::enqueue(conn, &emails).await?)
            }
            .scope_boxed()
        })
        .await?;
        ctx.data_unchecked::<EmailWake>().0.notify_one();
        Ok(EmailMembersPayload {
            emails: rows.into_iter().map(Email).collect(),
        })
    }
}
