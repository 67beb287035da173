//! The caller's brand: who the key is, its audit log, and its webhook secret.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};

use super::context::{AdminOnly, app, conn, viewer};
use super::error::AppResult;
use super::ids::encode;
use super::pagination::{IdCursor, page_request, to_connection};
use super::types::brand::Viewer;
use crate::app::brands;
use crate::app::reads;
use crate::app::records::AuditRow;
use crate::domain::enums::Role;

/// The result of `setWebhookSecret`.
#[derive(SimpleObject)]
pub struct SetWebhookSecretPayload {
    /// Where shops post orders; replace `{source}` with e.g. `shopify` or `generic`.
    pub webhook_url_template: String,
}

/// One audited change.
pub struct AuditEvent(AuditRow);

#[Object]
impl AuditEvent {
    /// The mutation, e.g. `refreshPromoCodes`.
    async fn action(&self) -> &str {
        &self.0.action
    }

    /// What it was given. For analysts, members' email and payout addresses in it
    /// are hidden.
    async fn details(&self, ctx: &Context<'_>) -> AppResult<async_graphql::Json<serde_json::Value>> {
        Ok(async_graphql::Json(match viewer(ctx)?.role {
            Role::Admin => self.0.details.clone(),
            Role::Analyst => crate::domain::personal_data::hide_addresses_in_json(&self.0.details),
        }))
    }

    /// The API key that made it; null when an operator made it on the command
    /// line (e.g. `sales-tracking import-shopify`).
    async fn api_key_id(&self) -> Option<ID> {
        self.0.api_key_id.map(encode)
    }

    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.created_at
    }
}

#[derive(Default)]
pub struct BrandQueries;

#[Object]
impl BrandQueries {
    /// The caller: the API key's role and brand.
    async fn viewer(&self, ctx: &Context<'_>) -> AppResult<Viewer> {
        Ok(Viewer(*viewer(ctx)?))
    }

    /// Who changed money, codes or memberships, and when; newest first.
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<Connection<IdCursor, AuditEvent>> {
        let viewer = viewer(ctx)?;
        let had_cursor = after.is_some();
        let request = page_request(first, after)?;
        let page = reads::audit_events(&mut *conn(ctx).await?, viewer, request).await?;
        Ok(to_connection(
            page,
            had_cursor,
            async_graphql::connection::EmptyFields,
            |row| row.id,
            AuditEvent,
        ))
    }
}

/// The brand's new webhook signing secret.
#[derive(InputObject)]
pub struct SetWebhookSecretInput {
    /// 16 to 200 characters.
    pub secret: String,
}

#[derive(Default)]
pub struct BrandMutations;

#[Object]
impl BrandMutations {
    /// Sets the secret that signs the brand's order webhooks (HMAC-SHA256, Shopify's convention).
    #[graphql(guard = "AdminOnly")]
    async fn set_webhook_secret(
        &self,
        ctx: &Context<'_>,
        input: SetWebhookSecretInput,
    ) -> AppResult<SetWebhookSecretPayload> {
        let brand = brands::set_webhook_secret(app(ctx), &mut *conn(ctx).await?, *viewer(ctx)?, input.secret).await?;
        Ok(SetWebhookSecretPayload {
            webhook_url_template: format!("/webhooks/{}/orders/{{source}}", brand.slug),
        })
    }
}
