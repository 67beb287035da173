//! Response extensions: every error carries `extensions.code`, and figures read
//! while a replica is configured say how fresh they are (`extensions.freshness`).

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextRequest,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Name, Response, ServerResult, Value, Variables};
use chrono::{SecondsFormat, Utc};

use crate::app::reports::{ReadSource, ReportReads};

/// Resolver errors already carry a code; the ones without are the parser's and
/// validator's (unknown field, wrong enum value, unparsable scalar): bad input.
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodes)
    }
}

#[async_trait::async_trait]
impl Extension for ErrorCodes {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        for error in &mut response.errors {
            let extensions = error.extensions.get_or_insert_with(Default::default);
            if extensions.get("code").is_none() {
                extensions.set("code", Value::from("BAD_USER_INPUT"));
            }
        }
        response
    }
}

/// Sends a mutation's report reads to the primary, and adds `extensions.freshness`
/// to answers whose figures were read while a replica is configured:
/// `{ source: "REPLICA" | "PRIMARY", replicationLagSeconds, asOf, reason? }`.
pub struct ReportFreshness;

impl ExtensionFactory for ReportFreshness {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ReportFreshness)
    }
}

#[async_trait::async_trait]
impl Extension for ReportFreshness {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let writes = document
            .operations
            .iter()
            .any(|(_, operation)| operation.node.ty == OperationType::Mutation);
        if writes && let Some(reads) = ctx.data_opt::<Arc<ReportReads>>() {
            reads.mark_writing();
        }
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        if let Some(reads) = ctx.data_opt::<Arc<ReportReads>>() {
            reads.finish();
            if let Some(source) = reads.freshness() {
                response
                    .extensions
                    .insert("freshness".to_string(), freshness_value(source));
            }
        }
        response
    }
}

fn freshness_value(source: ReadSource) -> Value {
    let (name, lag, reason) = match source {
        ReadSource::Replica { lag } => ("REPLICA", lag, None),
        ReadSource::Primary(reason) => ("PRIMARY", std::time::Duration::ZERO, reason),
    };
    let as_of = Utc::now() - lag;
    let mut fields = async_graphql::indexmap::IndexMap::new();
    fields.insert(Name::new("source"), Value::from(name));
    // Milliseconds are as precise as the replica checks.
    let lag_seconds = (lag.as_millis() as f64) / 1000.0;
    fields.insert(Name::new("replicationLagSeconds"), Value::from(lag_seconds));
    fields.insert(
        Name::new("asOf"),
        Value::from(as_of.to_rfc3339_opts(SecondsFormat::Millis, true)),
    );
    if let Some(reason) = reason {
        fields.insert(Name::new("reason"), Value::from(reason.code()));
    }
    Value::Object(fields)
}
