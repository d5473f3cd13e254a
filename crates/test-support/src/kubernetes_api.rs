//! A local server that answers EndpointSlice list and watch requests the way the
//! Kubernetes API server does (same paths, same JSON, lists of the current state, watches
//! that a test can expire with 410 Gone).

use std::collections::BTreeMap;
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

/// The API server of namespace `shop`, Service `users`. It keeps the slices as watch
/// events change them, so a list after a broken watch returns the current state, as the
/// real API server does.
pub struct TestKubernetesApi {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

/// The slices by name, and the open watches.
struct State {
    slices: BTreeMap<String, Value>,
    version: String,
    watches: Vec<mpsc::UnboundedSender<Value>>,
    watches_opened: usize,
}

const SLICES_PATH: &str = "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices";
const SELECTOR: &str = "labelSelector=kubernetes.io%2Fservice-name%3Dusers";

impl TestKubernetesApi {
    /// Serves `slices` (at resource version `version`), then watches of their changes.
    pub async fn start(slices: Vec<Value>, version: &str) -> TestKubernetesApi {
        let slices = slices
            .into_iter()
            .map(|slice| {
                (
                    slice["metadata"]["name"].as_str().unwrap().to_owned(),
                    slice,
                )
            })
            .collect();
        let state = Arc::new(Mutex::new(State {
            slices,
            version: version.to_owned(),
            watches: Vec::new(),
            watches_opened: 0,
        }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let response = answer(&req, &state);
                    async move { Ok::<_, Infallible>(response) }
                });
                // The Kubernetes client speaks HTTP/1.1 to a plaintext API server.
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        TestKubernetesApi { addr, state }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Applies a change, `ADDED`, `MODIFIED` or `DELETED` of `slice`, and sends it to every
    /// open watch.
    pub fn send(&self, kind: &str, slice: Value) {
        let mut state = self.state.lock().unwrap();
        let name = slice["metadata"]["name"].as_str().unwrap().to_owned();
        if let Some(version) = slice["metadata"]["resourceVersion"].as_str() {
            state.version = version.to_owned();
        }
        if kind == "DELETED" {
            state.slices.remove(&name);
        } else {
            state.slices.insert(name, slice.clone());
        }
        let event = json!({"type": kind, "object": slice});
        state
            .watches
            .retain(|watch| watch.send(event.clone()).is_ok());
    }

    /// Ends every open watch with `410 Gone`, the way the API server tells a client its
    /// resource version is too old: the client must list again.
    pub fn expire_watches(&self) {
        let mut state = self.state.lock().unwrap();
        let gone = json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1",
            "status": "Failure", "reason": "Expired", "code": 410,
            "message": "too old resource version"}});
        for watch in state.watches.drain(..) {
            let _ = watch.send(gone.clone());
        }
    }

    /// How many watches have been opened so far.
    pub fn watches_opened(&self) -> usize {
        self.state.lock().unwrap().watches_opened
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

fn answer(req: &Request<Incoming>, state: &Mutex<State>) -> Response<Body> {
    let query = req.uri().query().unwrap_or_default();
    if req.uri().path() != SLICES_PATH || !query.contains(SELECTOR) {
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "reason": "NotFound", "code": 404, "message": "not found"});
        let mut response = Response::new(full(status));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    }
    let mut state = state.lock().unwrap();
    if !query.contains("watch=true") {
        let list = json!({
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSliceList",
            "metadata": {"resourceVersion": state.version},
            "items": state.slices.values().collect::<Vec<_>>()
        });
        return Response::new(full(list));
    }
    let (tx, events) = mpsc::unbounded_channel::<Value>();
    state.watches.push(tx);
    state.watches_opened += 1;
    // The watch ends when its sender is dropped: after an expiry, as the API server ends it.
    let body = StreamBody::new(
        watch_events(events)
            .map(|event| Ok::<_, Infallible>(Frame::data(Bytes::from(format!("{event}\n"))))),
    )
    .boxed_unsync();
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
