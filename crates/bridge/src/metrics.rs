//! Prometheus metrics of bridge listeners, labelled by bridge (and close reason): never by
//! client, whose UUIDs are unbounded.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct BridgeLabels {
    bridge: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ClosedLabels {
    bridge: String,
    reason: &'static str,
}

/// The metric families of every bridge, registered once.
#[derive(Clone, Debug, Default)]
pub struct BridgeMetrics {
    clients: Family<BridgeLabels, Gauge>,
    accepted: Family<BridgeLabels, Counter>,
    closed: Family<ClosedLabels, Counter>,
    frames_in: Family<BridgeLabels, Counter>,
    frames_out: Family<BridgeLabels, Counter>,
    bytes_in: Family<BridgeLabels, Counter>,
    bytes_out: Family<BridgeLabels, Counter>,
    reassigned: Family<BridgeLabels, Counter>,
    upstream_failures: Family<BridgeLabels, Counter>,
    unknown_client: Family<BridgeLabels, Counter>,
}

impl BridgeMetrics {
    /// Creates the families and registers them in `registry`.
    pub fn new(registry: &mut Registry) -> BridgeMetrics {
        let m = BridgeMetrics::default();
        registry.register(
            "yardmaster_bridge_clients",
            "TCP clients connected to a bridge now",
            m.clients.clone(),
        );
        registry.register(
            "yardmaster_bridge_clients_accepted",
            "TCP clients accepted by a bridge",
            m.accepted.clone(),
        );
        registry.register(
            "yardmaster_bridge_clients_closed",
            "TCP clients closed, by reason (client_closed, frame_too_large, queue_full, ...)",
            m.closed.clone(),
        );
        registry.register(
            "yardmaster_bridge_frames_received",
            "Frames read from TCP clients",
            m.frames_in.clone(),
        );
        registry.register(
            "yardmaster_bridge_frames_sent",
            "Frames written to TCP clients",
            m.frames_out.clone(),
        );
        registry.register(
            "yardmaster_bridge_received_bytes",
            "Frame bytes read from TCP clients, without framing",
            m.bytes_in.clone(),
        );
        registry.register(
            "yardmaster_bridge_sent_bytes",
            "Frame bytes written to TCP clients, without framing",
            m.bytes_out.clone(),
        );
        registry.register(
            "yardmaster_bridge_clients_reassigned",
            "Clients moved to another upstream after theirs failed or was removed",
            m.reassigned.clone(),
        );
        registry.register(
            "yardmaster_bridge_upstream_failures",
            "Upstream streams that failed or could not be opened",
            m.upstream_failures.clone(),
        );
        registry.register(
            "yardmaster_bridge_unknown_client_commands",
            "Upstream commands naming a client that is not connected",
            m.unknown_client.clone(),
        );
        m
    }

    /// The series of one bridge, resolved once so the data path only touches atomics.
    pub(crate) fn for_bridge(&self, bridge: &str) -> BridgeSeries {
        let labels = BridgeLabels {
            bridge: bridge.to_owned(),
        };
        BridgeSeries {
            clients: self.clients.get_or_create(&labels).clone(),
            accepted: self.accepted.get_or_create(&labels).clone(),
            frames_in: self.frames_in.get_or_create(&labels).clone(),
            frames_out: self.frames_out.get_or_create(&labels).clone(),
            bytes_in: self.bytes_in.get_or_create(&labels).clone(),
            bytes_out: self.bytes_out.get_or_create(&labels).clone(),
            reassigned: self.reassigned.get_or_create(&labels).clone(),
            upstream_failures: self.upstream_failures.get_or_create(&labels).clone(),
            unknown_client: self.unknown_client.get_or_create(&labels).clone(),
            closed: self.closed.clone(),
            bridge: bridge.to_owned(),
        }
    }
}

/// One bridge's series.
#[derive(Debug)]
pub(crate) struct BridgeSeries {
    pub(crate) clients: Gauge,
    pub(crate) accepted: Counter,
    pub(crate) frames_in: Counter,
    pub(crate) frames_out: Counter,
    pub(crate) bytes_in: Counter,
    pub(crate) bytes_out: Counter,
    pub(crate) reassigned: Counter,
    pub(crate) upstream_failures: Counter,
    pub(crate) unknown_client: Counter,
    closed: Family<ClosedLabels, Counter>,
    bridge: String,
}

impl BridgeSeries {
    /// The close counter for `reason` (a bounded label).
    pub(crate) fn closed(&self, reason: &'static str) -> Counter {
        self.closed
            .get_or_create(&ClosedLabels {
                bridge: self.bridge.clone(),
                reason,
            })
            .clone()
    }
}
