use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};

use crate::app::records::ProjectRow;
use crate::graphql::ids::encode;

/// A connected project (campaign): offers connect to projects, and reports filter by them.
pub struct Project(pub ProjectRow);

#[Object]
impl Project {
    pub async fn id(&self) -> ID {
        encode(self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}
