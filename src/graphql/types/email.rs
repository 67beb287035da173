use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::app::records::EmailRow;
use crate::domain::enums::Role;
use crate::domain::personal_data::hide_addresses;
use crate::graphql::context::{AdminOnly, viewer};
use crate::graphql::enums::EmailStatus;
use crate::graphql::error::AppResult;
use crate::graphql::ids::encode;
use crate::graphql::loaders::{EmailAttempts, load_one};

/// A message to one member, from `emailMembers` or announcing a reward, and how
/// its delivery went.
pub struct Email(pub EmailRow);

#[Object]
impl Email {
    pub async fn id(&self) -> ID {
        encode(self.0.id)
    }

    /// The member's address. Admin keys only: for an analyst it is null, with a
    /// `FORBIDDEN` error (personal data, like `Member.email`).
    #[graphql(guard = "AdminOnly")]
    async fn to(&self) -> Option<&str> {
        Some(&self.0.to_address)
    }

    async fn subject(&self) -> &str {
        &self.0.subject
    }

    /// The text as sent, placeholders filled.
    async fn body(&self) -> &str {
        &self.0.body
    }

    /// The reward it announces, if it announces one.
    async fn reward_id(&self) -> Option<ID> {
        self.0.reward_id.map(encode)
    }

    async fn status(&self) -> EmailStatus {
        self.0.status.into()
    }

    /// When the next try is due, while `PENDING`.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        (self.0.status == crate::domain::enums::EmailStatus::Pending).then_some(self.0.next_attempt_at)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.0.sent_at
    }

    /// Every delivery attempt, oldest first: the send log. For analysts, addresses
    /// in the SMTP server's replies are hidden.
    async fn attempts(&self, ctx: &Context<'_>) -> AppResult<Vec<EmailAttempt>> {
        let sees_addresses = viewer(ctx)?.role == Role::Admin;
        let rows = load_one::<EmailAttempts>(ctx, self.0.id).await?.unwrap_or_default();
        Ok(rows
            .into_iter()
            .map(|row| EmailAttempt {
                attempted_at: row.attempted_at,
                succeeded: row.succeeded,
                error: match row.error {
                    Some(error) if !sees_addresses => Some(hide_addresses(&error)),
                    error => error,
                },
            })
            .collect())
    }
}

/// One try at handing a message to the SMTP server.
#[derive(SimpleObject)]
pub struct EmailAttempt {
    pub attempted_at: DateTime<Utc>,
    pub succeeded: bool,
    /// What the SMTP server or the network said, when it failed.
    pub error: Option<String>,
}
