//! A cluster: endpoints, a balancer, and how to send to them.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use http::{HeaderName, Request, Response};
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use yardmaster_config::{BalancingPolicy, ClusterConfig, HashOn, InitialHealth, Protocol};
use yardmaster_core::{Body, Fault};

use crate::balancer::Balancer;
use crate::circuit_breaker::CircuitBreaker;
use crate::endpoint_factory::{http1_client, EndpointFactory};
use crate::h2_pool::{millis_since, H2Settings, Lane};
use crate::metrics::ClusterLabels;
use crate::outlier::OutlierPolicy;
use crate::retry::RetryPolicy;
use crate::upstream_body::{CallGuard, UpstreamBody};
use crate::{hash_ring, health_check, maintenance, retry};
use crate::{ClusterError, ClusterMetrics, Endpoint, EndpointSet, EndpointStatus};

/// A named group of endpoints that requests are balanced over.
///
/// Owns its background tasks (health checks, ejection expiry, draining, idle connection
/// close); they stop when the cluster is dropped.
#[derive(Debug)]
pub struct Cluster {
    shared: Arc<ClusterShared>,
    tasks: Vec<JoinHandle<()>>,
}

/// What the cluster's tasks and the data path share.
#[derive(Debug)]
pub(crate) struct ClusterShared {
    pub(crate) name: Arc<str>,
    protocol: Protocol,
    policy: BalancingPolicy,
    hash_on: Option<HashKey>,
    panic_mode: bool,
    pub(crate) endpoints: ArcSwap<EndpointSet>,
    balancer: Balancer,
    retry: Option<RetryPolicy>,
    breaker: Arc<CircuitBreaker>,
    pub(crate) outlier: Option<OutlierPolicy>,
    attempt_timeout: Option<Duration>,
    stream_idle_timeout: Option<Duration>,
    pub(crate) idle_timeout: Duration,
    factory: EndpointFactory,
    /// Serialises changes of the endpoint set (never taken by a pick).
    pub(crate) membership: Mutex<()>,
    /// Counts replacements of `endpoints`, so fan-out calls can follow the set.
    pub(crate) generation: tokio::sync::watch::Sender<u64>,
    /// The origin of the cluster's millisecond clock (ejections, idle times).
    pub(crate) epoch: Instant,
}

#[derive(Debug)]
enum HashKey {
    Header(HeaderName),
    Authority,
    ClientAddress,
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
    /// Its endpoints, in balancing order.
    pub endpoints: Vec<EndpointStatus>,
}

impl Cluster {
    /// Builds a cluster from its validated configuration. Opens no connection: each
    /// endpoint connects on first use. Starts the cluster's background tasks when called
    /// inside a Tokio runtime.
    pub fn new(config: &ClusterConfig, metrics: &ClusterMetrics) -> Cluster {
        let shared = Arc::new(ClusterShared::new(config, metrics));
        let mut tasks = Vec::new();
        if tokio::runtime::Handle::try_current().is_ok() {
            tasks.push(tokio::spawn(maintenance::run(shared.clone())));
            if let Some(check) = config.health_check.clone() {
                tasks.push(tokio::spawn(health_check::run(shared.clone(), check)));
            }
        }
        Cluster { shared, tasks }
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
        let response = match &shared.retry {
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
            endpoints: set.endpoints().iter().map(|e| e.status(now)).collect(),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl ClusterShared {
    fn new(config: &ClusterConfig, metrics: &ClusterMetrics) -> ClusterShared {
        let name: Arc<str> = Arc::from(config.name.as_str());
        let labels = ClusterLabels {
            cluster: config.name.clone(),
        };
        let breaker = Arc::new(CircuitBreaker::new(
            config.circuit_breaker.as_ref(),
            metrics.overflows.get_or_create(&labels).clone(),
        ));
        let epoch = Instant::now();
        let connection = &config.connection;
        let factory = EndpointFactory {
            cluster: config.name.clone(),
            h2: Arc::new(H2Settings {
                connect_timeout: config.connect_timeout,
                max_streams: connection.max_streams_per_connection as usize,
                keepalive_interval: connection.keepalive_interval,
                keepalive_timeout: connection.keepalive_timeout,
                breaker: breaker.clone(),
                epoch,
                runtime: tokio::runtime::Handle::try_current().ok(),
            }),
            http1: (config.protocol == Protocol::Http1)
                .then(|| http1_client(config.connect_timeout, connection.idle_timeout)),
            metrics: metrics.clone(),
            initially_healthy: config
                .health_check
                .as_ref()
                .is_none_or(|c| c.initial_state == InitialHealth::Healthy),
        };
        let all = config
            .endpoints
            .iter()
            .map(|e| factory.build(config.protocol, e.address, e.weight))
            .collect();
        let balancing = &config.balancing;
        let hash_on = match balancing.hash_on {
            Some(HashOn::Header) => balancing
                .hash_header
                .as_deref()
                .and_then(|h| HeaderName::from_bytes(h.as_bytes()).ok())
                .map(HashKey::Header),
            Some(HashOn::Authority) => Some(HashKey::Authority),
            Some(HashOn::ClientAddress) => Some(HashKey::ClientAddress),
            None => None,
        };
        let retry = config
            .retry
            .as_ref()
            .map(|r| RetryPolicy::new(r, metrics, &labels));
        ClusterShared {
            name,
            protocol: config.protocol,
            policy: balancing.policy,
            hash_on,
            panic_mode: config.panic_mode,
            endpoints: ArcSwap::from_pointee(EndpointSet::new(
                all,
                balancing.policy,
                config.panic_mode,
                0,
            )),
            balancer: Balancer::new(balancing.policy),
            retry,
            breaker,
            outlier: config.outlier_detection.as_ref().map(OutlierPolicy::new),
            attempt_timeout: config.attempt_timeout,
            stream_idle_timeout: config.stream_idle_timeout,
            idle_timeout: connection.idle_timeout,
            factory,
            membership: Mutex::new(()),
            generation: tokio::sync::watch::Sender::new(0),
            epoch,
        }
    }

    /// Milliseconds since the cluster's epoch.
    pub(crate) fn now_ms(&self) -> u64 {
        millis_since(self.epoch)
    }

    pub(crate) fn build_endpoint(&self, address: SocketAddr, weight: u32) -> Arc<Endpoint> {
        self.factory.build(self.protocol, address, weight)
    }

    /// Replaces the endpoint set by one over `all`, re-deciding eligibility. Callers hold
    /// `membership`.
    pub(crate) fn publish(&self, all: Vec<Arc<Endpoint>>) {
        let was_panicking = self.endpoints.load().is_panicking();
        let set = EndpointSet::new(all, self.policy, self.panic_mode, self.now_ms());
        if set.is_panicking() && !was_panicking {
            tracing::warn!(cluster = %self.name, "no healthy endpoint: panic mode balances over all");
        }
        self.endpoints.store(Arc::new(set));
        self.generation.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Re-decides eligibility of the current endpoints.
    pub(crate) fn refresh(&self) {
        let _membership = self.membership.lock().unwrap_or_else(|e| e.into_inner());
        self.publish(self.endpoints.load().endpoints().to_vec());
    }

    fn hash_key<B>(&self, req: &Request<B>, client: IpAddr) -> Option<u64> {
        match self.hash_on.as_ref()? {
            HashKey::Header(name) => req.headers().get(name).map(|v| v.as_bytes()),
            HashKey::Authority => req
                .uri()
                .authority()
                .map(|a| a.host().as_bytes())
                .or_else(|| req.headers().get(http::header::HOST).map(|h| h.as_bytes())),
            HashKey::ClientAddress => {
                return Some(match client {
                    IpAddr::V4(ip) => hash_ring::hash(&ip.octets()),
                    IpAddr::V6(ip) => hash_ring::hash(&ip.octets()),
                })
            }
        }
        .map(hash_ring::hash)
    }

    /// One attempt: picks an endpoint (avoiding `avoid` if possible), sends, and records
    /// the outcome for outlier detection. Returns the endpoint tried, if any.
    pub(crate) async fn attempt(
        &self,
        req: Request<Body>,
        key: Option<u64>,
        avoid: &[SocketAddr],
        lane: Lane,
    ) -> (
        Option<SocketAddr>,
        Result<Response<UpstreamBody>, ClusterError>,
    ) {
        let endpoint = {
            let set = self.endpoints.load();
            self.balancer.pick(&set, key, avoid).cloned()
        };
        let Some(endpoint) = endpoint else {
            return (None, Err(self.no_endpoint()));
        };
        let address = endpoint.address();
        // The call's span (`yardmaster_proxy`'s edge, at DEBUG) names the endpoint. Below
        // DEBUG there is none, and the level check is cheaper than asking for the span.
        if tracing::level_filters::LevelFilter::current() >= tracing::Level::DEBUG {
            tracing::Span::current().record("endpoint", tracing::field::display(address));
        }
        (Some(address), self.send_to(endpoint, req, lane).await)
    }

    /// Sends to `endpoint`, bypassing the balancer, and records the outcome for outlier
    /// detection.
    pub(crate) async fn send_to(
        &self,
        endpoint: Arc<Endpoint>,
        req: Request<Body>,
        lane: Lane,
    ) -> Result<Response<UpstreamBody>, ClusterError> {
        let address = endpoint.address();
        endpoint.start_call();
        // The send is made in each arm, so the future holds one of it, not two.
        let result = match self.attempt_timeout {
            Some(after) => tokio::time::timeout(after, endpoint.send(&self.name, req, lane))
                .await
                .unwrap_or_else(|_| {
                    Err(ClusterError::Timeout {
                        cluster: self.name.clone(),
                        endpoint: address,
                        after,
                    })
                }),
            None => endpoint.send(&self.name, req, lane).await,
        };
        let failed = match &result {
            Ok((response, _)) => is_failure(response),
            Err(error) => error.fault() == Fault::Upstream,
        };
        self.record_outcome(&endpoint, failed);
        match result {
            Ok((response, stream)) => {
                let guard = CallGuard {
                    endpoint,
                    _stream: stream,
                    permit: None,
                };
                let idle = self.stream_idle_timeout;
                Ok(response.map(|body| UpstreamBody::new(body, guard, idle, &self.name)))
            }
            Err(error) => {
                endpoint.end_call();
                Err(error)
            }
        }
    }

    fn record_outcome(&self, endpoint: &Arc<Endpoint>, failed: bool) {
        let consecutive = &endpoint.outlier.consecutive_failures;
        if !failed {
            // Read first: a shared counter is written only when it changes.
            if consecutive.load(std::sync::atomic::Ordering::Relaxed) != 0 {
                consecutive.store(0, std::sync::atomic::Ordering::Relaxed);
            }
            return;
        }
        endpoint.counters.failures.inc();
        let Some(policy) = &self.outlier else {
            return;
        };
        let failures = consecutive.fetch_add(1, std::sync::atomic::Ordering::AcqRel) + 1;
        if failures >= policy.consecutive_failures {
            self.eject(endpoint, policy);
        }
    }

    fn no_endpoint(&self) -> ClusterError {
        let set = self.endpoints.load();
        let now = self.now_ms();
        let all = set.endpoints();
        let count = |f: &dyn Fn(&Endpoint) -> bool| all.iter().filter(|e| f(e)).count();
        let summary = format!(
            "{} endpoints: {} unhealthy, {} ejected, {} disabled or draining",
            all.len(),
            count(&|e| !e.is_healthy()),
            count(&|e| e.is_ejected(now)),
            count(&|e| e.state() != crate::EndpointState::Active),
        );
        ClusterError::NoEndpoint {
            cluster: self.name.clone(),
            summary,
        }
    }
}

/// Whether a response head shows the endpoint failing: a trailers-only gRPC UNAVAILABLE,
/// or an HTTP 5xx.
fn is_failure<B>(response: &Response<B>) -> bool {
    if response.status().is_server_error() {
        return true;
    }
    response
        .headers()
        .get("grpc-status")
        .is_some_and(|s| s.as_bytes() == b"14")
}
