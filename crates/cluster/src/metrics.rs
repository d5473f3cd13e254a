//! Prometheus metrics of clusters and endpoints.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Labels of per-endpoint series: both bounded by the configuration.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct EndpointLabels {
    pub(crate) cluster: String,
    pub(crate) endpoint: String,
}

/// The metric families of all clusters, registered once; each endpoint resolves its own
/// series when it is built, so the data path only increments atomics.
#[derive(Clone, Debug, Default)]
pub struct ClusterMetrics {
    pub(crate) requests: Family<EndpointLabels, Counter>,
    pub(crate) connect_errors: Family<EndpointLabels, Counter>,
    pub(crate) connections: Family<EndpointLabels, Counter>,
}

impl ClusterMetrics {
    /// Creates the families and registers them in `registry`.
    pub fn new(registry: &mut Registry) -> ClusterMetrics {
        let metrics = ClusterMetrics::default();
        registry.register(
            "yardmaster_upstream_requests",
            "Requests sent to an upstream endpoint",
            metrics.requests.clone(),
        );
        registry.register(
            "yardmaster_upstream_connect_errors",
            "Failed connection attempts to an upstream endpoint",
            metrics.connect_errors.clone(),
        );
        registry.register(
            "yardmaster_upstream_connections",
            "HTTP/2 connections opened to an upstream endpoint",
            metrics.connections.clone(),
        );
        metrics
    }
}
