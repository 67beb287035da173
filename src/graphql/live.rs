//! Live KPIs over WebSocket: the `Subscription` root. A subscription pushes its
//! KPIs at once, then again after the changes that concern its brand (see
//! `app::live`), paced and charged like the query it repeats.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_graphql::parser::types::OperationType;
use async_graphql::{Context, ID, Request, ServerError, Subscription};
use futures_util::Stream;
use tokio::time::Instant;

use super::context::{Caller, app, viewer};
use super::error::{AppError, AppResult};
use super::ids::decode;
use super::limits::RateSubject;
use super::query_cost::{self, CostModel, QueryLimits};
use super::reports::{DateRangeInput, KpiBlock, OfferFilter};
use crate::app::live::KpiWatch;
use crate::app::reports::{self, Watched};
use crate::app::{App, auth, reads};
use crate::domain::date_range::DateRange;
use crate::domain::kpis::Kpis;
use crate::rate_limit::RateLimiter;

/// Pushes one subscription sends at most: one per this.
const PUSH_EVERY: Duration = Duration::from_millis(500);
/// After a failed read, the next try.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// The WebSocket connection's API key, given at `connection_init`: checked
/// again before each push, so a revoked key stops its subscriptions.
#[derive(Clone)]
pub struct LiveSession {
    pub secret: String,
}

/// What one push of a subscription costs: its document's measured cost.
#[derive(Clone, Copy, Debug)]
pub struct PushCost(pub u64);

/// What subscriptions are measured and charged with (schema data).
#[derive(Clone)]
pub struct LiveCosting {
    pub model: Arc<OnceLock<CostModel>>,
    pub limits: QueryLimits,
    pub budget: Arc<RateLimiter>,
}

/// An error of a request that does not run, with its `extensions.code`.
pub fn coded_error(message: &str, code: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", code);
    error.extensions = Some(extensions);
    error
}

/// Readies a request that arrived over WebSocket: only subscriptions run there
/// (queries and mutations are sent with POST, under their deadlines), and each
/// carries its cost per push.
pub fn prepare_subscription(costing: &LiveCosting, mut request: Request) -> Result<Request, ServerError> {
    if request.query.len() > costing.limits.max_query_bytes {
        // The cost extension refuses it with its limit named.
        return Ok(request);
    }
    let operation_name = request.operation_name.clone();
    let variables = request.variables.clone();
    let Ok(document) = request.parsed_query() else {
        // Left to the schema, which says where the document is wrong.
        return Ok(request);
    };
    let Some(operation) = query_cost::operation(document, operation_name.as_deref()) else {
        return Ok(request);
    };
    if operation.ty != OperationType::Subscription {
        return Err(coded_error(
            "only subscriptions run over WebSocket: send queries and mutations with POST /graphql",
            "BAD_REQUEST",
        ));
    }
    let cost = costing
        .model
        .get()
        .and_then(|model| {
            query_cost::measure(model, &costing.limits, document, operation_name.as_deref(), &variables).ok()
        })
        .map_or(1, |measure| measure.cost.max(1));
    Ok(request.data(PushCost(cost)))
}

#[derive(Default)]
pub struct SubscriptionRoot;

/// Live updates, over WebSocket at `/graphql` (the `graphql-transport-ws`
/// protocol of the graphql-ws library), the API key given as the
/// `connection_init` payload `{"authorization": "Bearer <key>"}`.
#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// The KPIs of the offers a filter selects (as `kpis`), or of one offer
    /// (`offerId`), for a date range: sent at once, then again within a second of
    /// an order, refund, click batch, payment or edit that changes them (on any
    /// server), at most twice a second and only when a figure differs. Each push
    /// is charged to the key's budget like the query it repeats.
    async fn kpis_changed(
        &self,
        ctx: &Context<'_>,
        filter: Option<OfferFilter>,
        offer_id: Option<ID>,
        date_range: Option<DateRangeInput>,
    ) -> Result<impl Stream<Item = AppResult<KpiBlock>> + use<>, AppError> {
        let caller = *viewer(ctx)?;
        let application = app(ctx).clone();
        // Checked now, so that a bad range is refused at once.
        DateRangeInput::resolve(date_range.as_ref(), &caller)?;
        let watched = match (offer_id, filter) {
            (Some(_), Some(_)) => return Err(AppError::bad_input("give a filter or an offerId, not both")),
            (Some(id), None) => {
                let id = decode(&id)?;
                reads::offer(&mut *application.conn().await?, &caller, id)
                    .await?
                    .ok_or(AppError::NotFound("offer"))?;
                Watched::Offer(id)
            }
            (None, filter) => Watched::Offers(filter.unwrap_or_default().selection(None)?),
        };
        let session = ctx.data_opt::<LiveSession>().ok_or(AppError::Unauthenticated)?;
        let charge = match (ctx.data_opt::<RateSubject>(), ctx.data_opt::<LiveCosting>()) {
            (Some(subject), Some(costing)) => Some(Charge {
                budget: costing.budget.clone(),
                subject: subject.0.clone(),
                cost: ctx.data_opt::<PushCost>().map_or(1, |c| c.0),
            }),
            _ => None,
        };
        let watch = Watch {
            changes: application.kpi_changes(caller.brand_id),
            app: application,
            secret: session.secret.clone(),
            caller,
            watched,
            range: date_range,
            charge,
            pushed: None,
            last_push: None,
            stage: Stage::First,
            failing: false,
        };
        Ok(futures_util::stream::unfold(watch, Watch::next))
    }
}

/// A push's charge to the key's budget.
struct Charge {
    budget: Arc<RateLimiter>,
    subject: String,
    cost: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Nothing sent yet: the first figures go out at once.
    First,
    /// Waiting for a change.
    Waiting,
    /// A change is known but not read yet (over budget, or after a failure).
    Pending,
    Ended,
}

/// One subscription's state between pushes.
struct Watch {
    app: App,
    secret: String,
    caller: Caller,
    watched: Watched,
    range: Option<DateRangeInput>,
    changes: KpiWatch,
    charge: Option<Charge>,
    pushed: Option<(DateRange, Kpis)>,
    last_push: Option<Instant>,
    stage: Stage,
    /// Reads have failed since the last push: one error is sent, not one per try.
    failing: bool,
}

impl Watch {
    async fn next(mut self) -> Option<(AppResult<KpiBlock>, Watch)> {
        loop {
            match self.stage {
                Stage::Ended => return None,
                Stage::Waiting => {
                    if !self.changes.changed().await {
                        return None;
                    }
                }
                Stage::First | Stage::Pending => {}
            }
            if let Some(at) = self.last_push {
                tokio::time::sleep_until(at + PUSH_EVERY).await;
            }
            if self.stage != Stage::First
                && let Some(wait) = self.over_budget()
            {
                self.stage = Stage::Pending;
                tokio::time::sleep(wait).await;
                continue;
            }
            // What changes from here on is covered by this read or wakes the next.
            self.changes.mark_seen();
            match self.read().await {
                Ok(Some(block)) => {
                    self.stage = Stage::Waiting;
                    self.failing = false;
                    self.last_push = Some(Instant::now());
                    return Some((Ok(block), self));
                }
                Ok(None) => {
                    self.stage = Stage::Waiting;
                    self.failing = false;
                }
                Err(error @ AppError::Unauthenticated) => {
                    self.stage = Stage::Ended;
                    return Some((Err(error), self));
                }
                Err(error) => {
                    tracing::warn!(?error, "a live KPI read failed");
                    self.stage = Stage::Pending;
                    tokio::time::sleep(RETRY_AFTER_FAILURE).await;
                    if !std::mem::replace(&mut self.failing, true) {
                        return Some((Err(error), self));
                    }
                }
            }
        }
    }

    /// How long to wait when this push is over the key's budget.
    fn over_budget(&self) -> Option<Duration> {
        let charge = self.charge.as_ref()?;
        match charge.budget.take(&charge.subject, charge.cost) {
            Ok(_) => None,
            Err(throttled) => Some(Duration::from_secs(throttled.retry_after_secs().max(1))),
        }
    }

    /// The figures now, if they differ from the last push; the key is checked
    /// first, as it may have been revoked since.
    async fn read(&mut self) -> AppResult<Option<KpiBlock>> {
        let caller = auth::caller_of_key(&mut *self.app.conn().await?, &self.secret)
            .await?
            .filter(|caller| caller.brand_id == self.caller.brand_id)
            .ok_or(AppError::Unauthenticated)?;
        self.caller = caller;
        let range = DateRangeInput::resolve(self.range.as_ref(), &caller)?;
        let figures = reports::watched_kpis(&self.app, &caller, &self.watched, range).await?;
        if self.pushed.as_ref().is_some_and(|(r, f)| *r == range && *f == figures) {
            return Ok(None);
        }
        self.pushed = Some((range, figures.clone()));
        Ok(Some(KpiBlock::new(range, figures)))
    }
}
