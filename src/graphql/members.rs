//! Members (creators): the list, one member, and adding a member to the brand.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};

use super::context::{AdminOnly, conn, viewer};
use super::error::{AppError, AppResult};
use super::ids::decode;
use super::offers::search_text;
use super::pagination::{IdCursor, page_request, to_connection};
use super::types::member::Member;
use crate::app::Caller;
use crate::app::members::{self as member_actions, MemberDraft, MemberEdit};
use crate::app::reads;
use crate::app::records::MemberSearch;
use crate::domain::enums::Role;
use crate::domain::ids::MemberId;

/// A new member (creator).
#[derive(InputObject)]
pub struct CreateMemberInput {
    pub name: String,
    /// Unique within the brand, in any case.
    pub email: String,
    /// Where payouts go: a PayPal email or phone number (e.g. `+15551234567`);
    /// defaults to none (the member's email is used).
    pub payout_email: Option<String>,
    /// ISO 3166-1 alpha-2 code, e.g. `US`.
    pub country: Option<String>,
    /// The currency payouts are sent in (ISO 4217, e.g. `EUR`): the brand's, or
    /// one the exchange rates quote. Default the brand's.
    pub payout_currency: Option<String>,
}

/// The result of `createMember`.
#[derive(SimpleObject)]
pub struct CreateMemberPayload {
    pub member: Member,
}

/// Changes to a member: a field left out stays as it is; `null` clears an optional one.
#[derive(InputObject)]
pub struct UpdateMemberInput {
    pub id: ID,
    pub name: Option<String>,
    /// Unique within the brand, in any case.
    pub email: Option<String>,
    /// Where payouts go from now on: a PayPal email or phone number; `null` for the
    /// member's email.
    pub payout_email: MaybeUndefined<String>,
    /// ISO 3166-1 alpha-2 code, e.g. `US`; `null` for none.
    pub country: MaybeUndefined<String>,
    /// The currency payouts are sent in from now on (see `CreateMemberInput`).
    pub payout_currency: Option<String>,
}

/// The result of `updateMember`.
#[derive(SimpleObject)]
pub struct UpdateMemberPayload {
    pub member: Member,
}

fn edit_of(value: MaybeUndefined<String>) -> Option<Option<String>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

/// Extra fields of the members connection.
pub struct MemberListInfo {
    caller: Caller,
    search: Option<MemberSearch>,
}

#[Object]
impl MemberListInfo {
    /// How many members match, across all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> AppResult<i64> {
        Ok(reads::member_count(&mut *conn(ctx).await?, &self.caller, self.search.as_ref()).await?)
    }
}

#[derive(Default)]
pub struct MemberQueries;

#[Object]
impl MemberQueries {
    /// The brand's members (creators), newest first.
    async fn members(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
        #[graphql(desc = "Only members whose name (or, for admin keys, email) contains this text, in any case.")]
        search: Option<String>,
    ) -> AppResult<Connection<IdCursor, Member, MemberListInfo>> {
        let viewer = viewer(ctx)?;
        let had_cursor = after.is_some();
        let request = page_request(first, after)?;
        let search = search_text(search);
        // An analyst's search must not tell whether an address is a member's.
        let search = search.map(|text| MemberSearch {
            text,
            emails: viewer.role == Role::Admin,
        });
        let page = reads::members(&mut *conn(ctx).await?, viewer, search.as_ref(), request).await?;
        let info = MemberListInfo {
            caller: *viewer,
            search,
        };
        Ok(to_connection(page, had_cursor, info, |row| row.id, Member))
    }

    /// One member by id.
    async fn member(&self, ctx: &Context<'_>, id: ID) -> AppResult<Option<Member>> {
        let viewer = viewer(ctx)?;
        let member_id = decode::<MemberId>(&id)?;
        let row = reads::member(&mut *conn(ctx).await?, viewer, member_id).await?;
        Ok(Some(Member(row.ok_or(AppError::NotFound("member"))?)))
    }
}

#[derive(Default)]
pub struct MemberMutations;

#[Object]
impl MemberMutations {
    /// Adds a creator to the brand. Add them to offers separately.
    #[graphql(guard = "AdminOnly")]
    async fn create_member(&self, ctx: &Context<'_>, input: CreateMemberInput) -> AppResult<CreateMemberPayload> {
        let draft = MemberDraft {
            name: input.name,
            email: input.email,
            payout_email: input.payout_email,
            country: input.country,
            payout_currency: input.payout_currency,
        };
        let row = member_actions::create(&mut *conn(ctx).await?, *viewer(ctx)?, draft).await?;
        Ok(CreateMemberPayload { member: Member(row) })
    }

    /// Edits a member's name, email, payout address, country or payout currency (audited).
    #[graphql(guard = "AdminOnly")]
    async fn update_member(&self, ctx: &Context<'_>, input: UpdateMemberInput) -> AppResult<UpdateMemberPayload> {
        let id = decode::<MemberId>(&input.id)?;
        let edit = MemberEdit {
            name: input.name,
            email: input.email,
            payout_email: edit_of(input.payout_email),
            country: edit_of(input.country),
            payout_currency: input.payout_currency,
        };
        let row = member_actions::update(&mut *conn(ctx).await?, *viewer(ctx)?, id, edit).await?;
        Ok(UpdateMemberPayload { member: Member(row) })
    }
}
