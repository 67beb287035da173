//! Request-scoped batch loaders: one query per relationship per request,
//! whatever the page size. Each is bound to the caller's brand.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;

use crate::db::models::ProjectRow;
use crate::db::{DbError, DbPool, projects};

/// The projects connected to each offer.
pub struct OfferProjectsLoader {
    pub pool: DbPool,
    pub brand_id: i64,
}

impl Loader<i64> for OfferProjectsLoader {
    type Value = Vec<ProjectRow>;
    type Error = Arc<DbError>;

    async fn load(&self, offer_ids: &[i64]) -> Result<HashMap<i64, Self::Value>, Self::Error> {
        let mut conn = self
            .pool
            .get()
            .await
            .map_err(|e| Arc::new(DbError::from(e)))?;
        projects::by_offer(&mut conn, self.brand_id, offer_ids)
            .await
            .map_err(Arc::new)
    }
}
