//! Relay's Global Object Identification: every object with an id is a `Node`,
//! and `node(id:)` / `nodes(ids:)` find any of them again from the id alone
//! (ids carry their type, so one query per kind asked for, within the brand).

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
use crate::app::nodes::{self, NodeId, NodeRow};

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

/// The GraphQL object of a row.
fn into_node(row: NodeRow, today: chrono::NaiveDate) -> Node {
    match row {
        NodeRow::Brand(row) => Node::Brand(Brand(row)),
        NodeRow::Project(row) => Node::Project(Project(row)),
        NodeRow::Member(row) => Node::Member(Member(row)),
        NodeRow::Membership(row) => Node::Membership(Membership(row, None)),
        NodeRow::Offer(row) => Node::Offer(Offer::new(row, today)),
        NodeRow::Conversion(row) => Node::Conversion(Conversion(*row)),
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

/// The nodes `ids` name, in order: `None` where none is in the caller's brand.
async fn load(ctx: &Context<'_>, ids: &[ID]) -> AppResult<Vec<Option<Node>>> {
    let caller = viewer(ctx)?;
    let wanted = ids
        .iter()
        .map(|id| NodeId::parse(id.as_str()))
        .collect::<AppResult<Vec<_>>>()?;
    let found = nodes::find_all(&mut *conn(ctx).await?, caller, &wanted).await?;
    let today = caller.today();
    Ok(wanted
        .iter()
        .map(|id| found.get(id).cloned().map(|row| into_node(row, today)))
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
