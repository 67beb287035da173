//! The mutation root: every entity's mutations, merged.

use async_graphql::MergedObject;

use super::api_keys::ApiKeyMutations;
use super::brands::BrandMutations;
use super::columns::ColumnMutations;
use super::conversions::ConversionMutations;
use super::members::MemberMutations;
use super::memberships::MembershipMutations;
use super::offers::OfferMutations;
use super::payments::PaymentMutations;
use super::projects::ProjectMutations;
use super::rewards::RewardMutations;
use super::shopify::ShopifyMutations;
use super::webhooks::WebhookMutations;

/// Every change a brand's admin key can make. Each root field costs 10 points
/// plus what its payload selects (see `Query`).
#[derive(MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    ProjectMutations,
    MemberMutations,
    OfferMutations,
    MembershipMutations,
    BrandMutations,
    ApiKeyMutations,
    ConversionMutations,
    PaymentMutations,
    RewardMutations,
    ColumnMutations,
    WebhookMutations,
    ShopifyMutations,
);
