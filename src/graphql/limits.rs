//! Bounded work per request: every document is measured right after parsing,
//! before validation or execution (`query_cost`), refused when over a limit,
//! charged to its caller's budget, and answered with its cost in
//! `extensions.cost`.

use std::sync::{Arc, Mutex, OnceLock};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, Response, ServerError, ServerResult, Value, Variables};
use axum::http::HeaderValue;
use axum::http::header::RETRY_AFTER;

use super::query_cost::{self, CostModel, Measure, QueryLimits, TooCostly};
use super::text_inputs;
use crate::domain::nesting;
use crate::rate_limit::{BudgetStatus, RateLimiter};

/// Who a request's cost is charged to: the API key, or the client's IP without one.
#[derive(Clone, Debug)]
pub struct RateSubject(pub String);

/// The extension; the cost model is read from the schema's SDL once it is built.
pub struct CostLimits {
    pub model: Arc<OnceLock<CostModel>>,
    pub limits: QueryLimits,
    pub budget: Arc<RateLimiter>,
}

impl ExtensionFactory for CostLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CostLimitsRequest {
            model: self.model.clone(),
            limits: self.limits,
            budget: self.budget.clone(),
            state: Mutex::default(),
        })
    }
}

#[derive(Default)]
struct Measured {
    operation_name: Option<String>,
    variables: Variables,
    document: Option<ExecutableDocument>,
    measure: Option<Measure>,
    subject: Option<String>,
    budget: Option<BudgetStatus>,
    retry_after: Option<u64>,
}

struct CostLimitsRequest {
    model: Arc<OnceLock<CostModel>>,
    limits: QueryLimits,
    budget: Arc<RateLimiter>,
    state: Mutex<Measured>,
}

impl CostLimitsRequest {
    fn state(&self) -> std::sync::MutexGuard<'_, Measured> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A request-level error with `extensions.code` and one more extension.
fn coded_error(message: String, code: &str, extra: (&str, Value)) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", code);
    extensions.set(extra.0, extra.1);
    error.extensions = Some(extensions);
    error
}

fn refusal(reason: &TooCostly) -> ServerError {
    let limit = match reason {
        TooCostly::TooLarge(..) => "MAX_QUERY_BYTES",
        TooCostly::TooManySelections(..) => "MAX_SELECTIONS",
        TooCostly::TooManyAliases(..) => "MAX_ALIASES",
        TooCostly::TooManyRootFields(..) => "MAX_ROOT_FIELDS",
        TooCostly::TooDeep(..) => "MAX_DEPTH",
        TooCostly::IntrospectionTooDeep(..) => "MAX_INTROSPECTION_DEPTH",
        TooCostly::TooCostly(..) => "MAX_COST_EXCEEDED",
        TooCostly::FragmentCycle(..) => "FRAGMENT_CYCLE",
    };
    coded_error(reason.to_string(), "BAD_USER_INPUT", ("limit", Value::from(limit)))
}

impl CostLimitsRequest {
    /// Takes the measured cost from the caller's budget, or refuses with `THROTTLED`.
    fn charge(&self, subject: Option<String>, measure: Measure, document: ExecutableDocument) -> ServerResult<()> {
        let mut state = self.state();
        state.measure = Some(measure);
        state.document = Some(document);
        let Some(subject) = subject else { return Ok(()) };
        match self.budget.take(&subject, measure.cost) {
            Ok(status) => {
                state.budget = Some(status);
                state.subject = Some(subject);
                Ok(())
            }
            Err(throttled) => {
                state.budget = Some(throttled.status);
                state.retry_after = Some(throttled.retry_after_secs());
                let seconds = throttled.retry_after_secs();
                Err(coded_error(
                    format!(
                        "over the rate limit: this query costs {} points and {} are available; retry in {seconds} s",
                        measure.cost, throttled.status.currently_available,
                    ),
                    "THROTTLED",
                    ("retryAfter", Value::from(seconds)),
                ))
            }
        }
    }
}

#[async_trait::async_trait]
impl Extension for CostLimitsRequest {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        {
            let mut state = self.state();
            state.operation_name = request.operation_name.clone();
            state.variables = request.variables.clone();
        }
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if query.len() > self.limits.max_query_bytes {
            return Err(refusal(&TooCostly::TooLarge(query.len(), self.limits.max_query_bytes)));
        }
        // Before any parser recurses (HTTP checks too; this holds for any caller of the schema).
        if let Err(too_deep) = nesting::check(query, nesting::Syntax::GraphQl, nesting::MAX_NESTING, "the query") {
            return Err(coded_error(
                too_deep.to_string(),
                "BAD_USER_INPUT",
                ("limit", Value::from("MAX_NESTING")),
            ));
        }
        // Measured on a parse of our own: async-graphql's checks that run with its
        // parse follow fragment spreads without memoizing, so a fragment chain must
        // be refused before they see it. A document that does not parse is left to
        // async-graphql, which reports where.
        let (Some(model), Ok(parsed)) = (self.model.get(), async_graphql::parser::parse_query(query)) else {
            return next.run(ctx, query, variables).await;
        };
        if let Some(place) = text_inputs::control_character(&parsed, variables) {
            return Err(coded_error(
                format!(
                    "{place} holds a control character (only tab, line feed and carriage return are allowed in text)"
                ),
                "BAD_USER_INPUT",
                ("limit", Value::from("CONTROL_CHARACTER")),
            ));
        }
        let operation_name = self.state().operation_name.clone();
        let measured = query_cost::measure(model, &self.limits, &parsed, operation_name.as_deref(), variables);
        let measure = match measured {
            Ok(measure) => measure,
            Err((reason, measure)) => {
                self.state().measure = measure;
                return Err(refusal(&reason));
            }
        };
        let subject = ctx.data_opt::<RateSubject>().map(|s| s.0.clone());
        self.charge(subject, measure, parsed)?;
        next.run(ctx, query, variables).await
    }

    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        let mut state = self.state();
        let Some(measure) = state.measure else {
            return response;
        };
        let actual = match (self.model.get(), state.document.as_ref()) {
            (Some(model), Some(document)) => query_cost::actual_cost(
                model,
                document,
                state.operation_name.as_deref(),
                &state.variables,
                &response.data,
            )
            .min(measure.cost),
            _ => 0,
        };
        if let Some(subject) = &state.subject {
            state.budget = Some(self.budget.give_back(subject, measure.cost - actual));
        }
        let mut cost = serde_json::json!({
            "requestedQueryCost": measure.cost,
            "actualQueryCost": actual,
            "maximumQueryCost": self.limits.max_cost,
        });
        if let Some(budget) = state.budget {
            cost["throttleStatus"] = serde_json::to_value(budget).unwrap_or_default();
        }
        if let Ok(value) = Value::from_json(cost) {
            response.extensions.insert("cost".to_string(), value);
        }
        if let Some(seconds) = state.retry_after.take() {
            response.http_headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
