//! The query root: every entity's queries, merged.

use async_graphql::MergedObject;

use super::api_keys::ApiKeyQueries;
use super::brands::BrandQueries;
use super::columns::ColumnQueries;
use super::conversions::ConversionQueries;
use super::exchange_rates::ExchangeRateQueries;
use super::members::MemberQueries;
use super::memberships::MembershipQueries;
use super::node::NodeQueries;
use super::offers::OfferQueries;
use super::payments::PaymentQueries;
use super::projects::ProjectQueries;
use super::reports::ReportQueries;
use super::shopify::ShopifyQueries;
use super::webhooks::WebhookQueries;

/// Everything a brand's API key can read.
///
/// **What a query costs** (reported in `extensions.cost` of every response, and
/// charged to the key's budget, which refills every second): a scalar 0, an object
/// 1, a list its length times its element: `first` (default 20) for a connection's
/// `edges` and `nodes`, one per bucket for `kpiSeries` (a daily series over six
/// months: 185), 10 for other lists. A `kpis` with a date range adds 1 plus one per
/// 31 days of the range, once per field in the document; `__schema` and `__type`
/// cost 10. A query may cost at most 10,000, select at most 2,000 fields once its
/// fragments are expanded, use 150 aliases or root fields and nest 12 deep.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    BrandQueries,
    ApiKeyQueries,
    OfferQueries,
    ReportQueries,
    MemberQueries,
    MembershipQueries,
    ConversionQueries,
    PaymentQueries,
    ProjectQueries,
    ColumnQueries,
    WebhookQueries,
    ShopifyQueries,
    ExchangeRateQueries,
    NodeQueries,
);
