//! The upstreams of one bridge: one task per endpoint keeps one bidirectional gRPC stream
//! (a [`Link`]) open, reopening it after a failure, and checks the endpoint's health; new
//! clients go to ready links.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};
use yardmaster_config::{BridgeBalance, BridgeProtocol};
use yardmaster_core::Backoff;

use crate::bridge::Shared;
use crate::error::BridgeError;
use crate::health::{self, Health};
use crate::link::{Event, Link};
use crate::registry::{Client, Refused};
use crate::{compat, native};

/// Pauses between attempts to reach a failed upstream: 100 ms, doubling up to 5 s.
const BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(100),
    max: Duration::from_secs(5),
};
/// A stream that lived this long resets the backoff.
const HEALTHY_AFTER: Duration = Duration::from_secs(10);
/// When an endpoint is removed or the bridge stops, the gateway half-closes the stream
/// and gives the upstream this long to handle what it was sent and end its side.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(2);

/// One endpoint: its connection task and its current stream.
#[derive(Debug)]
pub(crate) struct Upstream {
    address: SocketAddr,
    draining: AtomicBool,
    stop: watch::Sender<bool>,
    current: ArcSwapOption<Link>,
    failures: AtomicU64,
    health: Health,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Upstream {
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    pub(crate) fn health(&self) -> &Health {
        &self.health
    }
}

/// What the admin API shows of an upstream endpoint.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct UpstreamStatus {
    /// `ip:port`.
    pub address: SocketAddr,
    /// Whether a stream is open and the upstream signalled ready.
    pub ready: bool,
    /// The gRPC health check's verdict (always true without a check).
    pub healthy: bool,
    /// Draining upstreams keep their clients but get no new ones.
    pub draining: bool,
    /// Clients assigned to the current stream.
    pub clients: usize,
    /// Streams that failed since the endpoint was added.
    pub failures: u64,
}

/// The upstream endpoints of one bridge.
#[derive(Debug)]
pub(crate) struct UpstreamSet {
    list: RwLock<Vec<Arc<Upstream>>>,
    changed: watch::Sender<u64>,
    next: AtomicUsize,
    balance: BridgeBalance,
}

impl UpstreamSet {
    pub(crate) fn new(balance: BridgeBalance) -> UpstreamSet {
        UpstreamSet {
            list: RwLock::new(Vec::new()),
            changed: watch::channel(0).0,
            next: AtomicUsize::new(0),
            balance,
        }
    }

    fn list(&self) -> Vec<Arc<Upstream>> {
        self.list
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Tells waiting clients that an upstream became ready (or went away).
    pub(crate) fn notify(&self) {
        self.changed
            .send_modify(|version| *version = version.wrapping_add(1));
    }

    /// A receiver that sees every [`UpstreamSet::notify`] after this call.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// A ready stream of an endpoint that is not draining, by the bridge's balance policy.
    pub(crate) fn pick(&self) -> Option<Arc<Link>> {
        let links: Vec<Arc<Link>> = self
            .list()
            .iter()
            .filter(|u| !u.draining.load(Ordering::Acquire) && u.health.is_healthy())
            .filter_map(|u| u.current.load_full())
            .filter(|l| l.is_usable())
            .collect();
        match self.balance {
            BridgeBalance::RoundRobin => {
                let turn = self.next.fetch_add(1, Ordering::Relaxed);
                links.get(turn.checked_rem(links.len())?).cloned()
            }
            BridgeBalance::LeastClients => links.into_iter().min_by_key(|l| l.clients()),
        }
    }

    /// Adds an endpoint and starts connecting to it.
    pub(crate) fn add(&self, shared: &Arc<Shared>, address: SocketAddr) -> Result<(), BridgeError> {
        let mut list = self.list.write().unwrap_or_else(PoisonError::into_inner);
        if list.iter().any(|u| u.address == address) {
            return Err(BridgeError::UpstreamExists(address));
        }
        let upstream = Arc::new(Upstream {
            address,
            draining: AtomicBool::new(false),
            stop: watch::channel(false).0,
            current: ArcSwapOption::empty(),
            failures: AtomicU64::new(0),
            health: Health::new(shared.health_check.as_ref()),
            task: Mutex::new(None),
        });
        let task = tokio::spawn(run(shared.clone(), upstream.clone()));
        *upstream.task.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
        list.push(upstream);
        Ok(())
    }

    /// Removes an endpoint: its stream is closed and its clients move to other upstreams.
    /// Returns without waiting for the endpoint's task, which ends by itself.
    pub(crate) fn remove(&self, address: SocketAddr) -> Result<(), BridgeError> {
        let mut list = self.list.write().unwrap_or_else(PoisonError::into_inner);
        let index = list
            .iter()
            .position(|u| u.address == address)
            .ok_or(BridgeError::UnknownUpstream(address))?;
        let upstream = list.remove(index);
        drop(list);
        upstream.stop.send_replace(true);
        self.notify();
        Ok(())
    }

    /// Stops giving new clients to an endpoint; its clients stay.
    pub(crate) fn drain(&self, address: SocketAddr) -> Result<(), BridgeError> {
        let list = self.list();
        let upstream = list
            .iter()
            .find(|u| u.address == address)
            .ok_or(BridgeError::UnknownUpstream(address))?;
        upstream.draining.store(true, Ordering::Release);
        Ok(())
    }

    pub(crate) fn statuses(&self) -> Vec<UpstreamStatus> {
        self.list()
            .iter()
            .map(|u| {
                let link = u.current.load();
                UpstreamStatus {
                    address: u.address,
                    ready: link.as_ref().is_some_and(|l| l.is_usable()),
                    healthy: u.health.is_healthy(),
                    draining: u.draining.load(Ordering::Acquire),
                    clients: link.as_ref().map_or(0, |l| l.clients()),
                    failures: u.failures.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// Stops every endpoint task and waits for them to end.
    pub(crate) async fn stop_all(&self) {
        let list = std::mem::take(&mut *self.list.write().unwrap_or_else(PoisonError::into_inner));
        for upstream in &list {
            upstream.stop.send_replace(true);
        }
        for upstream in list {
            let task = upstream
                .task
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(task) = task {
                let _ = task.await;
            }
        }
    }
}

/// The current stream of an endpoint while it is open. Dropping it ends the stream for
/// the clients: it is no longer picked, and every session waiting on [`Link::ended`]
/// moves its client elsewhere. It is dropped only after the stream's last command was
/// handled, which is what makes replaying unacknowledged frames safe.
pub(crate) struct LinkGuard<'a> {
    shared: &'a Shared,
    upstream: &'a Upstream,
    link: Arc<Link>,
}

impl LinkGuard<'_> {
    pub(crate) fn link(&self) -> &Arc<Link> {
        &self.link
    }
}

impl Drop for LinkGuard<'_> {
    fn drop(&mut self) {
        self.upstream
            .current
            .compare_and_swap(&Some(self.link.clone()), None);
        self.link.end();
        self.shared.upstreams.notify();
    }
}

/// Makes a new stream the endpoint's current one (not ready until the upstream says so).
pub(crate) fn open_link<'a>(
    shared: &'a Shared,
    upstream: &'a Upstream,
) -> (LinkGuard<'a>, mpsc::Receiver<Event>) {
    let (link, rx) = Link::new(upstream.address);
    upstream.current.store(Some(link.clone()));
    (
        LinkGuard {
            shared,
            upstream,
            link,
        },
        rx,
    )
}

/// Opens an HTTP/2 connection to an endpoint, with PINGs every `keepalive_interval`.
pub(crate) async fn connect(shared: &Shared, address: SocketAddr) -> Result<Channel, String> {
    let interval = shared.config.keepalive_interval;
    Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(shared.connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(interval)
        .keep_alive_timeout(interval)
        .keep_alive_while_idle(true)
        .connect()
        .await
        .map_err(|e| format!("connecting: {}", with_sources(&e)))
}

/// Connects to `upstream`, giving up with "stopped" as soon as `stop` is set; the error is
/// the reason the stream to it ends.
pub(crate) async fn connect_unless_stopped(
    shared: &Shared,
    upstream: &Upstream,
    stop: &watch::Receiver<bool>,
) -> Result<Channel, String> {
    tokio::select! {
        channel = connect(shared, upstream.address()) => channel,
        () = crate::link::stopped(stop) => Err("stopped".to_owned()),
    }
}

/// An error and its sources, `outer: inner: innermost` (tonic's transport error alone
/// only says "transport error").
fn with_sources(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Queues a frame from an upstream for a client, counting what was refused.
pub(crate) fn deliver(shared: &Shared, client: &Client, payload: Bytes) {
    match client.enqueue(payload) {
        Ok(()) => {}
        Err(Refused::QueueFull) => tracing::debug!(
            bridge = %shared.name,
            client = %client.id_text,
            "send queue full; closing the client"
        ),
        Err(Refused::Closing) => {}
    }
}

/// Keeps one endpoint's stream open, and checks its health, until the endpoint is removed
/// or the bridge stops.
async fn run(shared: Arc<Shared>, upstream: Arc<Upstream>) {
    tokio::select! {
        () = keep_open(&shared, &upstream) => {}
        () = health::watch(&shared, &upstream) => {}
    }
}

async fn keep_open(shared: &Shared, upstream: &Upstream) {
    let mut stop = upstream.stop.subscribe();
    let mut failed_in_a_row = 0_u32;
    let address = upstream.address;
    loop {
        if *stop.borrow() {
            return;
        }
        let started = Instant::now();
        let outcome = match shared.config.upstream_protocol {
            BridgeProtocol::Yardmaster => native::run(shared, upstream, &stop).await,
            BridgeProtocol::UpstreamPeer => compat::run(shared, upstream, &stop).await,
        };
        if *stop.borrow() {
            return;
        }
        upstream.failures.fetch_add(1, Ordering::Relaxed);
        shared.metrics.upstream_failures.inc();
        if started.elapsed() >= HEALTHY_AFTER {
            failed_in_a_row = 0;
        }
        failed_in_a_row = failed_in_a_row.saturating_add(1);
        // Say it once per outage; the retries of an upstream that stays down are debug.
        if failed_in_a_row == 1 {
            tracing::warn!(bridge = %shared.name, upstream = %address, error = %outcome, "bridge upstream failed; retrying");
        } else {
            tracing::debug!(bridge = %shared.name, upstream = %address, error = %outcome, attempt = failed_in_a_row, "bridge upstream still failing");
        }
        tokio::select! {
            () = tokio::time::sleep(BACKOFF.ceiling(failed_in_a_row.saturating_sub(1))) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
