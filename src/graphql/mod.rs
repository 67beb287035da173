//! The GraphQL API: schema construction and per-request data.

pub mod api_keys;
pub mod brands;
pub mod columns;
pub mod context;
pub mod conversions;
pub mod enums;
pub mod error;
pub mod exchange_rates;
pub mod extensions;
pub mod ids;
pub mod limits;
pub mod live;
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
pub mod shopify;
pub mod text_inputs;
pub mod types;
pub mod webhooks;

use async_graphql::{Request, SDLExportOptions, Schema};

use std::sync::{Arc, OnceLock};

use crate::app::App;
use crate::rate_limit::RateLimiter;
use context::Caller;
use live::{LiveCosting, SubscriptionRoot};
use loaders::BrandLoader;
use mutation::MutationRoot;
use query::QueryRoot;

pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// How the API treats its callers: what a query may cost, the per-caller
/// budget, and whether the schema can be introspected.
#[derive(Clone)]
pub struct ApiOptions {
    pub limits: query_cost::QueryLimits,
    pub budget: Arc<RateLimiter>,
    pub introspection: bool,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            limits: query_cost::QueryLimits::default(),
            budget: Arc::new(RateLimiter::new(0, 1)),
            introspection: true,
        }
    }
}

/// The schema; every request carries the `App` its resolvers call (see `with_app`).
pub fn build_schema(options: ApiOptions) -> AppSchema {
    let cost_model = Arc::new(OnceLock::new());
    let mut builder = Schema::build(QueryRoot::default(), MutationRoot::default(), SubscriptionRoot)
        .data(LiveCosting {
            model: cost_model.clone(),
            limits: options.limits,
            budget: options.budget.clone(),
        })
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

/// Attaches the application every resolver calls; each request carries it.
pub fn with_app(request: Request, app: &App) -> Request {
    request.data(app.clone())
}

/// Attaches the caller and request-scoped loaders (bound to the caller's brand) to a request.
pub fn authorize(request: Request, viewer: Caller, app: &App) -> Request {
    let brand = viewer.brand_id;
    let report_reads = Arc::new(app.report_reads(brand));
    request
        .data(reports::kpi_loader(report_reads.clone(), &viewer))
        .data(report_reads)
        .data(viewer)
        .data(context::BrandCurrency::default())
        .data(context::ExchangeRatesRead::default())
        .data(BrandLoader::<loaders::OfferProjects>::data_loader(app, brand))
        .data(BrandLoader::<loaders::Offers>::data_loader(app, brand))
        .data(BrandLoader::<loaders::Members>::data_loader(app, brand))
        .data(BrandLoader::<loaders::Memberships>::data_loader(app, brand))
        .data(BrandLoader::<loaders::MemberMemberships>::data_loader(app, brand))
        .data(BrandLoader::<loaders::OfferMemberships>::data_loader(app, brand))
        .data(BrandLoader::<loaders::PromoCodes>::data_loader(app, brand))
        .data(BrandLoader::<loaders::PromoCodeHistory>::data_loader(app, brand))
        .data(BrandLoader::<loaders::Balances>::data_loader(app, brand))
        .data(BrandLoader::<loaders::PaymentItems>::data_loader(app, brand))
        .data(BrandLoader::<loaders::MembershipRewards>::data_loader(app, brand))
        .data(BrandLoader::<loaders::OfferRewardRules>::data_loader(app, brand))
        .data(BrandLoader::<loaders::MembershipEmails>::data_loader(app, brand))
        .data(BrandLoader::<loaders::EmailAttempts>::data_loader(app, brand))
        .data(BrandLoader::<loaders::EndpointDeliveries>::data_loader(app, brand))
        .data(BrandLoader::<loaders::OfferShopperDiscounts>::data_loader(app, brand))
        .data(BrandLoader::<loaders::PromoCodeSyncStates>::data_loader(app, brand))
}
