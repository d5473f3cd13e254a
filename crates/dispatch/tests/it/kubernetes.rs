//! `kubernetes://` discovery against a local HTTP server that answers EndpointSlice list
//! and watch requests the way the Kubernetes API server does (same paths, same JSON).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_stream::StreamExt;
use yardmaster_dispatch::{ChannelOptions, Dispatcher, KubernetesSource, Target};

use crate::{assert_left, stream_until_cancelled, upstream, HANG_LIMIT};

const SLICES_PATH: &str = "/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices";
const SELECTOR: &str = "labelSelector=kubernetes.io%2Fservice-name%3Dusers";

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Serves one list (`list`), then one watch whose events the test sends on the returned
/// channel; a second watch stays open without events.
async fn fake_api_server(list: Value) -> (SocketAddr, mpsc::UnboundedSender<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (events_tx, events) = mpsc::unbounded_channel::<Value>();
    let events = Arc::new(Mutex::new(Some(events)));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
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
    (addr, events_tx)
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
            UnboundedReceiverStream::new(events)
                .map(|event| Ok::<_, Infallible>(Frame::data(Bytes::from(format!("{event}\n"))))),
        )
        .boxed_unsync(),
        None => StreamBody::new(tokio_stream::pending::<Result<Frame<Bytes>, Infallible>>())
            .boxed_unsync(),
    };
    Response::new(body)
}

fn full(value: Value) -> Body {
    Full::new(Bytes::from(value.to_string())).boxed_unsync()
}

/// One EndpointSlice of Service `users` with one IPv4 endpoint at `addr`.
fn slice(name: &str, addr: SocketAddr, ready: bool, version: &str) -> Value {
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

/// The list has `a` ready and `b` terminating: only `a` is an endpoint. A watch event
/// makes `b` ready (it joins the subscription), another deletes `a`'s slice (its closure
/// is cancelled with `EndpointLeft` and its stream reset).
#[tokio::test]
async fn endpoint_slices_are_listed_then_watched() {
    let (a, b) = (upstream("a").await, upstream("b").await);
    let list = json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSliceList",
        "metadata": {"resourceVersion": "10"},
        "items": [slice("users-a", a.addr, true, "8"), slice("users-b", b.addr, false, "9")]
    });
    let (api, events) = fake_api_server(list).await;
    let config = kube::Config::new(format!("http://{api}").parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let target = KubernetesSource::new("users", "shop", None).with_client(client);
    let dispatcher = Dispatcher::from_target(Target::Kubernetes(target), ChannelOptions::default());
    dispatcher.ready(HANG_LIMIT).await.unwrap();
    assert_eq!(dispatcher.endpoints(), [a.addr]);

    let (started_tx, mut started) = mpsc::unbounded_channel();
    let mut subscription = dispatcher.fanout_subscribe(stream_until_cancelled(started_tx));
    let first = tokio::time::timeout(HANG_LIMIT, started.recv())
        .await
        .unwrap();
    assert_eq!(first, Some(a.addr));

    let ready_b = slice("users-b", b.addr, true, "11");
    events
        .send(json!({"type": "MODIFIED", "object": ready_b}))
        .unwrap();
    let joined = tokio::time::timeout(HANG_LIMIT, started.recv())
        .await
        .unwrap();
    assert_eq!(joined, Some(b.addr));

    let gone_a = slice("users-a", a.addr, true, "12");
    events
        .send(json!({"type": "DELETED", "object": gone_a}))
        .unwrap();
    assert_left(&mut subscription, &a).await;
    assert_eq!(dispatcher.endpoints(), [b.addr]);
    assert_eq!(b.stats.cancelled(), 0);
}
