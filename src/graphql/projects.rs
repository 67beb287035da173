//! Connected projects (campaigns) that group offers.

use async_graphql::{Context, InputObject, Object, SimpleObject};

use super::context::{AdminOnly, conn, viewer};
use super::error::AppResult;
use super::types::project::Project;
use crate::app::offers;
use crate::app::reads;

/// A new connected project.
#[derive(InputObject)]
pub struct CreateProjectInput {
    pub name: String,
}

/// The result of `createProject`.
#[derive(SimpleObject)]
pub struct CreateProjectPayload {
    pub project: Project,
}

#[derive(Default)]
pub struct ProjectQueries;

#[Object]
impl ProjectQueries {
    /// The brand's connected projects, by name.
    async fn projects(&self, ctx: &Context<'_>) -> AppResult<Vec<Project>> {
        let viewer = viewer(ctx)?;
        let rows = reads::projects(&mut *conn(ctx).await?, viewer).await?;
        Ok(rows.into_iter().map(Project).collect())
    }
}

#[derive(Default)]
pub struct ProjectMutations;

#[Object]
impl ProjectMutations {
    /// Creates a connected project (campaign).
    #[graphql(guard = "AdminOnly")]
    async fn create_project(&self, ctx: &Context<'_>, input: CreateProjectInput) -> AppResult<CreateProjectPayload> {
        let row = offers::create_project(&mut *conn(ctx).await?, *viewer(ctx)?, &input.name).await?;
        Ok(CreateProjectPayload { project: Project(row) })
    }
}
