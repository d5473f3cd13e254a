//! The upstreams of one bridge: the endpoints of its cluster. The bridge follows the
//! cluster's endpoint set: one task per endpoint keeps one bidirectional gRPC stream (a
//! [`Link`]) open, reopening it after a failure, and an endpoint that leaves the set has its
//! stream closed. New clients go to ready links of endpoints the cluster finds eligible.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use yardmaster_cluster::{Cluster, Endpoint, EndpointState};
use yardmaster_config::BridgeBalance;

use crate::link::{Event, Link};
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

    /// Set once the endpoint has left the set or the bridge stops.
    pub(crate) fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Counts a stream to this endpoint that failed.
    pub(crate) fn count_failure(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
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

    /// Follows the cluster's current endpoint set: starts `keep_open` for each endpoint
    /// that is new and not leaving, and stops the stream of each endpoint that left the
    /// set or is leaving, whose clients then move to other upstreams. Wakes waiting
    /// clients, since eligibility may have changed. Must be called within the Tokio
    /// runtime; does nothing once the bridge has stopped.
    pub(crate) fn follow<F>(&self, keep_open: impl Fn(Arc<Upstream>) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
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
                    tasks.spawn(keep_open(upstream.clone()));
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

    /// Makes a new stream the endpoint's current one (not ready until the upstream says
    /// so).
    pub(crate) fn open_link<'a>(
        &'a self,
        upstream: &'a Upstream,
    ) -> (LinkGuard<'a>, mpsc::Receiver<Event>) {
        let (link, rx) = Link::new(upstream.endpoint.clone());
        upstream.current.store(Some(link.clone()));
        let guard = LinkGuard {
            set: self,
            upstream,
            link,
        };
        (guard, rx)
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
    set: &'a UpstreamSet,
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
        self.set.notify();
    }
}
