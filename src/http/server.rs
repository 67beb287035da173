//! The accept loop: a cap on open connections and on those from one address, a
//! deadline for the first request from the moment a connection is accepted, and a
//! graceful shutdown that ends within its deadline whatever clients do.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt as _;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Semaphore;

#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Connections open at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Connections open at once from one client address; more are closed as they
    /// are accepted, so one address cannot take every slot.
    pub max_connections_per_address: usize,
    /// Addresses the per-address cap does not apply to (the load balancer).
    pub uncapped_addresses: Vec<ipnet::IpNet>,
    /// How long a client may take to send a request's headers, counted from the
    /// moment its connection is accepted (a client that sends nothing is closed too).
    pub header_read_timeout: Duration,
    /// How long shutdown waits for requests in flight before it closes them.
    pub shutdown_deadline: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_connections: 1_024,
            max_connections_per_address: 64,
            uncapped_addresses: Vec::new(),
            header_read_timeout: Duration::from_secs(10),
            shutdown_deadline: Duration::from_secs(20),
        }
    }
}

/// Connections the kernel completes and holds until the accept loop takes them
/// (capped by `net.core.somaxconn`). The common default of 128 overflows when a
/// few hundred shoppers arrive at once: the kernel drops the handshakes beyond
/// it, and each of those shoppers waits a second for their client to try again.
pub const LISTEN_BACKLOG: u32 = 4096;

/// A listening socket on `address` with a backlog of [`LISTEN_BACKLOG`].
pub fn listen(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `routes` until `shutdown` completes, then stops accepting, lets the
/// requests in flight finish for at most `shutdown_deadline`, and returns.
pub async fn serve(
    listener: TcpListener,
    routes: super::Routes,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .max_concurrent_streams(64);
    let draining = super::Draining::default();
    let per_address = AddressCounts::default();
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let capped = !options.uncapped_addresses.iter().any(|net| net.contains(&remote.ip()));
        let address_slot = if capped {
            match per_address.take(remote.ip(), options.max_connections_per_address) {
                Some(address_slot) => Some(address_slot),
                // Closed at once: this address already holds its share.
                None => continue,
            }
        } else {
            None
        };
        let _ = stream.set_nodelay(true);
        let routes = routes.clone();
        let draining = draining.clone();
        let started = Arc::new(AtomicBool::new(false));
        let request_started = started.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            request_started.store(true, Ordering::Relaxed);
            routes
                .answer(request, Some(remote), Some(&draining))
                .map(Ok::<_, std::convert::Infallible>)
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        let first_request_deadline = options.header_read_timeout;
        tokio::spawn(async move {
            tokio::pin!(connection);
            // hyper's header deadline starts only once it knows the protocol, which
            // takes bytes: a client that sends none (or half an HTTP/2 preface) is
            // closed here instead. Later requests are hyper's to time.
            let served_before_deadline = tokio::select! {
                _ = &mut connection => true,
                () = tokio::time::sleep(first_request_deadline) => false,
            };
            if !served_before_deadline && started.load(Ordering::Relaxed) {
                let _ = connection.await;
            }
            drop(address_slot);
            drop(slot);
        });
    }
    drop(listener);
    draining.begin();
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(options.shutdown_deadline) => {
            tracing::warn!(deadline = ?options.shutdown_deadline, "shutdown deadline reached; closing the connections left");
        }
    }
    Ok(())
}

/// Open connections per client address.
#[derive(Clone, Default)]
pub(super) struct AddressCounts(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One open connection from an address; gives its place back when dropped.
pub(super) struct AddressSlot {
    counts: AddressCounts,
    address: IpAddr,
}

impl AddressCounts {
    pub(super) fn take(&self, address: IpAddr, limit: usize) -> Option<AddressSlot> {
        let mut counts = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let open = counts.entry(address).or_default();
        if *open >= limit.max(1) {
            return None;
        }
        *open += 1;
        Some(AddressSlot {
            counts: self.clone(),
            address,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(open) = counts.get_mut(&self.address) {
            *open -= 1;
            if *open == 0 {
                counts.remove(&self.address);
            }
        }
    }
}
