use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use crate::app::Caller;
use crate::app::brands;
use crate::app::records::BrandRow;
use crate::graphql::context::conn;
use crate::graphql::enums::Role;
use crate::graphql::error::AppResult;
use crate::graphql::ids::encode;

/// The caller: an API key of one brand.
pub struct Viewer(pub Caller);

#[Object]
impl Viewer {
    /// What this key may do.
    async fn role(&self) -> Role {
        self.0.role.into()
    }

    /// The id of the API key making the request (a key cannot revoke itself).
    async fn api_key_id(&self) -> ID {
        encode(self.0.api_key_id)
    }

    /// Whether this server sends email (an SMTP server is configured): without
    /// one, `emailMembers` and reward emails wait in the outbox as `PENDING`.
    async fn email_sending(&self, ctx: &Context<'_>) -> bool {
        crate::graphql::context::app(ctx).sends_email()
    }

    /// The brand this key belongs to; everything you read is this brand's.
    async fn brand(&self, ctx: &Context<'_>) -> AppResult<Brand> {
        let row = brands::find(&mut *conn(ctx).await?, self.0).await?;
        Ok(Brand(row))
    }
}

/// A brand: the tenant that runs offers.
pub struct Brand(pub BrandRow);

#[Object]
impl Brand {
    pub async fn id(&self) -> ID {
        encode(self.0.id)
    }

    /// The brand's handle in URLs, e.g. in its order webhook address.
    async fn slug(&self) -> &str {
        &self.0.slug
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// IANA time zone that date ranges and daily figures use.
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }

    /// ISO 4217 code of the currency reports are in.
    async fn currency(&self) -> &str {
        &self.0.currency
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
