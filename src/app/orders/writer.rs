//! Group commit for webhook orders. A flash sale sends many orders for one
//! creator's code at once; one transaction per order would make each wait for the
//! last to release the membership's and its offer's hot rows (balances, rollups).
//! Instead a writer takes every order waiting (up to `MAX_GROUP`) and records
//! them set-wise: one statement per step for the whole group (terms, delivery
//! claims, conversions, ledger entries, one rollup upsert per key), one commit,
//! then each webhook is answered. Under load groups grow by themselves.
//!
//! Two lanes share the queue: one gathers and starts the next group while the
//! other's commits. Every step writes its rows in key order, so two groups that
//! touch the same memberships wait for each other instead of deadlocking.
//!
//! A group written beside another adds its balances and daily rollups to the
//! order tallies rather than to the rows the other group is updating; the
//! tallies are folded into them when the writer falls idle (before its last
//! group is answered) and at least every so often under load (`app::tallies`).
//!
//! An order is recorded exactly as `record` records it alone. Orders that could
//! cross a reward rule are recorded one by one after the group has committed,
//! each in a transaction of its own, since each crossing depends on the orders
//! before it. If the group fails as a whole, each of its orders is applied again
//! alone.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono_tz::Tz;
use diesel_async::AsyncPgConnection;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{Applied, ChangeError, OrderEvent, OrderInput, Recorded, apply_event, book, new_conversion, price};
use crate::app::live::KpiChanges;
use crate::app::tallies::{Kind, LeftoverFold, Tallies};
use crate::db::conversions::{self, OrderTerms, Terms, TermsWanted};
use crate::db::models::ConversionRow;
use crate::db::stats::Deltas;
use crate::db::{DbError, DbPool, DbResult, pipelined, webhook_deliveries, webhooks};
use crate::domain::ids::BrandId;
use crate::domain::webhooks::EventType;
use crate::metrics::Metrics;

/// Orders one group holds at most (bounds a transaction's length and its locks).
const MAX_GROUP: usize = 256;
/// Orders waiting for the writer at most; further webhooks wait to queue.
const QUEUE_CAPACITY: usize = 4_096;

/// An order a shop's webhook reported.
#[derive(Clone, Debug)]
pub struct WebhookOrder {
    pub brand_id: BrandId,
    pub time_zone: Tz,
    /// The shop's delivery id: a delivery is applied once.
    pub delivery_id: Option<String>,
    pub order: OrderInput,
}

impl WebhookOrder {
    /// Applies the order alone, in a transaction of its own (or a savepoint).
    async fn apply_alone(&self, conn: &mut AsyncPgConnection) -> Result<Applied, ChangeError> {
        apply_event(
            conn,
            self.brand_id,
            self.time_zone,
            &self.order.source,
            self.delivery_id.as_deref(),
            OrderEvent::Created(self.order.clone()),
        )
        .await
    }
}

type Outcome = Result<Applied, ChangeError>;
type Job = (WebhookOrder, oneshot::Sender<Outcome>);

/// Hands webhook orders to the writer task; cheap to clone.
#[derive(Clone)]
pub struct OrderWriter {
    jobs: mpsc::Sender<Job>,
}

impl OrderWriter {
    /// Groups in flight at once: one gathers and starts while the other commits (three
    /// gained nothing: they wait on the same offers' rows; bench/RESULTS.md).
    pub const LANES: usize = 2;

    /// Orders waiting for the writer.
    pub fn queued(&self) -> usize {
        self.jobs.max_capacity() - self.jobs.capacity()
    }

    /// Connections the writer draws on: one a lane, and one for a fold beside them.
    pub const CONNECTIONS: usize = Self::LANES + 1;

    /// Starts the writer on `pool`, among the caller's runtime's tasks; it stops
    /// once every handle is dropped.
    pub fn start(pool: DbPool, metrics: Arc<Metrics>, live: KpiChanges) -> Self {
        let (writer, lanes) = Self::with_lanes(pool, metrics, live);
        for lane in lanes {
            tokio::spawn(lane);
        }
        writer
    }

    /// A writer and its lanes, for the caller to run.
    fn with_lanes(
        pool: DbPool,
        metrics: Arc<Metrics>,
        live: KpiChanges,
    ) -> (Self, Vec<impl Future<Output = ()> + Send + 'static>) {
        let (jobs, queue) = mpsc::channel(QUEUE_CAPACITY);
        let load = Arc::new(WriterLoad {
            waiting: jobs.downgrade(),
            queue: Mutex::new(queue),
            tallies: Tallies::new(),
            pool,
            live,
        });
        let lanes = (0..Self::LANES).map(|_| run(load.clone(), metrics.clone())).collect();
        (OrderWriter { jobs }, lanes)
    }

    /// Starts the writer on a thread and runtime of its own, with `pool`'s
    /// connections made there (a connection's I/O runs on the runtime that made it):
    /// `pool` must be the writer's alone. A group holds its rows' locks from its
    /// first write to its commit, and among the server's tasks each of its round
    /// trips waited for a turn behind the requests queued there (over a third of a
    /// lane's time under load, while the other lane waited on its locks); here the
    /// next statement goes as soon as the answer is in. (The click writer stays among the
    /// requests: on a thread of its own its redirects' p99 grew from 0.03 to 0.8 s
    /// at 10,000/s; bench/RESULTS.md.)
    pub fn start_on_own_thread(pool: DbPool, metrics: Arc<Metrics>, live: KpiChanges) -> Self {
        let (writer, lanes) = Self::with_lanes(pool, metrics, live);
        let lanes = async move {
            let lanes: Vec<_> = lanes.into_iter().map(tokio::spawn).collect();
            for lane in lanes {
                if let Err(error) = lane.await {
                    tracing::error!(%error, "an order writer lane stopped");
                }
            }
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the order writer");
        std::thread::Builder::new()
            .name("order-writer".into())
            .spawn(move || runtime.block_on(lanes))
            .expect("a thread for the order writer");
        writer
    }

    /// The task that folds tallies a stopped server left, on `pool`: run by the job runner.
    pub(crate) fn tally_fold(pool: DbPool, live: KpiChanges) -> LeftoverFold {
        LeftoverFold {
            kind: Kind::Orders,
            pool,
            live,
        }
    }

    /// Records the order with the others waiting; answers once it is committed.
    pub async fn record(&self, order: WebhookOrder) -> Outcome {
        let (reply, answer) = oneshot::channel();
        let stopped = || ChangeError::Db(DbError::Unavailable("the order writer has stopped".into()));
        self.jobs.send((order, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// What the writer's lanes share: the queue, and what they tallied.
struct WriterLoad {
    /// For a look at what is waiting.
    waiting: mpsc::WeakSender<Job>,
    /// The lane holding it waits for the next orders.
    queue: Mutex<mpsc::Receiver<Job>>,
    tallies: Tallies,
    pool: DbPool,
    live: KpiChanges,
}

impl WriterLoad {
    fn nothing_queued(&self) -> bool {
        self.waiting
            .upgrade()
            .is_none_or(|queue| queue.capacity() == queue.max_capacity())
    }
}

/// One lane of the writer: takes every order waiting (while the other lane writes
/// its group) and records them as a group.
async fn run(load: Arc<WriterLoad>, metrics: Arc<Metrics>) {
    let mut waiting = Vec::with_capacity(MAX_GROUP);
    loop {
        let tally = {
            let mut queue = load.queue.lock().await;
            if queue.recv_many(&mut waiting, MAX_GROUP).await == 0 {
                break;
            }
            load.tallies.start_write()
        };
        let started = std::time::Instant::now();
        let (orders, replies): (Vec<WebhookOrder>, Vec<_>) = std::mem::take(&mut waiting).into_iter().unzip();
        let outcomes = write_group(&load.pool, &orders, tally).await;
        // The last group before the writer falls idle folds the tallies first, so
        // whoever awaited every order sees every figure.
        if load.tallies.finish_write(tally) && load.nothing_queued() {
            load.tallies.fold_tallied(|| fold(&load.pool, &load.live)).await;
        }
        metrics.order_group_size.observe(orders.len() as f64);
        metrics.order_group_seconds.observe(started.elapsed().as_secs_f64());
        if tally {
            metrics.order_groups_tallied.inc();
        }
        for (outcome, reply) in outcomes.into_iter().zip(replies) {
            // The webhook may have gone (its client hung up): the order is stored anyway.
            let _ = reply.send(outcome);
        }
        // Under steady load: beside the lanes, so that neither an order nor the next
        // group waits for it.
        if load.tallies.claim_due_fold() {
            let load = load.clone();
            tokio::spawn(async move { load.tallies.fold_tallied(|| fold(&load.pool, &load.live)).await });
        }
    }
}

/// Folds the order tallies into the balances and rollups; false when that failed
/// (they wait for the next fold).
async fn fold(pool: &DbPool, live: &KpiChanges) -> bool {
    crate::app::tallies::fold(Kind::Orders, pool, live).await
}

async fn write_group(pool: &DbPool, orders: &[WebhookOrder], tally: bool) -> Vec<Outcome> {
    let mut conn = match pool.get().await {
        Ok(conn) => conn,
        Err(error) => {
            let error = DbError::from(error);
            return orders
                .iter()
                .map(|_| Err(ChangeError::Db(DbError::Unavailable(error.to_string()))))
                .collect();
        }
    };
    // A group of one too: its statements are the group's, prepared once.
    let together = record_group(&mut conn, orders, tally).await;
    let mut outcomes = match together {
        Ok(outcomes) => outcomes,
        Err(error) => {
            tracing::warn!(%error, orders = orders.len(), "an order group failed; applying its orders alone");
            orders.iter().map(|_| None).collect()
        }
    };
    // Orders left out of the group (those that may cross a reward rule) each in a
    // transaction of their own, after the group's: inside it they would lock rows
    // out of key order while another lane's group waits on the same rows.
    for (outcome, order) in outcomes.iter_mut().zip(orders) {
        if outcome.is_none() {
            *outcome = Some(order.apply_alone(&mut conn).await);
        }
    }
    outcomes
        .into_iter()
        .map(|o| o.expect("every order of the group has an outcome"))
        .collect()
}

/// Records a group of orders in a transaction of its own, whose `BEGIN` goes in
/// the round trip of the group's first reads (the terms and the subscriptions).
/// An order that cannot be priced fails alone; any database error fails the
/// group. Orders that may cross a reward rule are left without an outcome, for
/// the caller to apply one by one. With `tally` the group's balances and rollups
/// go to the tallies.
async fn record_group(
    conn: &mut AsyncPgConnection,
    orders: &[WebhookOrder],
    tally: bool,
) -> DbResult<Vec<Option<Outcome>>> {
    let wanted: Vec<TermsWanted> = orders
        .iter()
        .map(|o| TermsWanted {
            brand_id: o.brand_id,
            at: o.order.occurred_at,
            codes: &o.order.promo_codes,
            click_id: o.order.click_id,
        })
        .collect();
    let mut brands: Vec<BrandId> = orders.iter().map(|o| o.brand_id).collect();
    brands.sort_unstable();
    brands.dedup();
    let begin = pipelined::begin(conn)?;
    // In the terms' round trip: events no endpoint subscribes to are not built.
    let subscribed = webhooks::subscriptions(conn, &brands);
    let read = futures_util::try_join!(begin, subscribed, conversions::terms_of_orders(conn, &wanted));
    let recorded = match read {
        Ok(((), subscribed, found)) => record_read_group(conn, orders, tally, &subscribed, &found).await,
        Err(error) => Err(error),
    };
    pipelined::finish(conn, recorded).await
}

/// The rest of [`record_group`], once its terms and subscriptions are read.
async fn record_read_group(
    conn: &mut AsyncPgConnection,
    orders: &[WebhookOrder],
    tally: bool,
    subscribed: &[(BrandId, String)],
    found: &[OrderTerms],
) -> DbResult<Vec<Option<Outcome>>> {
    let subscribed = |brand_id: BrandId, event_type: EventType| {
        subscribed
            .iter()
            .any(|(brand, subscribed)| *brand == brand_id && subscribed == event_type.as_str())
    };
    let terms = TermsByOrder::new(found, orders.len());

    let mut outcomes: Vec<Option<Outcome>> = orders.iter().map(|_| None).collect();
    let mut priced = Vec::new();
    for (index, order) in orders.iter().enumerate() {
        let promos = terms.promos(index);
        match price(&order.order, &promos, terms.click(index, order)) {
            Err(error) => outcomes[index] = Some(Err(ChangeError::Db(error))),
            Ok(p) if p.terms.is_some_and(|t| t.has_reward_rules) => {}
            Ok(p) => priced.push((index, p)),
        }
    }

    // Deliveries seen before (or twice in this group) are not applied again.
    let deliveries: Vec<(BrandId, &str, &str)> = priced
        .iter()
        .filter_map(|(i, _)| {
            let o = &orders[*i];
            o.delivery_id
                .as_deref()
                .map(|d| (o.brand_id, o.order.source.as_str(), d))
        })
        .collect();
    let mut claimed_now: HashSet<(BrandId, String, String)> = webhook_deliveries::claim_many(conn, &deliveries)
        .await?
        .into_iter()
        .collect();
    priced.retain(|(i, _)| {
        let o = &orders[*i];
        let Some(delivery_id) = &o.delivery_id else {
            return true;
        };
        let key = (o.brand_id, o.order.source.clone(), delivery_id.clone());
        let first_claim = claimed_now.remove(&key);
        if !first_claim {
            outcomes[*i] = Some(Ok(Applied::Redelivered));
        }
        first_claim
    });

    // One insert for the group; an order named twice is inserted once.
    let key_of = |i: usize| {
        let o = &orders[i];
        (o.brand_id, o.order.source.clone(), o.order.external_order_id.clone())
    };
    let mut first_of_key: HashMap<(BrandId, String, String), usize> = HashMap::new();
    let mut new: Vec<_> = priced
        .iter()
        .filter(|(i, _)| *first_of_key.entry(key_of(*i)).or_insert(*i) == *i)
        .map(|(i, p)| new_conversion(orders[*i].brand_id, &orders[*i].order, p))
        .collect();
    // In key order, so that the groups of several servers wait for each other on an
    // order both hold instead of deadlocking.
    new.sort_unstable_by(|a, b| {
        (a.brand_id, a.source, a.external_order_id).cmp(&(b.brand_id, b.source, b.external_order_id))
    });
    let inserted = conversions::insert_many(conn, &new).await?;
    let mut rows: HashMap<(BrandId, String, String), ConversionRow> = inserted
        .into_iter()
        .map(|row| ((row.brand_id, row.source.clone(), row.external_order_id.clone()), row))
        .collect();

    let mut entries = Vec::new();
    let mut deltas = Deltas::default();
    let mut events = Vec::new();
    for (i, p) in &priced {
        let key = key_of(*i);
        let is_new = first_of_key[&key] == *i && rows.contains_key(&key);
        if is_new {
            let row = &rows[&key];
            if subscribed(row.brand_id, EventType::ConversionCreated) {
                events.push(super::events::conversion(row, EventType::ConversionCreated));
            }
            if let (Some(terms), Some(membership_id)) = (p.terms, row.membership_id) {
                let entry = book(row, membership_id, terms, orders[*i].time_zone, &mut deltas);
                if subscribed(row.brand_id, EventType::CommissionCreated) {
                    events.extend(super::events::commission_created(row, &entry));
                }
                entries.push(entry);
            }
            outcomes[*i] = Some(Ok(Applied::Recorded(Recorded::New(row.clone()))));
        }
    }
    // Balances are locked in key order, as the rollups are, so groups of several
    // servers wait for each other rather than deadlock on them.
    entries.sort_by_key(|e| (e.brand_id, e.membership_id));
    if tally {
        super::tally_bookings(conn, &entries, deltas, events).await?;
    } else {
        super::write_bookings(conn, &entries, deltas, events).await?;
    }

    // Orders recorded before this group, or earlier in it: duplicates.
    for (i, _) in &priced {
        if outcomes[*i].is_some() {
            continue;
        }
        let key = key_of(*i);
        let row = match rows.get(&key) {
            Some(row) => row.clone(),
            None => {
                let (brand_id, source, external_order_id) = &key;
                let existing = conversions::find_external(conn, *brand_id, source, external_order_id)
                    .await?
                    .ok_or(DbError::NotFound)?;
                rows.insert(key, existing.clone());
                existing
            }
        };
        outcomes[*i] = Some(Ok(Applied::Recorded(Recorded::Duplicate(row))));
    }

    Ok(outcomes)
}

/// The terms found for each order of a group.
struct TermsByOrder<'a> {
    promos: Vec<Vec<&'a OrderTerms>>,
    clicks: Vec<Option<&'a Terms>>,
}

impl<'a> TermsByOrder<'a> {
    fn new(found: &'a [OrderTerms], orders: usize) -> Self {
        let mut promos = vec![Vec::new(); orders];
        let mut clicks = vec![None; orders];
        for t in found {
            let Some(index) = usize::try_from(t.order_index).ok().filter(|&i| i < orders) else {
                continue;
            };
            if t.by_click {
                clicks[index] = Some(&t.terms);
            } else {
                promos[index].push(t);
            }
        }
        for list in &mut promos {
            list.sort_by_key(|t| t.position);
        }
        TermsByOrder { promos, clicks }
    }

    /// The order's promo codes' terms, in the order the shop listed the codes.
    fn promos(&self, index: usize) -> Vec<&'a Terms> {
        self.promos[index].iter().map(|t| &t.terms).collect()
    }

    fn click(&self, index: usize, order: &WebhookOrder) -> Option<(uuid::Uuid, &'a Terms)> {
        Some((order.order.click_id?, self.clicks[index]?))
    }
}
