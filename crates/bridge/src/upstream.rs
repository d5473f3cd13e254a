//! The upstreams of one bridge: the endpoints of its cluster. The bridge follows the
//! cluster's endpoint set: one task per endpoint keeps one bidirectional gRPC stream (a
//! [`Link`]) open, reopening it after a failure, and an endpoint that leaves the set has its
//! stream closed. New clients go to ready links of endpoints the cluster finds eligible.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use bytes::Bytes;
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tonic::transport::Channel;
use yardmaster_cluster::{Cluster, Endpoint, EndpointState};
use yardmaster_config::{BridgeBalance, BridgeProtocol};
use yardmaster_core::Backoff;

use crate::bridge::Shared;
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

/// One endpoint of the cluster: its current stream and the task that keeps it open.
#[derive(Debug)]
pub(crate) struct Upstream {
    endpoint: Arc<Endpoint>,
    stop: watch::Sender<bool>,
    current: ArcSwapOption<Link>,
    failures: AtomicU64,
}

impl Upstream {
    pub(crate) fn address(&self) -> SocketAddr {
        self.endpoint.address()
    }
}

/// What the admin API shows of an upstream endpoint.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct UpstreamStatus {
    /// `ip:port`.
    pub address: SocketAddr,
    /// Whether a stream is open and the upstream signalled ready.
    pub ready: bool,
    /// The cluster's health checks' verdict (always true without checks).
    pub healthy: bool,
    /// Draining upstreams keep their clients but get no new ones; the cluster removes the
    /// endpoint once its last client has gone.
    pub draining: bool,
    /// Clients assigned to the current stream.
    pub clients: usize,
    /// Streams that failed since the bridge began following the endpoint.
    pub failures: u64,
}

/// The upstreams of one bridge: a view of its cluster's endpoints with a stream each.
#[derive(Debug)]
pub(crate) struct UpstreamSet {
    cluster: Arc<Cluster>,
    /// The endpoints followed, in the cluster's order; replaced whole by
    /// [`UpstreamSet::follow`], so a pick reads it without a lock.
    list: ArcSwap<Vec<Arc<Upstream>>>,
    /// The endpoints' tasks, `None` once stopped; its lock serialises following.
    tasks: Mutex<Option<JoinSet<()>>>,
    changed: watch::Sender<u64>,
    next: AtomicUsize,
    balance: BridgeBalance,
}

impl UpstreamSet {
    pub(crate) fn new(cluster: Arc<Cluster>, balance: BridgeBalance) -> UpstreamSet {
        UpstreamSet {
            cluster,
            list: ArcSwap::from_pointee(Vec::new()),
            tasks: Mutex::new(Some(JoinSet::new())),
            changed: watch::channel(0).0,
            next: AtomicUsize::new(0),
            balance,
        }
    }

    /// The cluster whose endpoints these are.
    pub(crate) fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
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

    /// A ready stream of an endpoint the cluster finds eligible (healthy, not ejected,
    /// active, not leaving), by the bridge's balance policy.
    pub(crate) fn pick(&self) -> Option<Arc<Link>> {
        let set = self.cluster.endpoints();
        let eligible = set.eligible();
        let links: Vec<Arc<Link>> = self
            .list
            .load()
            .iter()
            .filter(|u| !u.endpoint.is_leaving())
            .filter(|u| eligible.iter().any(|e| Arc::ptr_eq(e, &u.endpoint)))
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

    /// Follows the cluster's current endpoint set: starts a task for each endpoint that
    /// is new and not leaving, and stops the stream of each endpoint that left the set or
    /// is leaving, whose clients then move to other upstreams. Wakes waiting clients,
    /// since eligibility may have changed. Must be called within the Tokio runtime; does
    /// nothing once the bridge has stopped.
    pub(crate) fn follow(&self, shared: &Arc<Shared>) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(tasks) = tasks.as_mut() else {
            return;
        };
        // Streams of endpoints that left end by themselves; collect their tasks.
        while tasks.try_join_next().is_some() {}
        let set = self.cluster.endpoints();
        let old = self.list.load_full();
        let mut list = Vec::with_capacity(set.endpoints().len());
        for endpoint in set.endpoints().iter().filter(|e| !e.is_leaving()) {
            // By identity: an address removed and added again is a new endpoint.
            let upstream = match old.iter().find(|u| Arc::ptr_eq(&u.endpoint, endpoint)) {
                Some(followed) => followed.clone(),
                None => {
                    let upstream = Arc::new(Upstream {
                        endpoint: endpoint.clone(),
                        stop: watch::channel(false).0,
                        current: ArcSwapOption::empty(),
                        failures: AtomicU64::new(0),
                    });
                    tasks.spawn(run(shared.clone(), upstream.clone()));
                    upstream
                }
            };
            list.push(upstream);
        }
        for gone in old
            .iter()
            .filter(|u| !list.iter().any(|l| Arc::ptr_eq(l, u)))
        {
            gone.stop.send_replace(true);
        }
        self.list.store(Arc::new(list));
        self.notify();
    }

    pub(crate) fn statuses(&self) -> Vec<UpstreamStatus> {
        self.list
            .load()
            .iter()
            .map(|u| {
                let link = u.current.load();
                UpstreamStatus {
                    address: u.address(),
                    ready: link.as_ref().is_some_and(|l| l.is_usable()),
                    healthy: u.endpoint.is_healthy(),
                    draining: u.endpoint.state() == EndpointState::Draining,
                    clients: link.as_ref().map_or(0, |l| l.clients()),
                    failures: u.failures.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// Stops following the cluster, stops every endpoint's stream and waits for their
    /// tasks to end.
    pub(crate) async fn stop_all(&self) {
        let tasks = self
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        for upstream in self.list.swap(Arc::new(Vec::new())).iter() {
            upstream.stop.send_replace(true);
        }
        if let Some(mut tasks) = tasks {
            while tasks.join_next().await.is_some() {}
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
    let (link, rx) = Link::new(upstream.endpoint.clone());
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
    tonic::transport::Endpoint::from_shared(format!("http://{address}"))
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

/// Keeps one endpoint's stream open until the endpoint leaves the set or the bridge stops.
async fn run(shared: Arc<Shared>, upstream: Arc<Upstream>) {
    keep_open(&shared, &upstream).await;
}

async fn keep_open(shared: &Shared, upstream: &Upstream) {
    let mut stop = upstream.stop.subscribe();
    let mut failed_in_a_row = 0_u32;
    let address = upstream.address();
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
