//! A cluster: endpoints, a balancer, and how to send to them.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::Serialize;
use yardmaster_config::{ClusterConfig, Protocol};
use yardmaster_core::Body;

use crate::{ClusterError, ClusterMetrics, Endpoint, EndpointSet, EndpointStatus, RoundRobin};

/// How long an idle pooled HTTP/1.1 connection is kept: shorter than the common 60–75 s
/// server keep-alive, so the gateway closes first and never reuses a connection the
/// server is closing.
const HTTP1_POOL_IDLE: Duration = Duration::from_secs(50);

/// A named group of endpoints that requests are balanced over.
#[derive(Debug)]
pub struct Cluster {
    name: Arc<str>,
    protocol: Protocol,
    endpoints: ArcSwap<EndpointSet>,
    balancer: RoundRobin,
}

/// What the admin API shows of a cluster.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterStatus {
    /// The cluster's name.
    pub name: String,
    /// The protocol spoken to its endpoints.
    pub protocol: Protocol,
    /// Its endpoints, in balancing order.
    pub endpoints: Vec<EndpointStatus>,
}

impl Cluster {
    /// Builds a cluster from its validated configuration. Opens no connection: each
    /// endpoint connects on first use.
    pub fn new(config: &ClusterConfig, metrics: &ClusterMetrics) -> Cluster {
        let endpoints = match config.protocol {
            Protocol::Grpc | Protocol::Http2 => config
                .endpoints
                .iter()
                .map(|&addr| Endpoint::http2(&config.name, addr, config.connect_timeout, metrics))
                .map(Arc::new)
                .collect(),
            Protocol::Http1 => {
                let client = http1_client(config.connect_timeout);
                config
                    .endpoints
                    .iter()
                    .map(|&addr| Endpoint::http1(&config.name, addr, client.clone(), metrics))
                    .map(Arc::new)
                    .collect()
            }
        };
        Cluster {
            name: Arc::from(config.name.as_str()),
            protocol: config.protocol,
            endpoints: ArcSwap::from_pointee(EndpointSet::new(endpoints)),
            balancer: RoundRobin::default(),
        }
    }

    /// The cluster's name.
    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// The protocol spoken to the endpoints.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Sends the request to the next endpoint and resolves with the response head; the
    /// body streams afterwards. Dropping the future (or the response body) resets the
    /// upstream stream, which is how a downstream cancel reaches the upstream.
    pub async fn call(&self, req: Request<Body>) -> Result<Response<Incoming>, ClusterError> {
        let endpoint = {
            let set = self.endpoints.load();
            self.balancer
                .pick(set.endpoints().len())
                .and_then(|i| set.endpoints().get(i))
                .cloned()
        };
        let endpoint = endpoint.ok_or_else(|| ClusterError::NoEndpoint {
            cluster: self.name.clone(),
        })?;
        endpoint.send(&self.name, req).await
    }

    /// A point-in-time view for the admin API.
    pub fn status(&self) -> ClusterStatus {
        ClusterStatus {
            name: self.name.to_string(),
            protocol: self.protocol,
            endpoints: self
                .endpoints
                .load()
                .endpoints()
                .iter()
                .map(|e| e.status())
                .collect(),
        }
    }
}

fn http1_client(connect_timeout: Duration) -> Client<HttpConnector, Body> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(connect_timeout));
    Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(HTTP1_POOL_IDLE)
        .build(connector)
}
