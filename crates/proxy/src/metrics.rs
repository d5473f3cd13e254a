//! Prometheus metrics of the data path.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of the per-call counter. All bounded: names from the configuration and a
/// status code, never a path or a client address.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct CallLabels {
    pub(crate) listener: String,
    pub(crate) route: String,
    pub(crate) cluster: String,
    /// gRPC status name (`OK`, `UNAVAILABLE`) for gRPC calls, HTTP status otherwise.
    pub(crate) code: String,
}

/// Labels of the per-route latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub(crate) listener: String,
    pub(crate) route: String,
}

/// Labels of per-listener gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ListenerLabels {
    pub(crate) listener: String,
}

/// Labels of the per-target counters of mirroring and fan-out.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TargetLabels {
    pub(crate) listener: String,
    pub(crate) route: String,
    /// The target's cluster.
    pub(crate) target: String,
    /// How the copy or endpoint call ended (see each family's help).
    pub(crate) outcome: String,
}

/// The data path's metric families, registered once and shared by every snapshot.
#[derive(Clone, Debug)]
pub struct ProxyMetrics {
    pub(crate) calls: Family<CallLabels, Counter>,
    pub(crate) duration: Family<RouteLabels, Histogram>,
    pub(crate) connections: Family<ListenerLabels, Gauge>,
    pub(crate) streams: Family<ListenerLabels, Gauge>,
    pub(crate) mirror_copies: Family<TargetLabels, Counter>,
    pub(crate) mirror_messages: Family<TargetLabels, Counter>,
    pub(crate) fanout_calls: Family<TargetLabels, Counter>,
    pub(crate) reflection_failures: Family<RouteLabels, Counter>,
}

impl ProxyMetrics {
    /// Creates the families and registers them in `registry`.
    pub fn new(registry: &mut Registry) -> ProxyMetrics {
        let metrics = ProxyMetrics {
            calls: Family::default(),
            // 100 µs .. ~105 s in 21 doubling buckets: proxy overhead to long streams.
            duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.0001, 2.0, 21))
            }),
            connections: Family::default(),
            streams: Family::default(),
            mirror_copies: Family::default(),
            mirror_messages: Family::default(),
            fanout_calls: Family::default(),
            reflection_failures: Family::default(),
        };
        registry.register(
            "yardmaster_requests",
            "Requests handled, by listener, route, cluster and final gRPC status or HTTP code",
            metrics.calls.clone(),
        );
        registry.register_with_unit(
            "yardmaster_request_duration",
            "Time from request head to the end of the response, by listener and route",
            prometheus_client::registry::Unit::Seconds,
            metrics.duration.clone(),
        );
        registry.register(
            "yardmaster_downstream_connections_active",
            "Open downstream connections, by listener",
            metrics.connections.clone(),
        );
        registry.register(
            "yardmaster_downstream_streams_active",
            "Requests in flight (including streaming bodies), by listener",
            metrics.streams.clone(),
        );
        registry.register(
            "yardmaster_mirror_copies",
            "Copies of calls sent to non-responding mirror targets, by outcome: ok, failed \
             (error status, connect failure, reset), timeout, or dropped (queue full)",
            metrics.mirror_copies.clone(),
        );
        registry.register(
            "yardmaster_mirror_messages",
            "Stream messages not delivered to a mirror target, by outcome (dropped: the \
             target's stream queue was full)",
            metrics.mirror_messages.clone(),
        );
        registry.register(
            "yardmaster_fanout_endpoint_calls",
            "Per-endpoint parts of fan-out calls, by outcome: ok, failed, left (the endpoint \
             left the cluster mid-call) or cancelled (another reply won, or the client left)",
            metrics.fanout_calls.clone(),
        );
        registry.register(
            "yardmaster_transcode_reflection_failures",
            "Failed fetches of a transcode route's descriptors from its cluster's server \
             reflection, by listener and route (the last good descriptors stay in use)",
            metrics.reflection_failures.clone(),
        );
        metrics
    }
}

/// Per-route call counters, one per final status, created on first use. The hot path is
/// one `OnceLock` read and an atomic add: no label strings, no family lock.
#[derive(Debug)]
pub(crate) struct CodeCounters {
    family: Family<CallLabels, Counter>,
    listener: String,
    route: String,
    cluster: String,
    /// gRPC codes 0..=16, then HTTP statuses 100..=599.
    slots: Box<[std::sync::OnceLock<Counter>]>,
}

/// Outcome of a call, as counted and logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CallCode {
    Grpc(yardmaster_core::GrpcCode),
    Http(u16),
}

const GRPC_SLOTS: usize = 17;
const HTTP_SLOTS: std::ops::RangeInclusive<u16> = 100..=599;

impl CodeCounters {
    pub(crate) fn new(metrics: &ProxyMetrics, listener: &str, route: &str, cluster: &str) -> Self {
        let len = GRPC_SLOTS + HTTP_SLOTS.len();
        CodeCounters {
            family: metrics.calls.clone(),
            listener: listener.to_owned(),
            route: route.to_owned(),
            cluster: cluster.to_owned(),
            slots: (0..len).map(|_| std::sync::OnceLock::new()).collect(),
        }
    }

    pub(crate) fn inc(&self, code: CallCode) {
        let slot = match code {
            CallCode::Grpc(c) => usize::try_from(c.as_u32()).ok(),
            CallCode::Http(status) if HTTP_SLOTS.contains(&status) => {
                Some(GRPC_SLOTS + usize::from(status - HTTP_SLOTS.start()))
            }
            CallCode::Http(_) => None,
        };
        let Some(slot) = slot.and_then(|i| self.slots.get(i)) else {
            return;
        };
        slot.get_or_init(|| {
            self.family
                .get_or_create(&CallLabels {
                    listener: self.listener.clone(),
                    route: self.route.clone(),
                    cluster: self.cluster.clone(),
                    code: code.label(),
                })
                .clone()
        })
        .inc();
    }
}

impl CallCode {
    fn label(self) -> String {
        match self {
            CallCode::Grpc(c) => c.name().to_owned(),
            CallCode::Http(status) => status.to_string(),
        }
    }
}
