//! The GraphQL API: schema construction and per-request data.

pub mod api_keys;
pub mod brands;
pub mod columns;
pub mod context;
pub mod conversions;
pub mod enums;
pub mod error;
pub mod extensions;
pub mod ids;
pub mod limits;
pub mod loaders;
pub mod members;
pub mod memberships;
pub mod mutation;
pub mod node;
pub mod offers;
pub mod pagination;
pub mod payments;
pub mod projects;
pub mod query;
pub mod query_cost;
pub mod reports;
pub mod rewards;
pub mod scalars;
pub mod text_inputs;
pub mod types;
pub mod webhooks;

use async_graphql::{EmptySubscription, Request, SDLExportOptions, Schema};

use std::sync::{Arc, OnceLock};

use crate::db::replica::ReportReads;
use crate::db::{DbPool, ReportPool};
use crate::metrics::Metrics;
use crate::providers::payout::PayoutProviders;
use crate::rate_limit::RateLimiter;
use context::Caller;
use loaders::BrandLoader;
use mutation::MutationRoot;
use query::QueryRoot;

pub type AppSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// How the API treats its callers: where it is reached, what a query may cost,
/// the per-caller budget, and whether the schema can be introspected.
#[derive(Clone)]
pub struct ApiOptions {
    pub public_url: String,
    pub limits: query_cost::QueryLimits,
    pub budget: Arc<RateLimiter>,
    pub introspection: bool,
    /// Who can pay payments out (default: `MANUAL` only).
    pub providers: PayoutProviders,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            public_url: "http://127.0.0.1:8080".into(),
            limits: query_cost::QueryLimits::default(),
            budget: Arc::new(RateLimiter::new(0, 1)),
            introspection: true,
            providers: PayoutProviders::default(),
        }
    }
}

pub fn build_schema(
    pool: DbPool,
    metrics: Arc<Metrics>,
    services: crate::app::Services,
    options: ApiOptions,
) -> AppSchema {
    let cost_model = Arc::new(OnceLock::new());
    let mut builder = Schema::build(QueryRoot::default(), MutationRoot::default(), EmptySubscription)
        .data(pool)
        .data(metrics)
        .data(context::PublicUrl(options.public_url))
        .data(services)
        .data(options.providers)
        .extension(extensions::ErrorCodes)
        .extension(extensions::ReportFreshness)
        .extension(limits::CostLimits {
            model: cost_model.clone(),
            limits: options.limits,
            budget: options.budget,
        })
        .limit_directives(MAX_DIRECTIVES_PER_FIELD);
    if !options.introspection {
        builder = builder.disable_introspection();
    }
    let schema = builder.finish();
    let _ = cost_model.set(query_cost::CostModel::from_sdl(&schema.sdl()));
    schema
}

/// Directives one field may carry (`@include`, `@skip`): more is only an attack.
const MAX_DIRECTIVES_PER_FIELD: usize = 8;

/// The schema in SDL, as checked in at `schema.graphql`.
pub fn sdl(schema: &AppSchema) -> String {
    schema.sdl_with_options(SDLExportOptions::new().sorted_fields().sorted_enum_items())
}

/// Attaches the caller and request-scoped loaders (bound to the caller's brand) to a request.
pub fn authorize(request: Request, viewer: Caller, pool: &DbPool, reports: &ReportPool) -> Request {
    let brand = viewer.brand_id;
    let report_reads = Arc::new(ReportReads::new(reports.clone(), brand));
    request
        .data(reports::kpi_loader(report_reads.clone(), &viewer))
        .data(report_reads)
        .data(viewer)
        .data(BrandLoader::<loaders::OfferProjects>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::Offers>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::Members>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::Memberships>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::MemberMemberships>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::OfferMemberships>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::PromoCodes>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::PromoCodeHistory>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::Balances>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::PaymentItems>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::MembershipRewards>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::OfferRewardRules>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::MembershipEmails>::data_loader(pool, brand))
        .data(BrandLoader::<loaders::EmailAttempts>::data_loader(pool, brand))
}
