//! The GraphQL API: schema construction and per-request data.

pub mod columns;
pub mod context;
pub mod error;
pub mod extensions;
pub mod ids;
pub mod loaders;
pub mod membership_mutations;
pub mod mutation;
pub mod offer_mutations;
pub mod pagination;
pub mod payment_mutations;
pub mod query;
pub mod reporting;
pub mod reward_mutations;
pub mod scalars;
pub mod sorting;
pub mod tracking_mutations;
pub mod types;

use async_graphql::{EmptySubscription, Request, SDLExportOptions, Schema};

use std::sync::Arc;

use crate::db::DbPool;
use crate::email::EmailWake;
use crate::metrics::Metrics;
use crate::payout_provider::{ManualProvider, PayoutProvider};
use context::Viewer;
use loaders::BrandLoader;
use mutation::MutationRoot;
use query::QueryRoot;

pub type AppSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Deep or huge queries are refused before they run.
const MAX_DEPTH: usize = 12;
const MAX_COMPLEXITY: usize = 5_000;

pub fn build_schema(pool: DbPool, metrics: Arc<Metrics>, public_url: String, email_wake: EmailWake) -> AppSchema {
    Schema::build(QueryRoot::default(), MutationRoot::default(), EmptySubscription)
        .data(pool)
        .data(metrics)
        .data(context::PublicUrl(public_url))
        .data(email_wake)
        .data(Arc::new(ManualProvider) as Arc<dyn PayoutProvider>)
        .extension(extensions::ErrorCodes)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .finish()
}

/// The schema in SDL, as checked in at `schema.graphql`.
pub fn sdl(schema: &AppSchema) -> String {
    schema.sdl_with_options(SDLExportOptions::new().sorted_fields().sorted_enum_items())
}

/// Attaches the caller and request-scoped loaders (bound to the caller's brand) to a request.
pub fn authorize(request: Request, viewer: Viewer, pool: &DbPool) -> Request {
    let brand = viewer.brand_id;
    request
        .data(reporting::kpi_loader(pool, &viewer))
        .data(viewer)
        .data(BrandLoader::<loaders::OfferProjects>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::Offers>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::Members>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::Memberships>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::MemberMemberships>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::OfferMemberships>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::PromoCodes>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::Balances>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::PaymentItems>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::MembershipRewards>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::OfferRewardRules>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::MembershipEmails>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::EmailAttempts>::data_loader(pool, brand))
}
