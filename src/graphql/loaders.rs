//! Request-scoped batch loaders over `app::batch`: one query per relationship
//! per request, whatever the page size. Each is bound to the caller's brand.

use std::collections::HashMap;
use std::marker::PhantomData;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};

pub use crate::app::batch::{
    Balances, BatchFetch, EmailAttempts, EndpointDeliveries, MemberMemberships, Members, MembershipEmails,
    MembershipRewards, Memberships, OfferMemberships, OfferProjects, OfferRewardRules, OfferShopperDiscounts, Offers,
    PaymentItems, PromoCodeHistory, PromoCodeSyncStates, PromoCodes,
};
use crate::app::{App, AppError};
use crate::domain::ids::BrandId;

/// A `Loader` for any `BatchFetch`, scoped to one brand.
pub struct BrandLoader<F> {
    app: App,
    brand_id: BrandId,
    fetch: PhantomData<F>,
}

impl<F: BatchFetch> BrandLoader<F> {
    /// A loader for one request: values are cached for the request's lifetime.
    pub fn data_loader(app: &App, brand_id: BrandId) -> DataLoader<Self, HashMapCache> {
        let loader = BrandLoader {
            app: app.clone(),
            brand_id,
            fetch: PhantomData,
        };
        DataLoader::with_cache(loader, tokio::spawn, HashMapCache::default())
    }
}

impl<F: BatchFetch> Loader<F::Key> for BrandLoader<F> {
    type Value = F::Value;
    type Error = AppError;

    async fn load(&self, ids: &[F::Key]) -> Result<HashMap<F::Key, F::Value>, Self::Error> {
        let mut conn = self.app.conn().await?;
        let mut found = F::fetch(&mut conn, self.brand_id, ids).await?;
        if let Some(nothing) = F::nothing() {
            for id in ids {
                found.entry(*id).or_insert_with(|| nothing.clone());
            }
        }
        Ok(found)
    }
}

/// Loads one value through the request's loader for `F`.
pub async fn load_one<F: BatchFetch>(
    ctx: &async_graphql::Context<'_>,
    id: F::Key,
) -> crate::graphql::error::AppResult<Option<F::Value>> {
    loader::<F>(ctx).load_one(id).await
}

/// The request's loader for `F`.
pub fn loader<'a, F: BatchFetch>(ctx: &'a async_graphql::Context<'_>) -> &'a DataLoader<BrandLoader<F>, HashMapCache> {
    ctx.data_unchecked::<DataLoader<BrandLoader<F>, HashMapCache>>()
}
