//! Prometheus metrics of clusters and endpoints.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of per-endpoint series: both bounded by the configuration.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct EndpointLabels {
    pub(crate) cluster: String,
    pub(crate) endpoint: String,
}

/// Labels of per-cluster series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ClusterLabels {
    pub(crate) cluster: String,
}

/// The metric families of all clusters, registered once; each endpoint resolves its own
/// series when it is built, so the data path only touches atomics.
#[derive(Clone, Debug, Default)]
pub struct ClusterMetrics {
    pub(crate) requests: Family<EndpointLabels, Counter>,
    pub(crate) connect_errors: Family<EndpointLabels, Counter>,
    pub(crate) connections: Family<EndpointLabels, Counter>,
    pub(crate) in_flight: Family<EndpointLabels, Gauge<i64, AtomicI64>>,
    pub(crate) failures: Family<EndpointLabels, Counter>,
    pub(crate) ejections: Family<EndpointLabels, Counter>,
    pub(crate) healthy: Family<EndpointLabels, Gauge<i64, AtomicI64>>,
    pub(crate) health_checks_failed: Family<EndpointLabels, Counter>,
    pub(crate) retries: Family<ClusterLabels, Counter>,
    pub(crate) retries_over_budget: Family<ClusterLabels, Counter>,
    pub(crate) overflows: Family<ClusterLabels, Counter>,
    pub(crate) discovery_updates: Family<ClusterLabels, Counter>,
    pub(crate) discovery_errors: Family<ClusterLabels, Counter>,
}

impl ClusterMetrics {
    /// Creates the families and registers them in `registry`.
    pub fn new(registry: &mut Registry) -> ClusterMetrics {
        let metrics = ClusterMetrics::default();
        registry.register(
            "yardmaster_upstream_requests",
            "Requests sent to an upstream endpoint (each attempt counts)",
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
        registry.register(
            "yardmaster_upstream_in_flight",
            "Calls in flight to an upstream endpoint",
            metrics.in_flight.clone(),
        );
        registry.register(
            "yardmaster_upstream_failures",
            "Attempts that failed as outlier detection counts them",
            metrics.failures.clone(),
        );
        registry.register(
            "yardmaster_upstream_ejections",
            "Times an endpoint was ejected by outlier detection",
            metrics.ejections.clone(),
        );
        registry.register(
            "yardmaster_upstream_healthy",
            "1 when the endpoint's health checks pass, else 0",
            metrics.healthy.clone(),
        );
        registry.register(
            "yardmaster_upstream_health_checks_failed",
            "Failed active health checks of an endpoint",
            metrics.health_checks_failed.clone(),
        );
        registry.register(
            "yardmaster_cluster_retries",
            "Retried attempts of calls to a cluster",
            metrics.retries.clone(),
        );
        registry.register(
            "yardmaster_cluster_retries_over_budget",
            "Retries not made because the retry budget was spent",
            metrics.retries_over_budget.clone(),
        );
        registry.register(
            "yardmaster_cluster_overflows",
            "Calls refused by a circuit breaker limit",
            metrics.overflows.clone(),
        );
        registry.register(
            "yardmaster_discovery_updates",
            "Endpoint sets a cluster received from its discovery source",
            metrics.discovery_updates.clone(),
        );
        registry.register(
            "yardmaster_discovery_errors",
            "Failed refreshes of a cluster's discovery source (the last set was kept)",
            metrics.discovery_errors.clone(),
        );
        metrics
    }
}
