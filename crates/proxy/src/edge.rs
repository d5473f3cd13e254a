//! The front of one listener: where every request enters. For each downstream connection
//! it builds the connection's service, the listener's protocol layers in front of the
//! [`Pipeline`]: `edge -> [layers] -> pipeline`.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use prometheus_client::metrics::gauge::Gauge;
use tower::layer::util::{Identity, Stack};
use tower::{Layer, ServiceBuilder};

use crate::forwarded::Downstream;
use crate::metrics::ListenerLabels;
use crate::{Pipeline, ProxyMetrics, Snapshot};

/// Serves the requests of one listener. Each connection's service is the listener's
/// protocol layers (`L`, none by default) in front of the [`Pipeline`]; its error type is
/// `Infallible`: every failure is turned into a response by `error_response`.
#[derive(Clone, Debug)]
pub struct Edge<L = Identity> {
    listener: Arc<ListenerState>,
    tls: bool,
    forwarded_headers: bool,
    /// Between the edge and the pipeline, outermost first.
    layers: ServiceBuilder<L>,
}

/// What every connection and call of one listener shares.
#[derive(Debug)]
pub(crate) struct ListenerState {
    pub(crate) name: String,
    pub(crate) snapshot: Arc<ArcSwap<Snapshot>>,
    /// Calls in flight.
    pub(crate) streams: Gauge,
    /// Connections open.
    pub(crate) connections: Gauge,
}

impl Edge {
    /// The edge of listener `listener`, reading routes from whatever snapshot is current
    /// when each request arrives. `tls` is whether the listener terminates TLS,
    /// `forwarded_headers` whether it adds `X-Forwarded-*` and `Via`. It has no protocol
    /// layers; [`Edge::layer`] adds them.
    pub fn new(
        listener: &str,
        snapshot: Arc<ArcSwap<Snapshot>>,
        metrics: &ProxyMetrics,
        tls: bool,
        forwarded_headers: bool,
    ) -> Edge {
        let labels = ListenerLabels {
            listener: listener.to_owned(),
        };
        Edge {
            listener: Arc::new(ListenerState {
                name: listener.to_owned(),
                snapshot,
                streams: metrics.streams.get_or_create(&labels).clone(),
                connections: metrics.connections.get_or_create(&labels).clone(),
            }),
            tls,
            forwarded_headers,
            layers: ServiceBuilder::new(),
        }
    }
}

impl<L> Edge<L> {
    /// Puts `layer` in front of the pipeline, inside the layers added before it: the place
    /// for protocol adapters (gRPC-Web, HTTP/JSON transcoding), which may change the
    /// request body's type as long as its chunks stay `Bytes`. Each connection applies
    /// the layers once; each call clones the resulting service, so keep that cheap.
    pub fn layer<T>(self, layer: T) -> Edge<Stack<T, L>> {
        Edge {
            listener: self.listener,
            tls: self.tls,
            forwarded_headers: self.forwarded_headers,
            layers: self.layers.layer(layer),
        }
    }

    /// The service for one accepted connection from `client`.
    pub(crate) fn for_connection(&self, client: SocketAddr) -> L::Service
    where
        L: Layer<Pipeline>,
    {
        let downstream = Downstream::new(client, self.tls, self.forwarded_headers);
        self.layers
            .service(Pipeline::new(self.listener.clone(), downstream))
    }

    pub(crate) fn connections_gauge(&self) -> &Gauge {
        &self.listener.connections
    }
}
