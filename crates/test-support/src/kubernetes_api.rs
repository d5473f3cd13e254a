//! A local server that answers EndpointSlice list and watch requests the way the
//! Kubernetes API server does (same paths, same JSON): one list, then one watch whose
//! events the test sends; a second watch stays open without events.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::StreamExt;
use http::{Request, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// The API server of namespace `shop`, Service `users`.
pub struct TestKubernetesApi {
    addr: SocketAddr,
    events: mpsc::UnboundedSender<Value>,
}

const SLICES_PATH: &str = "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices";
const SELECTOR: &str = "labelSelector=kubernetes.io%2Fservice-name%3Dusers";

impl TestKubernetesApi {
    /// Serves `slices` as the list (at resource version `version`) and then a watch.
    pub async fn start(slices: Vec<Value>, version: &str) -> TestKubernetesApi {
        let list = json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSliceList",
            "metadata": {"resourceVersion": version},
            "items": slices
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (events_tx, events) = mpsc::unbounded_channel::<Value>();
        let events = Arc::new(Mutex::new(Some(events)));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (list, events) = (list.clone(), events.clone());
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let response = answer(&req, &list, &events);
                    async move { Ok::<_, Infallible>(response) }
                });
                // The Kubernetes client speaks HTTP/1.1 to a plaintext API server.
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        TestKubernetesApi {
            addr,
            events: events_tx,
        }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends a watch event: `ADDED`, `MODIFIED` or `DELETED` of `slice`.
    pub fn send(&self, kind: &str, slice: Value) {
        self.events
            .send(json!({"type": kind, "object": slice}))
            .unwrap();
    }

    /// Writes a kubeconfig naming this server into `dir` and returns its path.
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: test\n\
             clusters:\n- name: test\n  cluster:\n    server: http://{}\n\
             contexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n    namespace: shop\n\
             users:\n- name: test\n  user: {{}}\n",
            self.addr
        );
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// One EndpointSlice of Service `users` in `shop` with one IPv4 endpoint at `addr`, its
/// port named `grpc`; `ready: false` makes the endpoint terminating.
pub fn endpoint_slice(name: &str, addr: SocketAddr, ready: bool, version: &str) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "resourceVersion": version,
            "labels": {"kubernetes.io/service-name": "users"}
        },
        "addressType": "IPv4",
        "endpoints": [{
            "addresses": [addr.ip().to_string()],
            "conditions": {"ready": ready, "serving": ready, "terminating": !ready}
        }],
        "ports": [{"name": "grpc", "port": addr.port(), "protocol": "TCP"}]
    })
}

fn answer(
    req: &Request<Incoming>,
    list: &Value,
    events: &Mutex<Option<mpsc::UnboundedReceiver<Value>>>,
) -> Response<Body> {
    let query = req.uri().query().unwrap_or_default();
    if req.uri().path() != SLICES_PATH || !query.contains(SELECTOR) {
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "reason": "NotFound", "code": 404, "message": "not found"});
        let mut response = Response::new(full(status));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    }
    if !query.contains("watch=true") {
        return Response::new(full(list.clone()));
    }
    let body: Body = match events.lock().unwrap().take() {
        Some(events) => StreamBody::new(
            watch_events(events)
                .map(|event| Ok::<_, Infallible>(Frame::data(Bytes::from(format!("{event}\n"))))),
        )
        .boxed_unsync(),
        None => StreamBody::new(futures_util::stream::pending::<
            Result<Frame<Bytes>, Infallible>,
        >())
        .boxed_unsync(),
    };
    Response::new(body)
}

fn watch_events(
    mut events: mpsc::UnboundedReceiver<Value>,
) -> impl futures_util::Stream<Item = Value> {
    futures_util::stream::poll_fn(move |cx| events.poll_recv(cx))
}

fn full(value: Value) -> Body {
    Full::new(Bytes::from(value.to_string())).boxed_unsync()
}
