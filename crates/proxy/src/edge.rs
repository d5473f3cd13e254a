//! The tower service of one listener: the place where every request enters the pipeline.

use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arc_swap::ArcSwap;
use http::{Request, Response};
use hyper::body::Incoming;
use prometheus_client::metrics::gauge::Gauge;

use crate::forwarded::Downstream;
use crate::metrics::ListenerLabels;
use crate::{pipeline, ProxyBody, ProxyMetrics, Snapshot};

/// Serves the requests of one listener. Its error type is `Infallible`: every failure is
/// turned into a response by `error_response`. Cloning is cheap (two `Arc`s).
#[derive(Clone, Debug)]
pub struct Edge {
    shared: Arc<Shared>,
    downstream: Downstream,
}

#[derive(Debug)]
struct Shared {
    listener: String,
    snapshot: Arc<ArcSwap<Snapshot>>,
    streams: Gauge,
    connections: Gauge,
}

impl Edge {
    /// The service for listener `listener`, reading routes from whatever snapshot is
    /// current when each request arrives. `tls` is whether the listener terminates TLS,
    /// `forwarded_headers` whether it adds `X-Forwarded-*` and `Via`.
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
            shared: Arc::new(Shared {
                listener: listener.to_owned(),
                snapshot,
                streams: metrics.streams.get_or_create(&labels).clone(),
                connections: metrics.connections.get_or_create(&labels).clone(),
            }),
            downstream: Downstream::new(
                SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
                tls,
                forwarded_headers,
            ),
        }
    }

    /// The same service for one accepted connection from `client`.
    pub(crate) fn for_connection(&self, client: SocketAddr) -> Edge {
        Edge {
            shared: self.shared.clone(),
            downstream: Downstream::new(
                client,
                self.downstream.tls,
                self.downstream.forwarded_headers,
            ),
        }
    }

    pub(crate) fn listener(&self) -> &str {
        &self.shared.listener
    }

    /// The current snapshot; the caller keeps it for the whole request.
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.snapshot.load_full()
    }

    pub(crate) fn downstream(&self) -> &Downstream {
        &self.downstream
    }

    pub(crate) fn streams_gauge(&self) -> Gauge {
        self.shared.streams.clone()
    }

    pub(crate) fn connections_gauge(&self) -> &Gauge {
        &self.shared.connections
    }
}

impl tower::Service<Request<Incoming>> for Edge {
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        let edge = self.clone();
        Box::pin(async move { Ok(pipeline::handle(&edge, req).await) })
    }
}
