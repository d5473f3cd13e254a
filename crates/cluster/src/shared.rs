//! What a cluster's data path and its background tasks share: the endpoint set and how
//! to pick from it, the balancer, the circuit breaker, and sending one attempt.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use http::{HeaderName, Request, Response};
use prometheus_client::metrics::counter::Counter;
use tokio::time::Instant;
use yardmaster_config::EndpointAddress;
use yardmaster_config::{BalancingPolicy, ClusterConfig, HashOn, InitialHealth, Protocol};
use yardmaster_core::{Body, DiscoveredEndpoint, Fault, GrpcCode};

use crate::balancer::Balancer;
use crate::circuit_breaker::CircuitBreaker;
use crate::endpoint_factory::{http1_client, EndpointFactory};
use crate::h2_pool::{millis_since, H2Settings, Lane};
use crate::hash_ring;
use crate::membership::Membership;
use crate::metrics::ClusterLabels;
use crate::outlier::OutlierPolicy;
use crate::upstream_body::{CallGuard, UpstreamBody};
use crate::{ClusterError, ClusterMetrics, Endpoint, EndpointSet};

/// What the cluster's tasks and the data path share.
#[derive(Debug)]
pub(crate) struct ClusterShared {
    pub(crate) name: Arc<str>,
    pub(crate) protocol: Protocol,
    pub(crate) policy: BalancingPolicy,
    hash_on: Option<HashKey>,
    panic_mode: bool,
    pub(crate) endpoints: ArcSwap<EndpointSet>,
    balancer: Balancer,
    pub(crate) discovery_updates: Counter,
    pub(crate) discovery_errors: Counter,
    pub(crate) breaker: Arc<CircuitBreaker>,
    pub(crate) outlier: Option<OutlierPolicy>,
    attempt_timeout: Option<Duration>,
    stream_idle_timeout: Option<Duration>,
    pub(crate) idle_timeout: Duration,
    factory: EndpointFactory,
    /// What the endpoint set is derived from; its lock serialises changes of the set
    /// (never taken by a pick).
    pub(crate) membership: Mutex<Membership>,
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

impl ClusterShared {
    pub(crate) fn new(config: &ClusterConfig, metrics: &ClusterMetrics) -> ClusterShared {
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
        let kind = config.discovery.as_ref().map_or("static", |d| d.kind());
        let listed: Vec<DiscoveredEndpoint> = config
            .endpoints
            .iter()
            .filter_map(|e| match e.address {
                EndpointAddress::Socket(address) => Some(DiscoveredEndpoint {
                    address,
                    weight: e.weight,
                }),
                EndpointAddress::Name { .. } => None,
            })
            .collect();
        let all = listed
            .iter()
            .map(|e| factory.build(config.protocol, e.address, e.weight, kind))
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
            discovery_updates: metrics.discovery_updates.get_or_create(&labels).clone(),
            discovery_errors: metrics.discovery_errors.get_or_create(&labels).clone(),
            breaker,
            outlier: config.outlier_detection.as_ref().map(OutlierPolicy::new),
            attempt_timeout: config.attempt_timeout,
            stream_idle_timeout: config.stream_idle_timeout,
            idle_timeout: connection.idle_timeout,
            factory,
            membership: Mutex::new(Membership::new(kind, listed)),
            generation: tokio::sync::watch::Sender::new(0),
            epoch,
        }
    }

    /// Milliseconds since the cluster's epoch.
    pub(crate) fn now_ms(&self) -> u64 {
        millis_since(self.epoch)
    }

    pub(crate) fn build_endpoint(
        &self,
        address: SocketAddr,
        weight: u32,
        source: &'static str,
    ) -> Arc<Endpoint> {
        self.factory.build(self.protocol, address, weight, source)
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

    pub(crate) fn hash_key<B>(&self, req: &Request<B>, client: IpAddr) -> Option<u64> {
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
            Err(error) => error.cause().status().fault == Fault::Upstream,
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
    GrpcCode::from_headers(response.headers()) == Some(GrpcCode::Unavailable)
}
