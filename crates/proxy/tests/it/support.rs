//! A listener served in the test's runtime, an echo upstream and an HTTP/1.1 client.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use prometheus_client::registry::Registry;
use tokio::net::{TcpListener, TcpStream};
use tower::{Layer, Service};
use yardmaster_cluster::{ClusterMetrics, ClusterSet};
use yardmaster_proxy::{
    Edge, ListenerSettings, Pipeline, ProxyBody, ProxyMetrics, Snapshot, Workers,
};

/// How long a test waits for any event before calling it a hang.
const HANG_LIMIT: Duration = Duration::from_secs(10);

/// An HTTP/1.1 upstream that answers every request with its body; returns its address.
pub(crate) async fn echo_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let echo = service_fn(|req: Request<Incoming>| async move {
                Ok::<_, Infallible>(Response::new(req.into_body()))
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), echo),
            );
        }
    });
    addr
}

/// The snapshot of a gateway whose listener `public` forwards everything to `upstream`
/// (cluster `echo`) over HTTP/1.1.
pub(crate) fn snapshot_to(upstream: SocketAddr, metrics: &ProxyMetrics) -> Snapshot {
    let yaml = format!(
        r#"
listeners:
  - {{ name: public, listen: "127.0.0.1:0", routes: [forward: {{ cluster: echo }}] }}
clusters:
  - {{ name: echo, protocol: http1, endpoints: ["{upstream}"] }}
"#
    );
    let config = Arc::new(yardmaster_config::from_str(&yaml, "test.yaml").unwrap());
    let cluster_metrics = ClusterMetrics::new(&mut Registry::default());
    let clusters = Arc::new(ClusterSet::new(&config.clusters, &cluster_metrics));
    Snapshot::new(config, clusters, metrics, None, &Default::default()).unwrap()
}

/// Serves listener `public` of a gateway forwarding to `upstream` through the edge that
/// `build` makes from the plain one; returns the listener's address. The listener stops
/// when the test's runtime does.
pub(crate) async fn serve_public<L>(
    upstream: SocketAddr,
    build: impl FnOnce(Edge) -> Edge<L>,
) -> SocketAddr
where
    L: Layer<Pipeline> + Send + 'static,
    L::Service: Service<Request<Incoming>, Response = Response<ProxyBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    <L::Service as Service<Request<Incoming>>>::Future: Send + 'static,
{
    let metrics = ProxyMetrics::new(&mut Registry::default());
    let snapshot = Arc::new(ArcSwap::from_pointee(snapshot_to(upstream, &metrics)));
    let edge = build(Edge::new("public", snapshot, &metrics, false, true));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let settings = ListenerSettings {
        tls: None,
        max_connections: 16,
        drain_timeout: Duration::from_secs(1),
    };
    let workers = Workers::start(1).unwrap();
    tokio::spawn(yardmaster_proxy::serve(
        listener,
        edge,
        settings,
        workers,
        std::future::pending(),
    ));
    addr
}

/// `POST /` with `body` over a fresh HTTP/1.1 connection; the response body as text.
pub(crate) async fn post(addr: SocketAddr, body: &'static str) -> String {
    let exchange = async {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let req = Request::post("/")
            .header(http::header::HOST, "gateway.test")
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap();
        let response = sender.send_request(req).await.unwrap();
        assert!(response.status().is_success(), "{response:?}");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    };
    tokio::time::timeout(HANG_LIMIT, exchange)
        .await
        .expect("the call ended in time")
}
