//! The batched reads behind the adapters' loaders: one query per relationship
//! for many ids of one brand at once, whatever the page size.

use std::collections::HashMap;

use chrono::Utc;
use diesel_async::AsyncPgConnection;

use super::error::AppResult;
use super::records::{
    AttemptRow, Balance, DeliveryRow, EmailRow, MemberRow, MembershipRow, OfferRow, PaymentItemRow, ProjectRow,
    PromoCodeRow, RewardRow, RewardRuleRow,
};
use super::webhooks::RECENT_DELIVERIES;
use crate::db::emails as email;
use crate::db::shop_codes::{self, MembershipCodeState, ShopperDiscountRow};
use crate::db::{ledger, members, memberships, offers, payments, projects, rewards, webhooks};
use crate::domain::ids::{BrandId, EmailId, EntityId, MemberId, MembershipId, OfferId, PaymentId, WebhookEndpointId};

/// One relationship, fetched for many ids of one brand at once.
pub trait BatchFetch: Send + Sync + 'static {
    type Key: EntityId + Send + Sync + 'static;
    type Value: Clone + Send + Sync + 'static;
    /// The value of an id the fetch found nothing for, if "nothing" is an answer
    /// (an empty list, no code) rather than a missing row; it is then cached too.
    fn nothing() -> Option<Self::Value> {
        None
    }
    fn fetch(
        conn: &mut AsyncPgConnection,
        brand_id: BrandId,
        ids: &[Self::Key],
    ) -> impl Future<Output = AppResult<HashMap<Self::Key, Self::Value>>> + Send;
}

/// Offer id → its connected projects.
pub struct OfferProjects;
impl BatchFetch for OfferProjects {
    type Key = OfferId;
    type Value = Vec<ProjectRow>;
    fn nothing() -> Option<Self::Value> {
        Some(Vec::new())
    }
    async fn fetch(
        conn: &mut AsyncPgConnection,
        brand_id: BrandId,
        ids: &[Self::Key],
    ) -> AppResult<HashMap<Self::Key, Self::Value>> {
        Ok(projects::by_offer(conn, brand_id, ids).await?)
    }
}

/// Offer id → offer.
pub struct Offers;
impl BatchFetch for Offers {
    type Key = OfferId;
    type Value = OfferRow;
    async fn fetch(
        conn: &mut AsyncPgConnection,
        brand_id: BrandId,
        ids: &[Self::Key],
    ) -> AppResult<HashMap<Self::Key, Self::Value>> {
        Ok(offers::by_ids(conn, brand_id, ids)
            .await?
            .into_iter()
            .map(|o| (o.id, o))
            .collect())
    }
}

/// Member id → member.
pub struct Members;
impl BatchFetch for Members {
    type Key = MemberId;
    type Value = MemberRow;
    async fn fetch(
        conn: &mut AsyncPgConnection,
        brand_id: BrandId,
        ids: &[Self::Key],
    ) -> AppResult<HashMap<Self::Key, Self::Value>> {
        Ok(members::by_ids(conn, brand_id, ids)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect())
    }
}

/// Membership id → membership.
pub struct Memberships;
impl BatchFetch for Memberships {
    type Key = MembershipId;
    type Value = MembershipRow;
    async fn fetch(
        conn: &mut AsyncPgConnection,
        brand_id: BrandId,
        ids: &[Self::Key],
    ) -> AppResult<HashMap<Self::Key, Self::Value>> {
        Ok(memberships::by_ids(conn, brand_id, ids)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect())
    }
}

/// Member id → the member's memberships across offers.
pub struct MemberMemberships;
impl BatchFetch for MemberMemberships {
    type Key = MemberId;
    type Value = Vec<MembershipRow>;
    fn nothing() -> Option<Self::Value> {
        Some(Vec::new())
    }
    async fn fetch(
        conn: &mut AsyncPgConnection,
        brand_id: BrandId,
        ids: &[Self::Key],
    ) -> AppResult<HashMap<Self::Key, Self::Value>> {
        Ok(group_by(memberships::for_members(conn, brand_id, ids).await?, |row| {
            row.member_id
        }))
    }
}

/// Offer id → all its memberships (the offer page filters, sorts and pages them).
pub struct OfferMemberships;
impl BatchFetch for OfferMemberships {
    type Key = OfferId;
    type Value = Vec<MembershipRow>;
    fn nothing() -> Option<Self::Value> {
        Some(Vec::new())
    }
    async fn fetch(
        conn: &mut AsyncPgConnection,
        brand_id: BrandId,
        ids: &[Self::Key],
    ) -> AppResult<HashMap<Self::Key, Self::Value>> {
        Ok(group_by(memberships::for_offers(conn, brand_id, ids).await?, |row| {
            row.offer_id
        }))
    }
}

/// Membership id → every promo code it had, newest first.
pub struct PromoCodeHistory;
impl BatchFetch for PromoCodeHistory {
    type Key = MembershipId;
    type Value = Vec<PromoCodeRow>;
    fn nothing() -> Option<Self::Value> {
        Some(Vec::new())
    }
    async fn fetch(
        conn: &mut AsyncPgConnection,
        brand_id: BrandId,
        ids: &[Self::Key],
    ) -> AppResult<HashMap<Self::Key, Self::Value>> {
        Ok(group_by(
            memberships::promo_code_history(conn, brand_id, ids).await?,
            |row| row.membership_id,
        ))
    }
}

/// Membership id → its current promo code.
pub struct PromoCodes;
impl BatchFetch for PromoCodes {
    type Key = MembershipId;
    type Value = Option<String>;
    fn nothing() -> Option<Self::Value> {
        Some(None)
    }
    async fn fetch(
        conn: &mut AsyncPgConnection,
        brand_id: BrandId,
        ids: &[Self::Key],
    ) -> AppResult<HashMap<Self::Key, Self::Value>> {
        Ok(memberships::current_promo_codes(conn, brand_id, ids)
            .await?
            .into_iter()
            .map(|(id, code)| (id, Some(code)))
            .collect())
    }
}

/// Membership id → its ledger balance now.
pub struct Balances;
impl BatchFetch for Balances {
    type Key = MembershipId;
    type Value = Balance;
    async fn fetch(
        conn: &mut AsyncPgConnection,
        brand_id: BrandId,
        ids: &[Self::Key],
    ) -> AppResult<HashMap<Self::Key, Self::Value>> {
        Ok(ledger::balances(conn, brand_id, ids, Utc::now())
            .await?
            .into_iter()
            .map(|b| (b.membership_id, b))
            .collect())
    }
}

/// Payment id → its items.
pub struct PaymentItems;
impl BatchFetch for PaymentItems {
    type Key = PaymentId;
    type Value = Vec<PaymentItemRow>;
    fn nothing() -> Option<Self::Value> {
        Some(Vec::new())
    }
    async fn fetch(
        conn: &mut AsyncPgConnection,
        brand_id: BrandId,
        ids: &[Self::Key],
    ) -> AppResult<HashMap<Self::Key, Self::Value>> {
        Ok(group_by(payments::items(conn, brand_id, ids).await?, |row| {
            row.payment_id
        }))
    }
}

/// Membership id → its rewards, newest first.
pub struct MembershipRewards;
impl BatchFetch for MembershipRewards {
    type Key = MembershipId;
    type Value = Vec<RewardRow>;
    fn nothing() -> Option<Self::Value> {
        Some(Vec::new())
    }
    async fn fetch(
        conn: &mut AsyncPgConnection,
        brand_id: BrandId,
        ids: &[Self::Key],
    ) -> AppResult<HashMap<Self::Key, Self::Value>> {
        Ok(group_by(rewards::for_memberships(conn, brand_id, ids).await?, |row| {
            row.membership_id
        }))
    }
}

/// Offer id → its reward rules.
pub struct OfferRewardRules;
impl BatchFetch for OfferRewardRules {
    type Key = OfferId;
    type Value = Vec<RewardRuleRow>;
    fn nothing() -> Option<Self::Value> {
        Some(Vec::new())
    }
    async fn fetch(
        conn: &mut AsyncPgConnection,
        brand_id: BrandId,
        ids: &[Self::Key],
    ) -> AppResult<HashMap<Self::Key, Self::Value>> {
        Ok(group_by(rewards::rules_for_offers(conn, brand_id, ids).await?, |row| {
            row.offer_id
        }))
    }
}

/// Membership id → the emails sent to it, newest first.
pub struct MembershipEmails;
impl BatchFetch for MembershipEmails {
    type Key = MembershipId;
    type Value = Vec<EmailRow>;
    fn nothing() -> Option<Self::Value> {
        Some(Vec::new())
    }
    async fn fetch(
        conn: &mut AsyncPgConnection,
        brand_id: BrandId,
        ids: &[Self::Key],
    ) -> AppResult<HashMap<Self::Key, Self::Value>> {
        Ok(group_by(email::for_memberships(conn, brand_id, ids).await?, |row| {
            row.membership_id
        }))
    }
}

/// Email id → its delivery attempts, oldest first.
pub struct EmailAttempts;
impl BatchFetch for EmailAttempts {
    type Key = EmailId;
    type Value = Vec<AttemptRow>;
    fn nothing() -> Option<Self::Value> {
        Some(Vec::new())
    }
    async fn fetch(
        conn: &mut AsyncPgConnection,
        brand_id: BrandId,
        ids: &[Self::Key],
    ) -> AppResult<HashMap<Self::Key, Self::Value>> {
        Ok(group_by(email::attempts_for(conn, brand_id, ids).await?, |row| {
            row.outbox_id
        }))
    }
}

/// Webhook endpoint id → its newest deliveries, newest first.
pub struct EndpointDeliveries;
impl BatchFetch for EndpointDeliveries {
    type Key = WebhookEndpointId;
    type Value = Vec<DeliveryRow>;
    fn nothing() -> Option<Self::Value> {
        Some(Vec::new())
    }
    async fn fetch(
        conn: &mut AsyncPgConnection,
        brand_id: BrandId,
        ids: &[Self::Key],
    ) -> AppResult<HashMap<Self::Key, Self::Value>> {
        let rows = webhooks::recent_deliveries(conn, brand_id, ids, RECENT_DELIVERIES).await?;
        Ok(group_by(rows, |row| row.endpoint_id))
    }
}

/// Offer id → its shopper discount (promo-code offers that have one).
pub struct OfferShopperDiscounts;
impl BatchFetch for OfferShopperDiscounts {
    type Key = OfferId;
    type Value = ShopperDiscountRow;
    async fn fetch(
        conn: &mut AsyncPgConnection,
        brand_id: BrandId,
        ids: &[Self::Key],
    ) -> AppResult<HashMap<Self::Key, Self::Value>> {
        let rows = shop_codes::for_offers(conn, brand_id, ids).await?;
        Ok(rows.into_iter().map(|row| (row.offer_id, row)).collect())
    }
}

/// Membership id → where its current promo code stands in the brand's store
/// (only where a store is connected and the offer has a shopper discount).
pub struct PromoCodeSyncStates;
impl BatchFetch for PromoCodeSyncStates {
    type Key = MembershipId;
    type Value = MembershipCodeState;
    async fn fetch(
        conn: &mut AsyncPgConnection,
        brand_id: BrandId,
        ids: &[Self::Key],
    ) -> AppResult<HashMap<Self::Key, Self::Value>> {
        let rows = shop_codes::states_for_memberships(conn, brand_id, ids).await?;
        Ok(rows.into_iter().map(|row| (row.membership_id, row)).collect())
    }
}

/// Rows grouped under the id `key` gives each (for one-to-many loaders).
fn group_by<K: EntityId, T>(rows: Vec<T>, key: impl Fn(&T) -> K) -> HashMap<K, Vec<T>> {
    let mut grouped: HashMap<K, Vec<T>> = HashMap::new();
    for row in rows {
        grouped.entry(key(&row)).or_default().push(row);
    }
    grouped
}
