//! One upstream endpoint: its address, weight, connections, state and counters.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{header, HeaderValue, Request, Response, Uri};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use serde::Serialize;
use yardmaster_core::{Body, EndpointState};

use crate::h2_pool::{H2Pool, Lane, StreamGuard};
use crate::health_state::HealthCounter;
use crate::response_stream::ResponseStream;
use crate::ClusterError;

/// An upstream address with its connection(s), state and counters. Everything the data
/// path touches is an atomic.
#[derive(Debug)]
pub struct Endpoint {
    address: SocketAddr,
    weight: AtomicU32,
    /// Where it came from: the cluster's discovery source kind, or `admin`.
    source: &'static str,
    transport: Transport,
    state: AtomicU8,
    /// Its source no longer lists it: no new calls, removed once its calls have ended.
    leaving: AtomicBool,
    healthy: AtomicBool,
    pub(crate) health: Mutex<HealthCounter>,
    pub(crate) outlier: OutlierState,
    pub(crate) counters: EndpointCounters,
}

/// Per-endpoint metric handles, resolved once when the endpoint is built.
#[derive(Debug)]
pub(crate) struct EndpointCounters {
    pub(crate) requests: Counter,
    pub(crate) connect_errors: Counter,
    pub(crate) in_flight: Gauge<i64, AtomicI64>,
    pub(crate) failures: Counter,
    pub(crate) ejections: Counter,
    pub(crate) healthy: Gauge<i64, AtomicI64>,
    pub(crate) health_checks_failed: Counter,
}

/// Passive outlier detection state.
#[derive(Debug, Default)]
pub(crate) struct OutlierState {
    pub(crate) consecutive_failures: AtomicU32,
    /// Ejected until this many milliseconds after the cluster's epoch; 0 when not ejected.
    pub(crate) ejected_until_ms: AtomicU64,
    pub(crate) ejections: AtomicU32,
}

#[derive(Debug)]
pub(crate) enum Transport {
    /// Multiplexed connections, for `grpc` and `http2` clusters.
    Http2(H2Pool),
    /// A keep-alive pool shared by the cluster, for `http1` clusters.
    Http1(Client<HttpConnector, Body>),
}

fn state_from_u8(value: u8) -> EndpointState {
    match value {
        1 => EndpointState::Disabled,
        2 => EndpointState::Draining,
        _ => EndpointState::Active,
    }
}

fn state_as_u8(state: EndpointState) -> u8 {
    match state {
        EndpointState::Active => 0,
        EndpointState::Disabled => 1,
        EndpointState::Draining => 2,
    }
}

/// One use of an endpoint counted as a call in flight, from [`Endpoint::hold`] until it
/// is dropped.
#[derive(Debug)]
pub struct InFlight {
    endpoint: Arc<Endpoint>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.endpoint.end_call();
    }
}

/// What the admin API shows of an endpoint.
#[derive(Clone, Debug, Serialize)]
pub struct EndpointStatus {
    /// `ip:port`.
    pub address: SocketAddr,
    /// Share of traffic under the `weighted` policy.
    pub weight: u32,
    /// Where it came from: `static`, `dns`, `kubernetes`, `file`, or `admin`.
    pub source: &'static str,
    /// What the operator allows.
    pub state: EndpointState,
    /// Whether its source stopped listing it: it takes no new calls and is removed once
    /// its calls in flight have ended.
    pub leaving: bool,
    /// Whether its health checks pass (always true without health checks).
    pub healthy: bool,
    /// Whether outlier detection has it ejected now.
    pub ejected: bool,
    /// Times outlier detection ejected it.
    pub ejections_total: u32,
    /// Whether new calls may go to it now.
    pub eligible: bool,
    /// Calls in flight to it.
    pub in_flight: i64,
    /// Open HTTP/2 connections (`http1` clusters report 0: the pool is shared).
    pub connections: usize,
    /// Attempts sent since start.
    pub requests_total: u64,
    /// Failed connection attempts since start.
    pub connect_errors_total: u64,
    /// Attempts that failed as outlier detection counts them.
    pub failures_total: u64,
    /// Failed health checks since start.
    pub health_checks_failed_total: u64,
}

impl Endpoint {
    pub(crate) fn new(
        address: SocketAddr,
        weight: u32,
        source: &'static str,
        transport: Transport,
        healthy: bool,
        counters: EndpointCounters,
    ) -> Endpoint {
        counters.healthy.set(i64::from(healthy));
        Endpoint {
            address,
            weight: AtomicU32::new(weight),
            source,
            transport,
            state: AtomicU8::new(state_as_u8(EndpointState::Active)),
            leaving: AtomicBool::new(false),
            healthy: AtomicBool::new(healthy),
            health: Mutex::new(HealthCounter::new(healthy)),
            outlier: OutlierState::default(),
            counters,
        }
    }

    /// The endpoint's address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Its weight under the `weighted` policy.
    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }

    /// Changes its weight; takes effect with the next published endpoint set.
    pub(crate) fn set_weight(&self, weight: u32) {
        self.weight.store(weight, Ordering::Relaxed);
    }

    /// What the operator allows.
    pub fn state(&self) -> EndpointState {
        state_from_u8(self.state.load(Ordering::Acquire))
    }

    pub(crate) fn set_state(&self, state: EndpointState) {
        self.state.store(state_as_u8(state), Ordering::Release);
    }

    /// Whether its source stopped listing it.
    pub fn is_leaving(&self) -> bool {
        self.leaving.load(Ordering::Acquire)
    }

    pub(crate) fn set_leaving(&self, leaving: bool) {
        self.leaving.store(leaving, Ordering::Release);
    }

    /// Whether it is on its way out (drained or no longer listed) and has no call left:
    /// housekeeping removes it.
    pub(crate) fn is_done(&self) -> bool {
        (self.is_leaving() || self.state() == EndpointState::Draining) && self.in_flight() == 0
    }

    /// Whether its health checks pass.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    pub(crate) fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Release);
        self.counters.healthy.set(i64::from(healthy));
    }

    /// Whether a health check has run on it yet.
    pub(crate) fn health_is_known(&self) -> bool {
        self.health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_checked()
    }

    /// Whether outlier detection has it ejected at `now_ms` (cluster clock).
    pub(crate) fn is_ejected(&self, now_ms: u64) -> bool {
        let until = self.outlier.ejected_until_ms.load(Ordering::Acquire);
        until != 0 && until > now_ms
    }

    /// Whether new calls may go to it at `now_ms`.
    pub(crate) fn is_eligible(&self, now_ms: u64) -> bool {
        self.state() == EndpointState::Active
            && !self.is_leaving()
            && self.is_healthy()
            && !self.is_ejected(now_ms)
    }

    /// Calls in flight to it.
    pub fn in_flight(&self) -> i64 {
        self.counters.in_flight.get()
    }

    pub(crate) fn start_call(&self) {
        self.counters.requests.inc();
        self.counters.in_flight.inc();
    }

    pub(crate) fn end_call(&self) {
        self.counters.in_flight.dec();
    }

    /// Counts a long-lived use of the endpoint made outside [`Cluster::call`] (a TCP
    /// bridge client on the endpoint's stream) as one call in flight until the returned
    /// guard is dropped. Draining, or a source that stops listing the endpoint, then waits
    /// for it as for a call: the endpoint is removed only once nothing holds it. Shown as
    /// `in_flight` on the admin API and in `yardmaster_upstream_in_flight`; never blocks.
    ///
    /// [`Cluster::call`]: crate::Cluster::call
    pub fn hold(self: &Arc<Self>) -> InFlight {
        self.counters.in_flight.inc();
        InFlight {
            endpoint: self.clone(),
        }
    }

    /// A point-in-time view for the admin API.
    pub(crate) fn status(&self, now_ms: u64) -> EndpointStatus {
        EndpointStatus {
            address: self.address,
            weight: self.weight(),
            source: self.source,
            state: self.state(),
            leaving: self.is_leaving(),
            healthy: self.is_healthy(),
            ejected: self.is_ejected(now_ms),
            ejections_total: self.outlier.ejections.load(Ordering::Relaxed),
            eligible: self.is_eligible(now_ms),
            in_flight: self.in_flight(),
            connections: match &self.transport {
                Transport::Http2(pool) => pool.open_connections(),
                Transport::Http1(_) => 0,
            },
            requests_total: self.counters.requests.get(),
            connect_errors_total: self.counters.connect_errors.get(),
            failures_total: self.counters.failures.get(),
            health_checks_failed_total: self.counters.health_checks_failed.get(),
        }
    }

    pub(crate) fn h2_pool(&self) -> Option<&H2Pool> {
        match &self.transport {
            Transport::Http2(pool) => Some(pool),
            Transport::Http1(_) => None,
        }
    }

    /// Sends a request whose URI is origin-form (path and query) or absolute; the
    /// `:authority` / `Host` the client used is kept, the connection goes to this endpoint.
    /// Counts nothing: callers account for calls.
    pub(crate) async fn send(
        &self,
        cluster: &Arc<str>,
        mut req: Request<Body>,
        lane: Lane,
    ) -> Result<(Response<ResponseStream>, Option<StreamGuard>), ClusterError> {
        match &self.transport {
            Transport::Http2(pool) => {
                let authority = take_authority(&mut req, self.address);
                *req.uri_mut() = absolute_uri(authority, req.uri());
                *req.version_mut() = http::Version::HTTP_2;
                let (response, stream) = pool.send(cluster, req, lane).await?;
                Ok((response.map(ResponseStream::Http2), Some(stream)))
            }
            Transport::Http1(client) => {
                let authority = take_authority(&mut req, self.address);
                if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
                    req.headers_mut().insert(header::HOST, host);
                }
                let endpoint = Authority::try_from(self.address.to_string().as_str())
                    .unwrap_or_else(|_| Authority::from_static("127.0.0.1"));
                *req.uri_mut() = absolute_uri(endpoint, req.uri());
                *req.version_mut() = http::Version::HTTP_11;
                let response = client.request(req).await.map_err(|source| {
                    if source.is_connect() {
                        self.counters.connect_errors.inc();
                        // The same error as an unreachable HTTP/2 endpoint, so both
                        // protocols answer alike (503) and say why.
                        return ClusterError::Connect {
                            cluster: cluster.clone(),
                            endpoint: self.address,
                            reason: root_cause(&source),
                        };
                    }
                    ClusterError::Request {
                        cluster: cluster.clone(),
                        endpoint: self.address,
                        source,
                    }
                })?;
                Ok((response.map(ResponseStream::Http1), None))
            }
        }
    }
}

/// The innermost error of a chain (`Connection refused (os error 111)`): the outer layers
/// of a connect error only say "client error (Connect)".
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// The authority the client addressed (URI first, then `Host`), removing `Host` so an
/// HTTP/2 request carries it once as `:authority`; the endpoint address when neither exists.
fn take_authority<B>(req: &mut Request<B>, fallback: SocketAddr) -> Authority {
    let host = req.headers_mut().remove(header::HOST);
    req.uri()
        .authority()
        .cloned()
        .or_else(|| host.and_then(|h| Authority::try_from(h.as_bytes()).ok()))
        .or_else(|| Authority::try_from(fallback.to_string().as_str()).ok())
        .unwrap_or_else(|| Authority::from_static("localhost"))
}

fn absolute_uri(authority: Authority, uri: &Uri) -> Uri {
    let path = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    Uri::builder()
        .scheme(Scheme::HTTP)
        .authority(authority)
        .path_and_query(path)
        .build()
        .unwrap_or_else(|_| uri.clone())
}
