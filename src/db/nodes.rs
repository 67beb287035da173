//! Rows of any kind by id, for the API's `node` and `nodes`: one query per kind,
//! always within the caller's brand.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::DbResult;
use super::emails::EmailRow;
use super::models::{ApiKeyRow, ClickRow, ConversionRow, ProjectRow};
use super::payments::{PaymentItemRow, PaymentRow};
use super::rewards::{RewardRow, RewardRuleRow};
use super::schema::{
    api_keys, clicks, conversions, email_outbox, payment_items, payments, projects, reward_rules, rewards,
};
use crate::domain::ids::{
    ApiKeyId, BrandId, ConversionId, EmailId, PaymentId, PaymentItemId, ProjectId, RewardId, RewardRuleId,
};

macro_rules! rows_by_id {
    ($($(#[$doc:meta])* $name:ident: $table:ident, $id:ty => $row:ty;)*) => {
        $(
            $(#[$doc])*
            pub async fn $name(conn: &mut AsyncPgConnection, brand_id: BrandId, ids: &[$id]) -> DbResult<Vec<$row>> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                Ok($table::table
                    .filter($table::brand_id.eq(brand_id).and($table::id.eq_any(ids)))
                    .select(<$row>::as_select())
                    .load(conn)
                    .await?)
            }
        )*
    };
}

rows_by_id! {
    projects_by_id: projects, ProjectId => ProjectRow;
    conversions_by_id: conversions, ConversionId => ConversionRow;
    payments_by_id: payments, PaymentId => PaymentRow;
    payment_items_by_id: payment_items, PaymentItemId => PaymentItemRow;
    rewards_by_id: rewards, RewardId => RewardRow;
    reward_rules_by_id: reward_rules, RewardRuleId => RewardRuleRow;
    emails_by_id: email_outbox, EmailId => EmailRow;
    api_keys_by_id: api_keys, ApiKeyId => ApiKeyRow;
    /// Clicks are named by their tracking id, a UUID.
    clicks_by_id: clicks, uuid::Uuid => ClickRow;
}
