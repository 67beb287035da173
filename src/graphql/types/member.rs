use async_graphql::{Context, ID, Object};

use super::membership::Membership;
use chrono::{DateTime, Utc};

use crate::app::records::MemberRow;
use crate::graphql::context::AdminOnly;
use crate::graphql::error::AppResult;
use crate::graphql::ids::encode;
use crate::graphql::loaders::{MemberMemberships, load_one};

/// A creator who can join the brand's offers.
pub struct Member(pub MemberRow);

#[Object]
impl Member {
    pub async fn id(&self) -> ID {
        encode(self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The member's email. Admin keys only: for an analyst it is null, with a
    /// `FORBIDDEN` error (personal data, like the payout file).
    #[graphql(guard = "AdminOnly")]
    async fn email(&self) -> Option<&str> {
        Some(&self.0.email)
    }

    /// Where payouts go, e.g. a PayPal account's email. Admin keys only, like `email`.
    #[graphql(guard = "AdminOnly")]
    async fn payout_email(&self) -> Option<&str> {
        self.0.payout_email.as_deref()
    }

    /// The currency the member's payouts are sent in (ISO 4217): Send Payment
    /// converts what is due, in the brand's currency, at the payment day's rate.
    async fn payout_currency(&self) -> &str {
        &self.0.payout_currency
    }

    /// ISO 3166-1 alpha-2 country code.
    async fn country(&self) -> Option<&str> {
        self.0.country.as_deref()
    }

    /// The member's memberships across the brand's offers.
    async fn memberships(&self, ctx: &Context<'_>) -> AppResult<Vec<Membership>> {
        let rows = load_one::<MemberMemberships>(ctx, self.0.id).await?.unwrap_or_default();
        Ok(rows.into_iter().map(|row| Membership(row, None)).collect())
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
