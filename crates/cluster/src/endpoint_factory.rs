//! Building endpoints with their transport and metric handles: from the configuration,
//! and when the admin API adds one at run time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use yardmaster_config::Protocol;
use yardmaster_core::Body;

use crate::endpoint::{EndpointCounters, Transport};
use crate::h2_pool::{H2Pool, H2Settings};
use crate::metrics::EndpointLabels;
use crate::{ClusterMetrics, Endpoint};

/// How long an idle pooled HTTP/1.1 connection is kept at most: shorter than the common
/// 60–75 s server keep-alive, so the gateway closes first and never reuses a connection
/// the server is closing.
const HTTP1_POOL_IDLE: Duration = Duration::from_secs(50);

/// Builds endpoints, from the configuration and when the admin API adds one.
#[derive(Debug)]
pub(crate) struct EndpointFactory {
    pub(crate) cluster: String,
    pub(crate) h2: Arc<H2Settings>,
    pub(crate) http1: Option<Client<HttpConnector, Body>>,
    pub(crate) metrics: ClusterMetrics,
    pub(crate) initially_healthy: bool,
}

impl EndpointFactory {
    pub(crate) fn build(
        &self,
        protocol: Protocol,
        address: SocketAddr,
        weight: u32,
        source: &'static str,
    ) -> Arc<Endpoint> {
        let labels = EndpointLabels {
            cluster: self.cluster.clone(),
            endpoint: address.to_string(),
        };
        let m = &self.metrics;
        let counters = EndpointCounters {
            requests: m.requests.get_or_create(&labels).clone(),
            connect_errors: m.connect_errors.get_or_create(&labels).clone(),
            in_flight: m.in_flight.get_or_create(&labels).clone(),
            failures: m.failures.get_or_create(&labels).clone(),
            ejections: m.ejections.get_or_create(&labels).clone(),
            healthy: m.healthy.get_or_create(&labels).clone(),
            health_checks_failed: m.health_checks_failed.get_or_create(&labels).clone(),
        };
        let transport = match (protocol, &self.http1) {
            (Protocol::Http1, Some(client)) => Transport::Http1(client.clone()),
            _ => Transport::Http2(H2Pool::new(
                address,
                self.h2.clone(),
                m.connections.get_or_create(&labels).clone(),
                counters.connect_errors.clone(),
            )),
        };
        Arc::new(Endpoint::new(
            address,
            weight,
            source,
            transport,
            self.initially_healthy,
            counters,
        ))
    }
}

pub(crate) fn http1_client(
    connect_timeout: Duration,
    idle_timeout: Duration,
) -> Client<HttpConnector, Body> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(connect_timeout));
    Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(idle_timeout.min(HTTP1_POOL_IDLE))
        .build(connector)
}
