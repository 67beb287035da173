//! Relay's Global Object Identification: every object with an id is a `Node`,
//! and `node(id:)` / `nodes(ids:)` find any of them again from the id alone
//! (ids carry their type, so one query per kind asked for, within the brand).

use std::collections::HashMap;

use async_graphql::{Context, ID, Interface, Object};

use super::api_keys::ApiKey;
use super::context::{conn, viewer};
use super::error::{AppError, AppResult};
use super::types::brand::Brand;
use super::types::conversion::Conversion;
use super::types::email::Email;
use super::types::member::Member;
use super::types::membership::{Click, Membership};
use super::types::offer::Offer;
use super::types::payment::{Payment, PaymentItem};
use super::types::project::Project;
use super::types::reward::{Reward, RewardRule};
use super::webhooks::{WebhookDelivery, WebhookEndpoint};
use crate::db::emails::EmailRow;
use crate::db::models::{ApiKeyRow, BrandRow, ClickRow, ConversionRow, MemberRow, MembershipRow, OfferRow, ProjectRow};
use crate::db::payments::{PaymentItemRow, PaymentRow};
use crate::db::rewards::{RewardRow, RewardRuleRow};
use crate::db::webhooks::{self, DeliveryRow, EndpointRow};
use crate::db::{brands, members, memberships, nodes, offers};
use crate::domain::enums::Role;
use crate::domain::ids::*;
use crate::domain::public_id::parse;

/// An object that `node(id:)` finds again by its id.
#[derive(Interface)]
#[graphql(field(
    name = "id",
    ty = "ID",
    desc = "Unique across types: the type's name and a number (`offer_42`), or a click's UUID."
))]
pub enum Node {
    Brand(Brand),
    Project(Project),
    Member(Member),
    Membership(Membership),
    Offer(Offer),
    Conversion(Conversion),
    Click(Click),
    Payment(Payment),
    PaymentItem(PaymentItem),
    Reward(Reward),
    RewardRule(RewardRule),
    Email(Email),
    ApiKey(ApiKey),
    WebhookEndpoint(WebhookEndpoint),
    WebhookDelivery(WebhookDelivery),
}

/// The most ids one `nodes` takes.
pub const MAX_NODE_IDS: usize = 100;

/// A node's id, read: which kind, which row.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum NodeId {
    Brand(BrandId),
    Project(ProjectId),
    Member(MemberId),
    Membership(MembershipId),
    Offer(OfferId),
    Conversion(ConversionId),
    Click(uuid::Uuid),
    Payment(PaymentId),
    PaymentItem(PaymentItemId),
    Reward(RewardId),
    RewardRule(RewardRuleId),
    Email(EmailId),
    ApiKey(ApiKeyId),
    WebhookEndpoint(WebhookEndpointId),
    WebhookDelivery(WebhookDeliveryId),
}

/// A node's row, as read (kept apart from `Node` so one row serves an id asked twice).
#[derive(Clone)]
enum NodeRow {
    Brand(BrandRow),
    Project(ProjectRow),
    Member(MemberRow),
    Membership(MembershipRow),
    Offer(OfferRow),
    Conversion(ConversionRow),
    Click(ClickRow),
    Payment(PaymentRow),
    PaymentItem(PaymentItemRow),
    Reward(RewardRow),
    RewardRule(RewardRuleRow),
    Email(EmailRow),
    ApiKey(ApiKeyRow),
    WebhookEndpoint(EndpointRow),
    WebhookDelivery(DeliveryRow),
}

impl NodeId {
    /// The kind an id names; ledger entries and audit events are not nodes.
    fn parse(id: &ID) -> AppResult<NodeId> {
        let id = id.as_str();
        let node = parse(id)
            .map(NodeId::Brand)
            .or_else(|_| parse(id).map(NodeId::Project))
            .or_else(|_| parse(id).map(NodeId::Member))
            .or_else(|_| parse(id).map(NodeId::Membership))
            .or_else(|_| parse(id).map(NodeId::Offer))
            .or_else(|_| parse(id).map(NodeId::Conversion))
            .or_else(|_| parse(id).map(NodeId::Payment))
            .or_else(|_| parse(id).map(NodeId::PaymentItem))
            .or_else(|_| parse(id).map(NodeId::Reward))
            .or_else(|_| parse(id).map(NodeId::RewardRule))
            .or_else(|_| parse(id).map(NodeId::Email))
            .or_else(|_| parse(id).map(NodeId::ApiKey))
            .or_else(|_| parse(id).map(NodeId::WebhookEndpoint))
            .or_else(|_| parse(id).map(NodeId::WebhookDelivery))
            .ok()
            .or_else(|| uuid::Uuid::try_parse(id).ok().map(NodeId::Click));
        node.ok_or_else(|| AppError::bad_input(format!("'{id}' is not the id of a node (e.g. offer_1)")))
    }
}

impl NodeRow {
    fn into_node(self, today: chrono::NaiveDate) -> Node {
        match self {
            NodeRow::Brand(row) => Node::Brand(Brand(row)),
            NodeRow::Project(row) => Node::Project(Project(row)),
            NodeRow::Member(row) => Node::Member(Member(row)),
            NodeRow::Membership(row) => Node::Membership(Membership(row, None)),
            NodeRow::Offer(row) => Node::Offer(Offer::new(row, today)),
            NodeRow::Conversion(row) => Node::Conversion(Conversion(row)),
            NodeRow::Click(row) => Node::Click(Click(row)),
            NodeRow::Payment(row) => Node::Payment(Payment(row)),
            NodeRow::PaymentItem(row) => Node::PaymentItem(PaymentItem(row)),
            NodeRow::Reward(row) => Node::Reward(Reward(row)),
            NodeRow::RewardRule(row) => Node::RewardRule(RewardRule(row)),
            NodeRow::Email(row) => Node::Email(Email(row)),
            NodeRow::ApiKey(row) => Node::ApiKey(ApiKey(row)),
            NodeRow::WebhookEndpoint(row) => Node::WebhookEndpoint(WebhookEndpoint(row)),
            NodeRow::WebhookDelivery(row) => Node::WebhookDelivery(WebhookDelivery(row)),
        }
    }
}

/// The nodes `ids` name, in order: `None` where none is in the caller's brand.
async fn load(ctx: &Context<'_>, ids: &[ID]) -> AppResult<Vec<Option<Node>>> {
    let caller = viewer(ctx)?;
    let brand = caller.brand_id;
    let wanted = ids.iter().map(NodeId::parse).collect::<AppResult<Vec<_>>>()?;
    // As with `apiKeys` and `webhookEndpoints`: keys and endpoints are for admins to see.
    let admins_only = |id: &NodeId| {
        matches!(
            id,
            NodeId::ApiKey(_) | NodeId::WebhookEndpoint(_) | NodeId::WebhookDelivery(_)
        )
    };
    if caller.role != Role::Admin && wanted.iter().any(admins_only) {
        return Err(AppError::Forbidden);
    }
    let mut conn = conn(ctx).await?;
    let mut found: HashMap<NodeId, NodeRow> = HashMap::new();
    macro_rules! fetch {
        ($kind:ident, $fetch:path) => {
            let of_kind: Vec<_> = wanted
                .iter()
                .filter_map(|id| match id {
                    NodeId::$kind(id) => Some(*id),
                    _ => None,
                })
                .collect();
            if !of_kind.is_empty() {
                for row in $fetch(&mut *conn, brand, &of_kind).await? {
                    found.insert(NodeId::$kind(row.id), NodeRow::$kind(row));
                }
            }
        };
    }
    fetch!(Project, nodes::projects_by_id);
    fetch!(Member, members::by_ids);
    fetch!(Membership, memberships::by_ids);
    fetch!(Offer, offers::by_ids);
    fetch!(Conversion, nodes::conversions_by_id);
    fetch!(Click, nodes::clicks_by_id);
    fetch!(Payment, nodes::payments_by_id);
    fetch!(PaymentItem, nodes::payment_items_by_id);
    fetch!(Reward, nodes::rewards_by_id);
    fetch!(RewardRule, nodes::reward_rules_by_id);
    fetch!(Email, nodes::emails_by_id);
    fetch!(ApiKey, nodes::api_keys_by_id);
    fetch!(WebhookEndpoint, webhooks::endpoints_by_id);
    fetch!(WebhookDelivery, webhooks::deliveries_by_id);
    if wanted.contains(&NodeId::Brand(brand)) {
        found.insert(
            NodeId::Brand(brand),
            NodeRow::Brand(brands::find(&mut conn, brand).await?),
        );
    }
    let today = caller.today();
    Ok(wanted
        .iter()
        .map(|id| found.get(id).cloned().map(|row| row.into_node(today)))
        .collect())
}

#[derive(Default)]
pub struct NodeQueries;

#[Object]
impl NodeQueries {
    /// Any object by its id (Relay's `node`); null when the brand has none with it.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> AppResult<Option<Node>> {
        Ok(load(ctx, std::slice::from_ref(&id)).await?.pop().flatten())
    }

    /// Objects by id, in the order given (at most 100); null where the brand has none.
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> AppResult<Vec<Option<Node>>> {
        if ids.len() > MAX_NODE_IDS {
            return Err(AppError::bad_input(format!("give at most {MAX_NODE_IDS} ids at once")));
        }
        load(ctx, &ids).await
    }
}
