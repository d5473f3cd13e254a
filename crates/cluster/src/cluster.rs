//! A cluster: endpoints, a balancer, and how to send to them.

use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, Weak};

use http::{Request, Response};
use serde::Serialize;
use tokio::task::JoinHandle;
use yardmaster_config::{BalancingPolicy, ClusterConfig, Protocol};
use yardmaster_core::{Body, EndpointChange};

use crate::h2_pool::Lane;
use crate::membership::DiscoveryStatus;
use crate::metrics::ClusterLabels;
use crate::retry::RetryPolicy;
use crate::shared::ClusterShared;
use crate::upstream_body::UpstreamBody;
use crate::{health_check, maintenance, retry};
use crate::{ClusterError, ClusterMetrics, EndpointStatus};

/// A named group of endpoints that requests are balanced over: the one owner of its
/// endpoint set, which its discovery source, operators, health checks and outlier
/// detection change.
///
/// Owns its background tasks (discovery, health checks, ejection expiry, draining, idle
/// connection close), started by [`Cluster::start`] and [`Cluster::follow`]; they stop
/// when the cluster is dropped.
#[derive(Debug)]
pub struct Cluster {
    shared: Arc<ClusterShared>,
    retry: Option<RetryPolicy>,
    config: ClusterConfig,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// Hands a discovery source's changes to a cluster; what [`Cluster::follow`] gives the
/// source's task. Holds no strong reference, so the task cannot keep a dropped cluster
/// alive.
#[derive(Clone, Debug)]
pub struct DiscoveryFeed {
    cluster: Weak<ClusterShared>,
}

impl DiscoveryFeed {
    /// Applies a discovery change to the cluster; false once the cluster is gone (the
    /// source should stop).
    pub fn send(&self, change: EndpointChange) -> bool {
        let Some(shared) = self.cluster.upgrade() else {
            return false;
        };
        // Discovery changes always apply.
        let _ = shared.apply(change);
        true
    }
}

/// What the admin API shows of a cluster.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterStatus {
    /// The cluster's name.
    pub name: String,
    /// The protocol spoken to its endpoints.
    pub protocol: Protocol,
    /// The balancing policy.
    pub balancing: BalancingPolicy,
    /// Whether panic mode is balancing over endpoints that are not healthy right now.
    pub panicking: bool,
    /// Where its endpoints come from, and how that has gone.
    pub discovery: DiscoveryStatus,
    /// Its endpoints, in balancing order.
    pub endpoints: Vec<EndpointStatus>,
}

impl Cluster {
    /// Builds a cluster from its validated configuration, with the endpoints its file
    /// lists by address. Cheap: opens no connection (each endpoint connects on first use)
    /// and spawns nothing.
    pub fn new(config: &ClusterConfig, metrics: &ClusterMetrics) -> Cluster {
        let labels = ClusterLabels {
            cluster: config.name.clone(),
        };
        Cluster {
            shared: Arc::new(ClusterShared::new(config, metrics)),
            retry: config
                .retry
                .as_ref()
                .map(|r| RetryPolicy::new(r, metrics, &labels)),
            config: config.clone(),
            tasks: Mutex::new(Vec::new()),
        }
    }

    /// Starts the cluster's housekeeping and, when configured, its health checks. Must be
    /// called inside a Tokio runtime; the tasks stop when the cluster is dropped.
    pub fn start(&self) {
        self.own(tokio::spawn(maintenance::run(self.shared.clone())));
        if let Some(check) = self.config.health_check.clone() {
            self.own(tokio::spawn(health_check::run(self.shared.clone(), check)));
        }
    }

    /// Runs a discovery source as one of the cluster's tasks: `run` gets a feed for the
    /// source's changes. `source` describes it for the admin API (`dns
    /// users.internal:50051`). Must be called inside a Tokio runtime.
    pub fn follow<F>(&self, source: String, run: impl FnOnce(DiscoveryFeed) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.shared
            .membership
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .set_source(source);
        let feed = DiscoveryFeed {
            cluster: Arc::downgrade(&self.shared),
        };
        self.own(tokio::spawn(run(feed)));
    }

    fn own(&self, task: JoinHandle<()>) {
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(task);
    }

    /// The cluster's configuration.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// The cluster's name.
    pub fn name(&self) -> &Arc<str> {
        &self.shared.name
    }

    /// The protocol spoken to the endpoints.
    pub fn protocol(&self) -> Protocol {
        self.shared.protocol
    }

    pub(crate) fn shared(&self) -> &Arc<ClusterShared> {
        &self.shared
    }

    /// Sends the request to an endpoint chosen by the balancing policy and resolves with
    /// the response head; the body streams afterwards. `client` is the downstream's
    /// address, for `hash_on: client_address`. With a retry policy, a failed attempt is
    /// sent again (to another endpoint) while that is safe and the budget allows.
    ///
    /// Dropping the future (or the response body) resets the upstream stream, which is
    /// how a downstream cancel reaches the upstream.
    pub async fn call(
        &self,
        req: Request<Body>,
        client: IpAddr,
    ) -> Result<Response<UpstreamBody>, ClusterError> {
        self.call_in(Lane::Live, req, client).await
    }

    /// As [`Cluster::call`], for a call nobody waits for (a mirror copy): it goes over
    /// connections of its own, driven by the runtime it runs on, never sharing a connection
    /// with live calls.
    pub async fn call_in_background(
        &self,
        req: Request<Body>,
        client: IpAddr,
    ) -> Result<Response<UpstreamBody>, ClusterError> {
        self.call_in(Lane::Background, req, client).await
    }

    async fn call_in(
        &self,
        lane: Lane,
        req: Request<Body>,
        client: IpAddr,
    ) -> Result<Response<UpstreamBody>, ClusterError> {
        let shared = &self.shared;
        let permit = shared
            .breaker
            .request()
            .map_err(|o| ClusterError::overloaded(&shared.name, o))?;
        let key = shared.hash_key(&req, client);
        let response = match &self.retry {
            // Boxed: retries keep more state per call than a single attempt, and only
            // clusters with a retry policy should carry it.
            Some(policy) => Box::pin(retry::call(shared, policy, req, key, lane)).await?,
            None => shared.attempt(req, key, &[], lane).await.1?,
        };
        Ok(response.map(|body| body.with_permit(permit)))
    }

    /// A point-in-time view for the admin API.
    pub fn status(&self) -> ClusterStatus {
        let shared = &self.shared;
        let set = shared.endpoints.load();
        let now = shared.now_ms();
        ClusterStatus {
            name: shared.name.to_string(),
            protocol: shared.protocol,
            balancing: shared.policy,
            panicking: set.is_panicking(),
            discovery: self.discovery_status(),
            endpoints: set.endpoints().iter().map(|e| e.status(now)).collect(),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let tasks = self.tasks.get_mut().unwrap_or_else(|e| e.into_inner());
        for task in tasks.iter() {
            task.abort();
        }
    }
}
