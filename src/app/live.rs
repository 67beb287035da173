//! Live KPIs: which brands' figures have just changed, known to every server.
//!
//! A write that changes a brand's KPIs (an order, a refund, a click batch, a
//! payment, an edit) marks the brand. This server's subscriptions hear of it at
//! once; the other servers through one NOTIFY per `FLUSH_EVERY` naming every brand
//! marked since, which each LISTENs for on a session of its own. A NOTIFY in each
//! order's transaction would serialize their commits: PostgreSQL takes a
//! database-wide lock for it until the commit is flushed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::db::{DbError, DbPool, DbResult, notifications};
use crate::domain::ids::BrandId;

/// The NOTIFY channel every server listens on.
const CHANNEL: &str = "sales_tracking_kpis";
/// Marks are gathered this long before they are sent to the other servers.
const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// A notification's payload stays under PostgreSQL's 8,000 bytes.
const PAYLOAD_BYTES: usize = 7_000;
/// How often an idle LISTEN task checks whether its server is still there.
const ALIVE_CHECK: Duration = Duration::from_secs(10);
const RECONNECT_AT_MOST_EVERY: Duration = Duration::from_secs(30);

/// One brand's changes as a subscription sees them: however many happen while
/// it reads, it wakes once.
pub struct KpiWatch(watch::Receiver<u64>);

impl KpiWatch {
    /// Waits for the next change; false once the server is going away.
    pub async fn changed(&mut self) -> bool {
        self.0.changed().await.is_ok()
    }

    /// Forgets the changes seen so far (a read that follows covers them).
    pub fn mark_seen(&mut self) {
        self.0.borrow_and_update();
    }
}

/// The marks and their subscribers; cheap to clone.
#[derive(Clone)]
pub struct KpiChanges(Arc<Shared>);

struct Shared {
    /// Tells this server's own notifications from the others'.
    server: Uuid,
    /// A change counter per brand with subscriptions here.
    watched: Mutex<HashMap<BrandId, watch::Sender<u64>>>,
    marked: Arc<Mutex<HashSet<BrandId>>>,
    wake: mpsc::Sender<()>,
    pool: DbPool,
    /// A direct session to LISTEN on (none: this server's own changes only).
    listen_url: Option<String>,
    listening: OnceLock<()>,
}

impl Shared {
    /// Wakes the brand's subscriptions here (every brand's when `None`).
    fn wake_watchers(&self, brand_id: Option<BrandId>) {
        let mut watched = lock(&self.watched);
        match brand_id {
            Some(brand_id) => {
                if let Some(counter) = watched.get(&brand_id) {
                    if counter.receiver_count() == 0 {
                        watched.remove(&brand_id);
                    } else {
                        counter.send_modify(|count| *count += 1);
                    }
                }
            }
            None => {
                watched.retain(|_, counter| counter.receiver_count() > 0);
                watched
                    .values()
                    .for_each(|counter| counter.send_modify(|count| *count += 1));
            }
        }
    }
}

impl KpiChanges {
    /// Starts sending marks to the other servers through `pool`; listening for
    /// theirs on `listen_url` starts with the first subscription.
    pub fn start(pool: DbPool, listen_url: Option<String>) -> Self {
        let marked: Arc<Mutex<HashSet<BrandId>>> = Arc::default();
        let (wake, woken) = mpsc::channel(1);
        let server = Uuid::now_v7();
        tokio::spawn(send_marks(pool.clone(), server, marked.clone(), woken));
        KpiChanges(Arc::new(Shared {
            server,
            watched: Mutex::default(),
            marked,
            wake,
            pool,
            listen_url,
            listening: OnceLock::new(),
        }))
    }

    /// The brand's KPIs may have changed (called after the change is committed).
    pub fn touch(&self, brand_id: BrandId) {
        self.0.wake_watchers(Some(brand_id));
        lock(&self.0.marked).insert(brand_id);
        let _ = self.0.wake.try_send(());
    }

    /// The brand's changes from now on, this server's and the others'.
    pub fn subscribe(&self, brand_id: BrandId) -> KpiWatch {
        if let Some(url) = &self.0.listen_url {
            self.0.listening.get_or_init(|| {
                tokio::spawn(listen(url.clone(), Arc::downgrade(&self.0)));
            });
        }
        let mut watched = lock(&self.0.watched);
        let counter = watched.entry(brand_id).or_insert_with(|| watch::channel(0).0);
        KpiWatch(counter.subscribe())
    }

    /// Sends what is marked now (at shutdown: the next round would not come).
    pub async fn send_marked(&self) -> DbResult<()> {
        send(&self.0.pool, self.0.server, &self.0.marked).await
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Sends the marks every `FLUSH_EVERY` while there are any; ends with its `KpiChanges`.
async fn send_marks(pool: DbPool, server: Uuid, marked: Arc<Mutex<HashSet<BrandId>>>, mut woken: mpsc::Receiver<()>) {
    while woken.recv().await.is_some() {
        tokio::time::sleep(FLUSH_EVERY).await;
        if let Err(error) = send(&pool, server, &marked).await {
            tracing::warn!(%error, "cannot tell the other servers which KPIs changed");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

async fn send(pool: &DbPool, server: Uuid, marked: &Mutex<HashSet<BrandId>>) -> DbResult<()> {
    let brands: Vec<BrandId> = lock(marked).drain().collect();
    if brands.is_empty() {
        return Ok(());
    }
    let payloads = payloads(server, &brands);
    let sent = async {
        let mut conn = pool.get().await.map_err(DbError::from)?;
        notifications::notify(&mut conn, CHANNEL, &payloads).await
    }
    .await;
    if sent.is_err() {
        // Marked again: the next round tries once more.
        lock(marked).extend(brands);
    }
    sent
}

/// `"<server> <brand>,<brand>,…"`, split to fit a notification.
fn payloads(server: Uuid, brands: &[BrandId]) -> Vec<String> {
    let mut payloads = Vec::new();
    let mut current = String::new();
    for brand in brands {
        if current.len() > PAYLOAD_BYTES {
            payloads.push(std::mem::take(&mut current));
        }
        if current.is_empty() {
            current = format!("{server} {}", brand.0);
        } else {
            current.push_str(&format!(",{}", brand.0));
        }
    }
    payloads.extend((!current.is_empty()).then_some(current));
    payloads
}

/// The brands another server's payload names; none for this server's own or a
/// payload that is not ours.
fn brands_of(payload: &str, this_server: Uuid) -> Vec<BrandId> {
    let Some((server, brands)) = payload.split_once(' ') else {
        return Vec::new();
    };
    if Uuid::parse_str(server).is_ok_and(|server| server == this_server) {
        return Vec::new();
    }
    brands
        .split(',')
        .filter_map(|id| id.parse().ok())
        .map(BrandId)
        .collect()
}

/// Listens for the other servers' marks, re-establishing the session when it is
/// lost; ends once its `KpiChanges` is dropped.
async fn listen(url: String, shared: Weak<Shared>) {
    let mut retry = Duration::from_secs(1);
    loop {
        match notifications::listen(&url, CHANNEL).await {
            Ok(mut session) => {
                retry = Duration::from_secs(1);
                let Some(live) = shared.upgrade() else { return };
                // Whatever happened while no session listened is unknown.
                live.wake_watchers(None);
                let server = live.server;
                drop(live);
                loop {
                    let next = tokio::time::timeout(ALIVE_CHECK, session.next()).await;
                    let Some(live) = shared.upgrade() else { return };
                    match next {
                        Err(_) => continue,
                        Ok(None) => break,
                        Ok(Some(payload)) => {
                            for brand in brands_of(&payload, server) {
                                live.wake_watchers(Some(brand));
                            }
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot LISTEN for the other servers' KPI changes"),
        }
        if shared.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(RECONNECT_AT_MOST_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_every_brand_once_and_fit_a_notification() {
        let server = Uuid::now_v7();
        let brands: Vec<BrandId> = (1..=2_000).map(BrandId).collect();
        let payloads = payloads(server, &brands);
        assert!(payloads.len() > 1);
        assert!(payloads.iter().all(|p| p.len() < 8_000));
        let heard: Vec<BrandId> = payloads.iter().flat_map(|p| brands_of(p, Uuid::now_v7())).collect();
        assert_eq!(heard, brands);
        assert!(
            payloads.iter().all(|p| brands_of(p, server).is_empty()),
            "a server skips its own"
        );
        assert!(brands_of("not ours", server).is_empty());
    }
}
