//! How an application error reaches a GraphQL client: always with `extensions.code`.

use async_graphql::ErrorExtensions;

pub use crate::app::error::{AppError, AppResult};

impl From<AppError> for async_graphql::Error {
    fn from(error: AppError) -> Self {
        if let AppError::Internal(source) = &error {
            tracing::error!(error = ?source, "internal error");
        }
        let code = error.code();
        async_graphql::Error::new(error.message()).extend_with(|_, extensions| extensions.set("code", code))
    }
}
