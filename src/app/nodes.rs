//! Any record found again from its public id alone (Relay's `node(id:)`): ids
//! carry their kind, so one query per kind asked for, within the caller's brand.

use std::collections::HashMap;

use diesel_async::AsyncPgConnection;

use super::records::{
    ApiKeyRow, BrandRow, ClickRow, ConversionRow, DeliveryRow, EmailRow, EndpointRow, MemberRow, MembershipRow,
    OfferRow, PaymentItemRow, PaymentRow, ProjectRow, RewardRow, RewardRuleRow,
};
use super::{AppError, AppResult, Caller};
use crate::db::{brands, members, memberships, nodes, offers, webhooks};
use crate::domain::enums::Role;
use crate::domain::ids::*;
use crate::domain::public_id::parse;

/// A node's id, read: which kind, which row.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeId {
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
pub enum NodeRow {
    Brand(BrandRow),
    Project(ProjectRow),
    Member(MemberRow),
    Membership(MembershipRow),
    Offer(OfferRow),
    // Boxed: a conversion row is several times the size of the others.
    Conversion(Box<ConversionRow>),
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
    pub fn parse(id: &str) -> AppResult<NodeId> {
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

/// The records `wanted` names that are in the caller's brand, by id. Keys and
/// webhook endpoints (and their deliveries) are for admins to see, as in their lists.
pub async fn find_all(
    conn: &mut AsyncPgConnection,
    caller: &Caller,
    wanted: &[NodeId],
) -> AppResult<HashMap<NodeId, NodeRow>> {
    let brand = caller.brand_id;
    let admins_only = |id: &NodeId| {
        matches!(
            id,
            NodeId::ApiKey(_) | NodeId::WebhookEndpoint(_) | NodeId::WebhookDelivery(_)
        )
    };
    if caller.role != Role::Admin && wanted.iter().any(admins_only) {
        return Err(AppError::Forbidden);
    }
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
                for row in $fetch(conn, brand, &of_kind).await? {
                    found.insert(NodeId::$kind(row.id), NodeRow::$kind(row.into()));
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
        found.insert(NodeId::Brand(brand), NodeRow::Brand(brands::find(conn, brand).await?));
    }
    Ok(found)
}
