//! Memberships (a member in an offer): one by id, and the actions on them:
//! adding members to offers, activation, removal, promo codes, payout overrides
//! and emails.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use serde_json::json;

use super::context::{AdminOnly, app, conn, viewer};
use super::error::{AppError, AppResult};
use super::ids::{decode, decode_list, id_strings};
use super::offers::rule_json;
use super::types::email::Email;
use super::types::membership::Membership;
use super::types::payout::PayoutRuleInput;
use crate::app::email;
use crate::app::members;
use crate::app::reads;
use crate::app::records::MembershipRow;
use crate::app::shop_codes;
use crate::domain::ids::{MemberId, MembershipId, OfferId};

/// Members to put in an offer.
#[derive(InputObject)]
pub struct AddMembersInput {
    pub offer_id: ID,
    pub member_ids: Vec<ID>,
}

/// Members to take out of an offer.
#[derive(InputObject)]
pub struct RemoveMembersInput {
    pub offer_id: ID,
    pub member_ids: Vec<ID>,
}

/// Memberships to turn on or off.
#[derive(InputObject)]
pub struct SetMembershipActiveInput {
    pub membership_ids: Vec<ID>,
    pub active: bool,
}

/// Memberships to give new promo codes: a fresh one each, or `code` for a single membership.
#[derive(InputObject)]
pub struct RefreshPromoCodesInput {
    pub membership_ids: Vec<ID>,
    pub code: Option<String>,
    /// Takes `code` from the brand's connected Shopify store, where it already
    /// exists in a discount of its own: it keeps that discount, and attributes
    /// orders from now on. One membership; `BAD_USER_INPUT` when no discount has it.
    #[graphql(default)]
    pub adopt_existing: bool,
}

/// Memberships to give their own payout.
#[derive(InputObject)]
pub struct SetPayoutOverrideInput {
    pub membership_ids: Vec<ID>,
    pub payout: PayoutRuleInput,
}

/// Memberships to return to the offer's default payout.
#[derive(InputObject)]
pub struct ClearPayoutOverrideInput {
    pub membership_ids: Vec<ID>,
}

/// Memberships to email, and the message.
#[derive(InputObject)]
pub struct EmailMembersInput {
    pub membership_ids: Vec<ID>,
    pub template: EmailTemplateInput,
}

/// The result of `addMembers`.
#[derive(SimpleObject)]
pub struct AddMembersPayload {
    /// The new memberships, each with a fresh link or promo code.
    pub memberships: Vec<Membership>,
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

impl EmailTemplateInput {
    pub fn template(self) -> email::Template {
        email::Template {
            subject: self.subject,
            body: self.body,
        }
    }
}

/// The result of `emailMembers`: the queued messages.
#[derive(SimpleObject)]
pub struct EmailMembersPayload {
    pub emails: Vec<Email>,
}

fn payload(rows: Vec<MembershipRow>) -> MembershipsPayload {
    MembershipsPayload {
        memberships: rows.into_iter().map(|row| Membership(row, None)).collect(),
    }
}

#[derive(Default)]
pub struct MembershipQueries;

#[Object]
impl MembershipQueries {
    /// One membership (a member in an offer) by id.
    async fn membership(&self, ctx: &Context<'_>, id: ID) -> AppResult<Option<Membership>> {
        let viewer = viewer(ctx)?;
        let membership_id = decode::<MembershipId>(&id)?;
        let row = reads::membership(&mut *conn(ctx).await?, viewer, membership_id).await?;
        Ok(Some(Membership(row.ok_or(AppError::NotFound("membership"))?, None)))
    }
}

#[derive(Default)]
pub struct MembershipMutations;

#[Object]
impl MembershipMutations {
    /// Puts members in an offer, each with a fresh link code or promo code. All or nothing.
    #[graphql(guard = "AdminOnly")]
    async fn add_members(&self, ctx: &Context<'_>, input: AddMembersInput) -> AppResult<AddMembersPayload> {
        let offer_id = decode::<OfferId>(&input.offer_id)?;
        let member_ids = decode_list::<MemberId>(&input.member_ids)?;
        let rows = members::add_to_offer(&mut *conn(ctx).await?, *viewer(ctx)?, offer_id, member_ids).await?;
        app(ctx).wake(crate::domain::enums::JobKind::ShopifyCodeSync);
        Ok(AddMembersPayload {
            memberships: rows.into_iter().map(|row| Membership(row, None)).collect(),
        })
    }

    /// Turns memberships on or off. Inactive memberships keep their history but
    /// attribute nothing. Removed memberships cannot be turned on.
    #[graphql(guard = "AdminOnly")]
    async fn set_membership_active(
        &self,
        ctx: &Context<'_>,
        input: SetMembershipActiveInput,
    ) -> AppResult<MembershipsPayload> {
        let SetMembershipActiveInput { membership_ids, active } = input;
        let ids = decode_list::<MembershipId>(&membership_ids)?;
        let details = json!({ "membershipIds": id_strings(&membership_ids), "active": active });
        let rows = members::set_active(&mut *conn(ctx).await?, *viewer(ctx)?, ids, active, details).await?;
        app(ctx).wake(crate::domain::enums::JobKind::ShopifyCodeSync);
        Ok(payload(rows))
    }

    /// Removes members from an offer. Their history (clicks, conversions, ledger) stays.
    #[graphql(guard = "AdminOnly")]
    async fn remove_members(&self, ctx: &Context<'_>, input: RemoveMembersInput) -> AppResult<MembershipsPayload> {
        let RemoveMembersInput { offer_id, member_ids } = input;
        let offer = decode::<OfferId>(&offer_id)?;
        let member_list = decode_list::<MemberId>(&member_ids)?;
        let details = json!({ "offerId": offer_id.as_str(), "memberIds": id_strings(&member_ids) });
        let rows =
            members::remove_from_offer(&mut *conn(ctx).await?, *viewer(ctx)?, offer, member_list, details).await?;
        app(ctx).wake(crate::domain::enums::JobKind::ShopifyCodeSync);
        Ok(payload(rows))
    }

    /// Issues new promo codes: a fresh one each, or `code` for a single membership. The
    /// old codes are disabled, stay in history and no longer attribute. All or nothing.
    #[graphql(guard = "AdminOnly")]
    async fn refresh_promo_codes(
        &self,
        ctx: &Context<'_>,
        input: RefreshPromoCodesInput,
    ) -> AppResult<MembershipsPayload> {
        let RefreshPromoCodesInput {
            membership_ids,
            code,
            adopt_existing,
        } = input;
        let ids = decode_list::<MembershipId>(&membership_ids)?;
        let details = json!({
            "membershipIds": id_strings(&membership_ids),
            "code": code.as_ref().map(|c| c.trim().to_uppercase()),
            "adoptExisting": adopt_existing,
        });
        if adopt_existing {
            let (Some(code), [membership_id]) = (&code, ids.as_slice()) else {
                return Err(AppError::bad_input("adoptExisting takes a code and one membership"));
            };
            let rows = shop_codes::adopt_code(app(ctx), *viewer(ctx)?, *membership_id, code, details).await?;
            return Ok(payload(rows));
        }
        let rows = members::refresh_promo_codes(&mut *conn(ctx).await?, *viewer(ctx)?, ids, code, details).await?;
        app(ctx).wake(crate::domain::enums::JobKind::ShopifyCodeSync);
        Ok(payload(rows))
    }

    /// Gives memberships their own payout, which beats the offer's default. All or nothing.
    #[graphql(guard = "AdminOnly")]
    async fn set_payout_override(
        &self,
        ctx: &Context<'_>,
        input: SetPayoutOverrideInput,
    ) -> AppResult<MembershipsPayload> {
        let SetPayoutOverrideInput { membership_ids, payout } = input;
        let rule = payout.to_rule()?;
        let ids = decode_list::<MembershipId>(&membership_ids)?;
        let details = json!({ "membershipIds": id_strings(&membership_ids), "payout": rule_json(&rule) });
        let rows = members::set_payout_override(
            &mut *conn(ctx).await?,
            *viewer(ctx)?,
            "setPayoutOverride",
            ids,
            Some(rule),
            details,
        )
        .await?;
        Ok(payload(rows))
    }

    /// Removes memberships' own payouts: the offer's default applies again.
    #[graphql(guard = "AdminOnly")]
    async fn clear_payout_override(
        &self,
        ctx: &Context<'_>,
        input: ClearPayoutOverrideInput,
    ) -> AppResult<MembershipsPayload> {
        let membership_ids = input.membership_ids;
        let ids = decode_list::<MembershipId>(&membership_ids)?;
        let details = json!({ "membershipIds": id_strings(&membership_ids) });
        let rows = members::set_payout_override(
            &mut *conn(ctx).await?,
            *viewer(ctx)?,
            "clearPayoutOverride",
            ids,
            None,
            details,
        )
        .await?;
        Ok(payload(rows))
    }

    /// Emails members their link or promo code: one message each from `template`,
    /// queued with this request and sent in the background over SMTP, retried with
    /// backoff. Each membership's `emails` show the message and every attempt.
    #[graphql(guard = "AdminOnly")]
    async fn email_members(&self, ctx: &Context<'_>, input: EmailMembersInput) -> AppResult<EmailMembersPayload> {
        let EmailMembersInput {
            membership_ids,
            template,
        } = input;
        let ids = decode_list::<MembershipId>(&membership_ids)?;
        let details = json!({ "membershipIds": id_strings(&membership_ids), "subject": template.subject.trim() });
        let template = template.template();
        let rows = email::email_members(
            &mut *conn(ctx).await?,
            *viewer(ctx)?,
            app(ctx).public_url(),
            ids,
            template,
            details,
        )
        .await?;
        app(ctx).wake(crate::domain::enums::JobKind::EmailOutbox);
        Ok(EmailMembersPayload {
            emails: rows.into_iter().map(Email).collect(),
        })
    }
}
