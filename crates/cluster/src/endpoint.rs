//! One upstream endpoint and the set of endpoints a cluster balances over.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{header, HeaderValue, Request, Response, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use prometheus_client::metrics::counter::Counter;
use serde::Serialize;
use yardmaster_core::Body;

use crate::h2_connection::H2Connection;
use crate::metrics::{ClusterMetrics, EndpointLabels};
use crate::ClusterError;

/// An upstream address with its connection(s) and counters.
#[derive(Debug)]
pub struct Endpoint {
    address: SocketAddr,
    transport: Transport,
    requests: Counter,
    connect_errors: Counter,
}

#[derive(Debug)]
enum Transport {
    /// One multiplexed connection, for `grpc` and `http2` clusters.
    Http2(H2Connection),
    /// A keep-alive pool shared by the cluster, for `http1` clusters.
    Http1(Client<HttpConnector, Body>),
}

/// What the admin API shows of an endpoint.
#[derive(Clone, Debug, Serialize)]
pub struct EndpointStatus {
    /// `ip:port`.
    pub address: SocketAddr,
    /// For HTTP/2: whether a connection is open now. HTTP/1 pools always say `true`.
    pub connected: bool,
    /// Requests sent since start.
    pub requests_total: u64,
    /// Failed connection attempts since start.
    pub connect_errors_total: u64,
}

impl Endpoint {
    pub(crate) fn http2(
        cluster: &str,
        address: SocketAddr,
        connect_timeout: Duration,
        metrics: &ClusterMetrics,
    ) -> Endpoint {
        let labels = labels(cluster, address);
        let connect_errors = metrics.connect_errors.get_or_create(&labels).clone();
        let connection = H2Connection::new(
            address,
            connect_timeout,
            metrics.connections.get_or_create(&labels).clone(),
            connect_errors.clone(),
        );
        Endpoint {
            address,
            transport: Transport::Http2(connection),
            requests: metrics.requests.get_or_create(&labels).clone(),
            connect_errors,
        }
    }

    pub(crate) fn http1(
        cluster: &str,
        address: SocketAddr,
        client: Client<HttpConnector, Body>,
        metrics: &ClusterMetrics,
    ) -> Endpoint {
        let labels = labels(cluster, address);
        Endpoint {
            address,
            transport: Transport::Http1(client),
            requests: metrics.requests.get_or_create(&labels).clone(),
            connect_errors: metrics.connect_errors.get_or_create(&labels).clone(),
        }
    }

    /// The endpoint's address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// A point-in-time view for the admin API.
    pub fn status(&self) -> EndpointStatus {
        EndpointStatus {
            address: self.address,
            connected: match &self.transport {
                Transport::Http2(connection) => connection.is_connected(),
                Transport::Http1(_) => true,
            },
            requests_total: self.requests.get(),
            connect_errors_total: self.connect_errors.get(),
        }
    }

    /// Sends a request whose URI is origin-form (path and query) or absolute; the
    /// `:authority` / `Host` the client used is kept, the connection goes to this endpoint.
    pub(crate) async fn send(
        &self,
        cluster: &Arc<str>,
        mut req: Request<Body>,
    ) -> Result<Response<Incoming>, ClusterError> {
        self.requests.inc();
        match &self.transport {
            Transport::Http2(connection) => {
                let authority = take_authority(&mut req, self.address);
                *req.uri_mut() = absolute_uri(authority, req.uri());
                *req.version_mut() = http::Version::HTTP_2;
                connection.send(cluster, req).await
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
                client.request(req).await.map_err(|source| {
                    if source.is_connect() {
                        self.connect_errors.inc();
                    }
                    ClusterError::Request {
                        cluster: cluster.clone(),
                        endpoint: self.address,
                        source,
                    }
                })
            }
        }
    }
}

fn labels(cluster: &str, address: SocketAddr) -> EndpointLabels {
    EndpointLabels {
        cluster: cluster.to_owned(),
        endpoint: address.to_string(),
    }
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

/// The endpoints a cluster balances over at one moment; replaced whole, never mutated.
#[derive(Debug, Default)]
pub struct EndpointSet {
    endpoints: Vec<Arc<Endpoint>>,
}

impl EndpointSet {
    /// A set of the given endpoints, in order.
    pub fn new(endpoints: Vec<Arc<Endpoint>>) -> EndpointSet {
        EndpointSet { endpoints }
    }

    /// The endpoints, in order.
    pub fn endpoints(&self) -> &[Arc<Endpoint>] {
        &self.endpoints
    }
}
