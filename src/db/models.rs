//! Row types: what a table holds, as read or written. GraphQL types are built
//! from these, never exposed directly.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;

use super::schema::{api_keys, brands, members, offers, projects};
use crate::domain::enums::{
    AttributionType, ClickUnpaidReason, ConversionStatus, OfferStatus, OfferType, PayoutType, Role,
};
use crate::domain::ids::{ApiKeyId, BrandId, ConversionId, MemberId, MembershipId, OfferId, ProjectId};

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = brands, check_for_backend(diesel::pg::Pg))]
pub struct BrandRow {
    pub id: BrandId,
    pub slug: String,
    pub name: String,
    pub time_zone: String,
    pub currency: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Insertable)]
#[diesel(table_name = brands)]
pub struct NewBrand<'a> {
    pub slug: &'a str,
    pub name: &'a str,
    pub time_zone: &'a str,
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
pub struct ApiKeyRow {
    pub brand_id: BrandId,
    pub id: ApiKeyId,
    pub role: Role,
    pub key_prefix: String,
    pub label: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Insertable)]
#[diesel(table_name = api_keys)]
pub struct NewApiKeyRow<'a> {
    pub brand_id: BrandId,
    pub role: &'a str,
    pub key_hash: &'a [u8],
    pub key_prefix: &'a str,
    pub label: &'a str,
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = projects, check_for_backend(diesel::pg::Pg))]
pub struct ProjectRow {
    pub brand_id: BrandId,
    pub id: ProjectId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = members, check_for_backend(diesel::pg::Pg))]
pub struct MemberRow {
    pub brand_id: BrandId,
    pub id: MemberId,
    pub name: String,
    pub email: String,
    pub payout_email: Option<String>,
    pub country: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The currency payouts are sent in (ISO 4217; the brand's unless set).
    pub payout_currency: String,
}

#[derive(Insertable)]
#[diesel(table_name = members)]
pub struct NewMember {
    pub brand_id: BrandId,
    pub name: String,
    pub email: String,
    pub payout_email: Option<String>,
    pub country: Option<String>,
    /// None: the brand's currency.
    pub payout_currency: Option<String>,
}

/// What `updateMember` changes: a field left `None` stays as it is; for the
/// optional ones `Some(None)` clears it.
#[derive(AsChangeset, Default)]
#[diesel(table_name = members)]
pub struct MemberChanges {
    pub name: Option<String>,
    pub email: Option<String>,
    pub payout_email: Option<Option<String>>,
    pub country: Option<Option<String>>,
    pub payout_currency: Option<String>,
}

impl MemberChanges {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.email.is_none()
            && self.payout_email.is_none()
            && self.country.is_none()
            && self.payout_currency.is_none()
    }
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = offers, check_for_backend(diesel::pg::Pg))]
pub struct OfferRow {
    pub brand_id: BrandId,
    pub id: OfferId,
    pub name: String,
    pub offer_type: OfferType,
    pub status: OfferStatus,
    pub destination_url: Option<String>,
    pub code_prefix: Option<String>,
    pub payout_type: PayoutType,
    pub payout_percent: Option<Decimal>,
    pub payout_flat: Option<Decimal>,
    pub attribution_window_days: i32,
    pub hold_period_days: i32,
    pub starts_on: NaiveDate,
    pub ends_on: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Insertable, Clone, Debug)]
#[diesel(table_name = offers)]
pub struct NewOffer {
    pub brand_id: BrandId,
    pub name: String,
    pub offer_type: String,
    pub destination_url: Option<String>,
    pub code_prefix: Option<String>,
    pub payout_type: String,
    pub payout_percent: Option<Decimal>,
    pub payout_flat: Option<Decimal>,
    pub attribution_window_days: i32,
    pub hold_period_days: i32,
    pub starts_on: NaiveDate,
    pub ends_on: Option<NaiveDate>,
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = super::schema::memberships, check_for_backend(diesel::pg::Pg))]
pub struct MembershipRow {
    pub brand_id: BrandId,
    pub id: MembershipId,
    pub offer_id: OfferId,
    pub member_id: MemberId,
    pub active: bool,
    pub link_code: Option<String>,
    pub payout_type: Option<PayoutType>,
    pub payout_percent: Option<Decimal>,
    pub payout_flat: Option<Decimal>,
    pub joined_at: DateTime<Utc>,
    pub removed_at: Option<DateTime<Utc>>,
}

#[derive(Queryable, QueryableByName, Selectable, Clone, Debug)]
#[diesel(table_name = super::schema::conversions, check_for_backend(diesel::pg::Pg))]
pub struct ConversionRow {
    pub brand_id: BrandId,
    pub id: ConversionId,
    pub source: String,
    pub external_order_id: String,
    pub membership_id: Option<MembershipId>,
    pub occurred_at: DateTime<Utc>,
    pub currency: String,
    pub original_sale_amount: Decimal,
    pub sale_amount: Decimal,
    pub original_commission: Decimal,
    pub commission: Decimal,
    pub status: ConversionStatus,
    pub rejection_reason: Option<String>,
    pub attribution: Option<AttributionType>,
    pub click_id: Option<uuid::Uuid>,
    pub promo_code: Option<String>,
    pub payout_type: Option<PayoutType>,
    pub payout_percent: Option<Decimal>,
    pub payout_flat: Option<Decimal>,
    pub created_at: DateTime<Utc>,
    /// Sold in another currency than the brand's: that currency and amount.
    pub order_currency: Option<String>,
    pub order_amount: Option<Decimal>,
    /// Refunded so far, in `order_currency`.
    pub order_refunded: Decimal,
    /// Units of the brand's currency per unit of `order_currency`.
    pub exchange_rate: Option<Decimal>,
    pub rate_published_on: Option<chrono::NaiveDate>,
    pub rate_source: Option<String>,
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = super::schema::clicks, check_for_backend(diesel::pg::Pg))]
pub struct ClickRow {
    pub id: uuid::Uuid,
    pub membership_id: MembershipId,
    pub clicked_at: DateTime<Utc>,
    pub user_agent: String,
    pub is_bot: bool,
    pub commission: Decimal,
    pub unpaid_reason: Option<ClickUnpaidReason>,
}

/// A promo code a membership had: the current one has no `disabled_at`.
#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = super::schema::promo_codes, check_for_backend(diesel::pg::Pg))]
pub struct PromoCodeRow {
    pub membership_id: MembershipId,
    pub code: String,
    pub created_at: DateTime<Utc>,
    pub disabled_at: Option<DateTime<Utc>>,
}
