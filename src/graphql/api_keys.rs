//! The brand's API keys, managed by its admins.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::{AdminOnly, conn, viewer};
use super::enums::Role;
use super::error::AppResult;
use super::ids::{decode, encode};
use crate::app::api_keys;
use crate::app::records::ApiKeyRow;

/// A key that calls the API for the brand. Its secret is shown once, when made.
pub struct ApiKey(pub ApiKeyRow);

#[Object]
impl ApiKey {
    pub async fn id(&self) -> ID {
        encode(self.0.id)
    }

    /// What the key is for, e.g. "Mobile app".
    async fn label(&self) -> &str {
        &self.0.label
    }

    /// What it may do.
    async fn role(&self) -> Role {
        self.0.role.into()
    }

    /// The first characters of its secret, to tell keys apart.
    async fn key_prefix(&self) -> &str {
        &self.0.key_prefix
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When it was last used, to the minute; null if never.
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }

    /// When it was revoked; a revoked key is refused.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}

/// A new API key.
#[derive(InputObject)]
pub struct CreateApiKeyInput {
    /// What the key is for (1 to 200 characters).
    pub label: String,
    pub role: Role,
}

/// The result of `createApiKey`.
#[derive(SimpleObject)]
pub struct CreateApiKeyPayload {
    pub api_key: ApiKey,
    /// The key's secret, for `Authorization: Bearer …`. Shown only now: store it.
    pub secret: String,
}

/// Which key to revoke.
#[derive(InputObject)]
pub struct RevokeApiKeyInput {
    pub id: ID,
}

/// The result of `revokeApiKey`.
#[derive(SimpleObject)]
pub struct RevokeApiKeyPayload {
    pub api_key: ApiKey,
}

#[derive(Default)]
pub struct ApiKeyQueries;

#[Object]
impl ApiKeyQueries {
    /// The brand's API keys, revoked ones too, oldest first (admins only).
    #[graphql(guard = "AdminOnly")]
    async fn api_keys(&self, ctx: &Context<'_>) -> AppResult<Vec<ApiKey>> {
        let rows = api_keys::list(&mut *conn(ctx).await?, *viewer(ctx)?).await?;
        Ok(rows.into_iter().map(ApiKey).collect())
    }
}

#[derive(Default)]
pub struct ApiKeyMutations;

#[Object]
impl ApiKeyMutations {
    /// Makes an API key; the payload holds its secret, shown this once.
    #[graphql(guard = "AdminOnly")]
    async fn create_api_key(&self, ctx: &Context<'_>, input: CreateApiKeyInput) -> AppResult<CreateApiKeyPayload> {
        let (row, secret) =
            api_keys::create(&mut *conn(ctx).await?, *viewer(ctx)?, &input.label, input.role.into()).await?;
        Ok(CreateApiKeyPayload {
            api_key: ApiKey(row),
            secret,
        })
    }

    /// Revokes an API key: refused from its next request on, on every server. A key
    /// cannot revoke itself (`CONFLICT`): make another admin key first.
    #[graphql(guard = "AdminOnly")]
    async fn revoke_api_key(&self, ctx: &Context<'_>, input: RevokeApiKeyInput) -> AppResult<RevokeApiKeyPayload> {
        let id = decode(&input.id)?;
        let row = api_keys::revoke(&mut *conn(ctx).await?, *viewer(ctx)?, id).await?;
        Ok(RevokeApiKeyPayload { api_key: ApiKey(row) })
    }
}
