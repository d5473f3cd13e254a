//! The front of one listener: where every request enters. For each downstream connection
//! it builds the connection's service, the listener's protocol layers in front of the
//! [`Pipeline`]: `edge -> [layers] -> pipeline`, and it opens each call's span.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use http::Request;
use prometheus_client::metrics::gauge::Gauge;
use tower::layer::util::{Identity, Stack};
use tower::util::Oneshot;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};
use tracing::field::{self, Empty};
use tracing::instrument::{Instrument, Instrumented};
use tracing::level_filters::LevelFilter;
use tracing::Level;
use yardmaster_route::GrpcPath;

use crate::call_id::CallId;
use crate::call_record::RouteStats;
use crate::forwarded::Downstream;
use crate::metrics::ListenerLabels;
use crate::{Pipeline, ProxyMetrics, Snapshot};

/// Target of the span each call gets. The span is at DEBUG, so that under the default
/// `info` filter it is off: a cached callsite check, nothing formatted or allocated.
/// `RUST_LOG=info,yardmaster::call=debug` turns it on.
const CALL_SPAN_TARGET: &str = "yardmaster::call";

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
    pub(crate) fn for_connection(&self, client: SocketAddr) -> EdgeService<L::Service>
    where
        L: Layer<Pipeline>,
    {
        let downstream = Downstream::new(client, self.tls, self.forwarded_headers);
        let pipeline = Pipeline::new(self.listener.clone(), downstream);
        EdgeService {
            listener: self.listener.clone(),
            inner: self.layers.service(pipeline),
        }
    }

    pub(crate) fn listener_name(&self) -> &str {
        &self.listener.name
    }

    pub(crate) fn connections_gauge(&self) -> &Gauge {
        &self.listener.connections
    }
}

/// One connection's service, as hyper calls it: opens each call's span and runs the
/// tower stack of protocol layers and pipeline (`inner`) in it. Takes the place of
/// hyper-util's `TowerToHyperService`, which would first call the stack in the call's
/// own task, where the connection's span is not current.
#[derive(Debug)]
pub(crate) struct EdgeService<S> {
    listener: Arc<ListenerState>,
    inner: S,
}

impl<S, B> hyper::service::Service<Request<B>> for EdgeService<S>
where
    S: Service<Request<B>> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Instrumented<Oneshot<S, Request<B>>>;

    fn call(&self, req: Request<B>) -> Self::Future {
        // hyper calls this from the connection's task: the connection's span is the
        // parent. The fields left empty are filled in as they become known: by
        // `record_route`, and `endpoint` by the cluster when it picks one.
        let span = tracing::debug_span!(
            target: CALL_SPAN_TARGET,
            "call",
            listener = %self.listener.name,
            call_id = Empty,
            route = Empty,
            cluster = Empty,
            endpoint = Empty,
            grpc.method = Empty,
        );
        // The stack is made ready and called when the future is first polled, in the span.
        self.inner.clone().oneshot(req).instrument(span)
    }
}

/// Records on the current call span what routing found: the call's id, its route and
/// cluster, and for a gRPC call its `service/method`. Nothing is formatted unless a
/// subscriber listens to the span.
pub(crate) fn record_route(call_id: CallId, route: &RouteStats, grpc: Option<GrpcPath<'_>>) {
    // Below DEBUG there is no call span to fill in, and this atomic load is cheaper than
    // asking the subscriber for the current span.
    if LevelFilter::current() < Level::DEBUG {
        return;
    }
    let span = tracing::Span::current();
    span.record("call_id", field::display(call_id));
    span.record("route", &*route.name);
    if !route.cluster_name.is_empty() {
        span.record("cluster", &*route.cluster_name);
    }
    if let Some(path) = grpc {
        span.record(
            "grpc.method",
            format_args!("{}/{}", path.service, path.method),
        );
    }
}

#[cfg(test)]
mod tests;
