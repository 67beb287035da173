//! Request-scoped batch loaders: one query per relationship per request,
//! whatever the page size. Each is bound to the caller's brand.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use chrono::Utc;
use diesel_async::AsyncPgConnection;

use crate::db::emails::{self as email, AttemptRow, EmailRow};
use crate::db::ledger::{self, Balance};
use crate::db::models::{MemberRow, MembershipRow, OfferRow, ProjectRow, PromoCodeRow};
use crate::db::payments::{self, PaymentItemRow};
use crate::db::rewards::{self, RewardRow, RewardRuleRow};
use crate::db::{DbError, DbPool, DbResult, members, memberships, offers, projects};
use crate::domain::ids::{BrandId, EmailId, EntityId, MemberId, MembershipId, OfferId, PaymentId};

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
    ) -> impl Future<Output = DbResult<HashMap<Self::Key, Self::Value>>> + Send;
}

/// A `Loader` for any `BatchFetch`, scoped to one brand.
pub struct BrandLoader<F> {
    pool: DbPool,
    brand_id: BrandId,
    fetch: PhantomData<F>,
}

impl<F: BatchFetch> BrandLoader<F> {
    /// A loader for one request: values are cached for the request's lifetime.
    pub fn data_loader(pool: &DbPool, brand_id: BrandId) -> DataLoader<Self, HashMapCache> {
        let loader = BrandLoader {
            pool: pool.clone(),
            brand_id,
            fetch: PhantomData,
        };
        DataLoader::with_cache(loader, tokio::spawn, HashMapCache::default())
    }
}

impl<F: BatchFetch> Loader<F::Key> for BrandLoader<F> {
    type Value = F::Value;
    type Error = Arc<DbError>;

    async fn load(&self, ids: &[F::Key]) -> Result<HashMap<F::Key, F::Value>, Self::Error> {
        let mut conn = self.pool.get().await.map_err(|e| Arc::new(DbError::from(e)))?;
        let mut found = F::fetch(&mut conn, self.brand_id, ids).await.map_err(Arc::new)?;
        if let Some(nothing) = F::nothing() {
            for id in ids {
                found.entry(*id).or_insert_with(|| nothing.clone());
            }
        }
        Ok(found)
    }
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
    ) -> DbResult<HashMap<Self::Key, Self::Value>> {
        projects::by_offer(conn, brand_id, ids).await
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
    ) -> DbResult<HashMap<Self::Key, Self::Value>> {
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
    ) -> DbResult<HashMap<Self::Key, Self::Value>> {
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
    ) -> DbResult<HashMap<Self::Key, Self::Value>> {
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
    ) -> DbResult<HashMap<Self::Key, Self::Value>> {
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
    ) -> DbResult<HashMap<Self::Key, Self::Value>> {
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
    ) -> DbResult<HashMap<Self::Key, Self::Value>> {
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
    ) -> DbResult<HashMap<Self::Key, Self::Value>> {
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
    ) -> DbResult<HashMap<Self::Key, Self::Value>> {
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
    ) -> DbResult<HashMap<Self::Key, Self::Value>> {
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
    ) -> DbResult<HashMap<Self::Key, Self::Value>> {
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
    ) -> DbResult<HashMap<Self::Key, Self::Value>> {
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
    ) -> DbResult<HashMap<Self::Key, Self::Value>> {
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
    ) -> DbResult<HashMap<Self::Key, Self::Value>> {
        Ok(group_by(email::attempts_for(conn, brand_id, ids).await?, |row| {
            row.outbox_id
        }))
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

/// Loads one value through the request's loader for `F`.
pub async fn load_one<F: BatchFetch>(
    ctx: &async_graphql::Context<'_>,
    id: F::Key,
) -> crate::graphql::error::AppResult<Option<F::Value>> {
    Ok(loader::<F>(ctx).load_one(id).await?)
}

/// The request's loader for `F`.
pub fn loader<'a, F: BatchFetch>(ctx: &'a async_graphql::Context<'_>) -> &'a DataLoader<BrandLoader<F>, HashMapCache> {
    ctx.data_unchecked::<DataLoader<BrandLoader<F>, HashMapCache>>()
}
