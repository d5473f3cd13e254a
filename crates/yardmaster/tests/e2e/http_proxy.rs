//! Plain HTTP through the gateway: HTTP/1.1 and h2 clients to http1 and http2 clusters,
//! streamed bodies, forwarding headers, rewrites, gateway errors and WebSocket upgrades.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_stream::wrappers::ReceiverStream;
use tokio_tungstenite::tungstenite::Message;
use yardmaster_test_support::{
    h2_send, http1_send, HttpReply, HttpUpstream, RefusingPort, TestGateway, WebSocketUpstream,
    HANG_LIMIT,
};

const MIB: usize = 1024 * 1024;

/// Request bodies written by the test piece by piece.
type ChannelBody = StreamBody<ReceiverStream<Result<Frame<Bytes>, Infallible>>>;

/// One listener in front of an http1 cluster (`/h1/...`) and an http2 cluster (`/h2/...`),
/// the prefix stripped on the way; `/api/` also rewrites the host; `/blocked` is denied
/// with 451; nothing else matches. The upstreams, `one` (HTTP/1.1) and `two` (HTTP/2),
/// serve while they are held.
async fn web_gateway() -> (TestGateway, [HttpUpstream; 2]) {
    let (one, two) = (
        HttpUpstream::start("one").await,
        HttpUpstream::start("two").await,
    );
    let gateway = TestGateway::start(&format!(
        r#"
listeners:
  - name: web
    listen: 127.0.0.1:0
    routes:
      - name: blocked
        match: {{ path: {{ prefix: /blocked }} }}
        deny: {{ http_status: 451, message: blocked by policy }}
      - name: api
        match: {{ path: {{ prefix: /api/ }} }}
        forward:
          cluster: web1
          rewrite: {{ path_prefix: /v2/, host: "users.internal:8080" }}
      - name: h1
        match: {{ path: {{ prefix: /h1/ }} }}
        forward: {{ cluster: web1, rewrite: {{ path_prefix: / }} }}
      - name: h2
        match: {{ path: {{ prefix: /h2/ }} }}
        forward: {{ cluster: web2, rewrite: {{ path_prefix: / }} }}
clusters:
  - name: web1
    protocol: http1
    endpoints: [{}]
  - name: web2
    protocol: http2
    endpoints: [{}]
"#,
        one.addr(),
        two.addr()
    ))
    .await;
    (gateway, [one, two])
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::get(path).body(Full::new(Bytes::new())).unwrap()
}

async fn send(version: Version, addr: SocketAddr, req: Request<Full<Bytes>>) -> HttpReply {
    let reply = match version {
        Version::HTTP_2 => timeout(HANG_LIMIT, h2_send(addr, req)).await,
        _ => timeout(HANG_LIMIT, http1_send(addr, req)).await,
    };
    reply.expect("reply in time")
}

/// The demo upstream's description of the request it received.
fn description(reply: &HttpReply) -> Value {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    serde_json::from_slice(&reply.body).expect("upstream JSON")
}

/// Every value the upstream saw for header `name`.
fn seen(description: &Value, name: &str) -> Vec<String> {
    description["headers"][name]
        .as_array()
        .map(|values| {
            values
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Both client protocols reach both cluster protocols; the upstream sees its own protocol,
/// the stripped path, and the forwarding headers with exact values.
#[tokio::test]
async fn http1_and_h2_clients_reach_http1_and_http2_clusters() {
    let (gateway, _upstreams) = web_gateway().await;
    let host = gateway.addr().to_string();
    let cases = [
        (
            Version::HTTP_11,
            "/h1/hello?x=1",
            "one",
            "HTTP/1.1",
            "1.1 yardmaster",
        ),
        (
            Version::HTTP_11,
            "/h2/hello?x=1",
            "two",
            "HTTP/2.0",
            "1.1 yardmaster",
        ),
        (
            Version::HTTP_2,
            "/h1/hello?x=1",
            "one",
            "HTTP/1.1",
            "2 yardmaster",
        ),
        (
            Version::HTTP_2,
            "/h2/hello?x=1",
            "two",
            "HTTP/2.0",
            "2 yardmaster",
        ),
    ];

    for (client, path, served_by, upstream_version, via) in cases {
        let reply = send(client, gateway.addr(), get(path)).await;
        let seen_by_upstream = description(&reply);
        let case = format!("{client:?} {path}");
        assert_eq!(seen_by_upstream["served_by"], served_by, "{case}");
        assert_eq!(seen_by_upstream["version"], upstream_version, "{case}");
        assert_eq!(seen_by_upstream["path"], "/hello?x=1", "{case}");
        assert_eq!(
            seen(&seen_by_upstream, "x-forwarded-for"),
            ["127.0.0.1"],
            "{case}"
        );
        assert_eq!(
            seen(&seen_by_upstream, "x-forwarded-proto"),
            ["http"],
            "{case}"
        );
        assert_eq!(
            seen(&seen_by_upstream, "x-forwarded-host"),
            [host.as_str()],
            "{case}"
        );
        assert_eq!(seen(&seen_by_upstream, "via"), [via], "{case}");
        assert_eq!(reply.header_values("via"), [via], "{case}");
    }
}

#[tokio::test]
async fn forwarding_headers_append_to_those_of_earlier_proxies() {
    let (gateway, _upstreams) = web_gateway().await;
    let req = Request::get("/h1/")
        .header("host", "shop.example.com")
        .header("x-forwarded-for", "203.0.113.7, 198.51.100.2")
        .header("x-forwarded-proto", "https")
        .header("via", "1.1 edge")
        .body(Full::new(Bytes::new()))
        .unwrap();

    let seen_by_upstream = description(&send(Version::HTTP_11, gateway.addr(), req).await);

    assert_eq!(
        seen(&seen_by_upstream, "x-forwarded-for"),
        ["203.0.113.7, 198.51.100.2, 127.0.0.1"]
    );
    // Proto and host describe this hop, replacing what the client claimed.
    assert_eq!(seen(&seen_by_upstream, "x-forwarded-proto"), ["http"]);
    assert_eq!(
        seen(&seen_by_upstream, "x-forwarded-host"),
        ["shop.example.com"]
    );
    assert_eq!(seen(&seen_by_upstream, "host"), ["shop.example.com"]);
    assert_eq!(
        seen(&seen_by_upstream, "via"),
        ["1.1 edge", "1.1 yardmaster"]
    );
}

#[tokio::test]
async fn listener_without_forwarding_headers_passes_them_on_untouched() {
    let upstream = HttpUpstream::start("one").await;
    let gateway = TestGateway::start(&format!(
        r#"
listeners:
  - name: web
    listen: 127.0.0.1:0
    forwarded_headers: false
    routes:
      - forward: {{ cluster: web }}
clusters:
  - name: web
    protocol: http1
    endpoints: [{}]
"#,
        upstream.addr()
    ))
    .await;

    for client in [Version::HTTP_11, Version::HTTP_2] {
        let req = Request::get("/hello")
            .header("host", "shop.example.com")
            .header("x-forwarded-for", "203.0.113.7")
            .header("via", "1.1 edge")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let reply = send(client, gateway.addr(), req).await;
        let seen_by_upstream = description(&reply);

        // What the client sent arrives as sent; this hop adds nothing.
        assert_eq!(seen(&seen_by_upstream, "x-forwarded-for"), ["203.0.113.7"]);
        assert!(seen(&seen_by_upstream, "x-forwarded-proto").is_empty());
        assert!(seen(&seen_by_upstream, "x-forwarded-host").is_empty());
        assert_eq!(seen(&seen_by_upstream, "via"), ["1.1 edge"]);
        assert!(reply.header_values("via").is_empty(), "{client:?}");
    }
}

#[tokio::test]
async fn path_prefix_and_host_are_rewritten() {
    let (gateway, _upstreams) = web_gateway().await;
    let req = Request::get("/api/users/7?full=1")
        .header("host", "shop.example.com")
        .body(Full::new(Bytes::new()))
        .unwrap();

    let seen_by_upstream = description(&send(Version::HTTP_11, gateway.addr(), req).await);

    assert_eq!(seen_by_upstream["path"], "/v2/users/7?full=1");
    assert_eq!(seen(&seen_by_upstream, "host"), ["users.internal:8080"]);
    assert_eq!(
        seen(&seen_by_upstream, "x-forwarded-host"),
        ["shop.example.com"]
    );
}

#[tokio::test]
async fn hop_by_hop_headers_are_dropped() {
    let (gateway, _upstreams) = web_gateway().await;
    // HTTP/1.1 clients only: HTTP/2 forbids connection-specific headers outright.
    for path in ["/h1/", "/h2/"] {
        let req = Request::get(path)
            .header("connection", "keep-alive, x-private")
            .header("keep-alive", "timeout=5")
            .header("proxy-connection", "keep-alive")
            .header("x-private", "secret")
            .header("te", "gzip")
            .header("x-kept", "yes")
            .body(Full::new(Bytes::new()))
            .unwrap();

        let seen_by_upstream = description(&send(Version::HTTP_11, gateway.addr(), req).await);

        let headers = seen_by_upstream["headers"].as_object().unwrap();
        for dropped in [
            "connection",
            "keep-alive",
            "proxy-connection",
            "x-private",
            "te",
        ] {
            assert!(
                !headers.contains_key(dropped),
                "{path}: {dropped} reached the upstream: {headers:?}"
            );
        }
        assert_eq!(seen(&seen_by_upstream, "x-kept"), ["yes"], "{path}");
    }
}

#[tokio::test]
async fn unmatched_request_gets_404_and_denied_request_gets_configured_status() {
    let (gateway, _upstreams) = web_gateway().await;
    for client in [Version::HTTP_11, Version::HTTP_2] {
        let missing = send(client, gateway.addr(), get("/nowhere")).await;
        assert_eq!(
            (missing.status, missing.text()),
            (StatusCode::NOT_FOUND, "no route for /nowhere\n"),
            "{client:?}"
        );

        let denied = send(client, gateway.addr(), get("/blocked/page")).await;
        assert_eq!(
            (denied.status.as_u16(), denied.text()),
            (451, "blocked by policy\n"),
            "{client:?}"
        );
    }
}

#[tokio::test]
async fn unreachable_cluster_gets_503_naming_cluster_and_endpoint() {
    let dead_port = RefusingPort::bind();
    let dead = dead_port.addr();
    let gateway = TestGateway::start(&format!(
        r#"
listeners:
  - name: web
    listen: 127.0.0.1:0
    routes:
      - match: {{ path: {{ prefix: /h1 }} }}
        forward: {{ cluster: dead1 }}
      - forward: {{ cluster: dead2 }}
clusters:
  - name: dead1
    protocol: http1
    endpoints: [{dead}]
  - name: dead2
    protocol: http2
    endpoints: [{dead}]
"#
    ))
    .await;

    for (path, cluster) in [("/h1", "dead1"), ("/h2", "dead2")] {
        let reply = send(Version::HTTP_11, gateway.addr(), get(path)).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
        let expected = format!("cluster \"{cluster}\": connecting to {dead} failed: ");
        assert!(
            reply.text().starts_with(&expected),
            "{path}: {:?} does not start with {expected:?}",
            reply.text()
        );
    }
}

/// Opens a connection of `version` to `addr` and sends `req`, returning the response head
/// while the request body may still be streaming.
async fn send_streaming(
    version: Version,
    addr: SocketAddr,
    req: Request<ChannelBody>,
) -> Response<Incoming> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let response = async {
        if version == Version::HTTP_2 {
            let (mut sender, connection) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake(TokioIo::new(stream))
                .await?;
            tokio::spawn(connection);
            sender.send_request(req).await
        } else {
            let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(connection);
            sender.send_request(req).await
        }
    };
    timeout(HANG_LIMIT, response)
        .await
        .expect("response head in time")
        .expect("response head")
}

fn streaming_echo(
    version: Version,
    addr: SocketAddr,
    path: &str,
) -> (
    Request<ChannelBody>,
    mpsc::Sender<Result<Frame<Bytes>, Infallible>>,
) {
    let (tx, rx) = mpsc::channel(4);
    let uri = match version {
        Version::HTTP_2 => format!("http://{addr}{path}"),
        _ => path.to_owned(),
    };
    let req = Request::post(uri)
        .header("host", addr.to_string())
        .header("content-type", "application/octet-stream")
        .body(StreamBody::new(ReceiverStream::new(rx)))
        .unwrap();
    (req, tx)
}

/// Reads response data until `want` bytes have come.
async fn read_exactly(body: &mut Incoming, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < want {
        let frame = timeout(HANG_LIMIT, body.frame())
            .await
            .expect("data in time")
            .expect("body still open")
            .expect("body frame");
        if let Ok(data) = frame.into_data() {
            got.extend_from_slice(&data);
        }
    }
    got
}

/// Each chunk is echoed back by the upstream before the client sends the next one: a
/// gateway that buffered either body would deadlock here.
#[tokio::test]
async fn bodies_stream_both_ways_chunk_by_chunk() {
    let (gateway, _upstreams) = web_gateway().await;
    let cases = [
        (Version::HTTP_11, "/h1/echo"),
        (Version::HTTP_11, "/h2/echo"),
        (Version::HTTP_2, "/h1/echo"),
        (Version::HTTP_2, "/h2/echo"),
    ];

    for (client, path) in cases {
        let (req, tx) = streaming_echo(client, gateway.addr(), path);
        tx.send(Ok(Frame::data(Bytes::from_static(b"chunk 0;"))))
            .await
            .unwrap();
        let response = send_streaming(client, gateway.addr(), req).await;
        assert_eq!(response.status(), StatusCode::OK, "{client:?} {path}");
        let mut body = response.into_body();
        for i in 0..5 {
            if i > 0 {
                let chunk = format!("chunk {i};");
                tx.send(Ok(Frame::data(Bytes::from(chunk)))).await.unwrap();
            }
            let echoed = read_exactly(&mut body, 8).await;
            assert_eq!(
                echoed,
                format!("chunk {i};").as_bytes(),
                "{client:?} {path}"
            );
        }
        drop(tx);
        // The end may come as an empty DATA frame with END_STREAM: nothing more to read.
        let rest = timeout(HANG_LIMIT, body.collect())
            .await
            .expect("end in time")
            .expect("clean end")
            .to_bytes();
        assert!(rest.is_empty(), "{client:?} {path}: extra bytes {rest:?}");
    }
}

#[tokio::test]
async fn upload_of_8_mib_is_echoed_intact() {
    let (gateway, _upstreams) = web_gateway().await;
    let payload: Bytes = (0..8 * MIB)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let cases = [
        (Version::HTTP_11, "/h1/echo"),
        (Version::HTTP_2, "/h2/echo"),
    ];

    for (client, path) in cases {
        let (req, tx) = streaming_echo(client, gateway.addr(), path);
        let upload = payload.clone();
        let writer = tokio::spawn(async move {
            for chunk in upload.chunks(64 * 1024) {
                let frame = Frame::data(Bytes::copy_from_slice(chunk));
                if tx.send(Ok(frame)).await.is_err() {
                    return;
                }
            }
        });
        let response = send_streaming(client, gateway.addr(), req).await;
        let echoed = timeout(HANG_LIMIT, response.into_body().collect())
            .await
            .expect("echo in time")
            .expect("echoed body")
            .to_bytes();
        writer.await.unwrap();

        assert_eq!(echoed.len(), 8 * MIB, "{client:?} {path}");
        assert!(echoed == payload, "{client:?} {path}: payload changed");
    }
}

#[tokio::test]
async fn websocket_upgrade_echoes_text_and_binary_messages() {
    let upstream = WebSocketUpstream::start().await;
    let gateway = TestGateway::start(&format!(
        r#"
listeners:
  - name: web
    listen: 127.0.0.1:0
    routes:
      - forward: {{ cluster: ws }}
clusters:
  - name: ws
    protocol: http1
    endpoints: [{}]
"#,
        upstream.addr()
    ))
    .await;

    let stream = TcpStream::connect(gateway.addr()).await.unwrap();
    let url = format!("ws://{}/chat", gateway.addr());
    let (mut socket, response) = timeout(HANG_LIMIT, tokio_tungstenite::client_async(url, stream))
        .await
        .expect("handshake in time")
        .expect("WebSocket handshake through the gateway");
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);

    let messages = [
        Message::text("hello"),
        Message::binary(vec![0_u8, 1, 2, 255]),
        Message::text("ünïcode ✓"),
        Message::binary(vec![7_u8; 100_000]),
    ];
    for message in messages {
        socket.send(message.clone()).await.unwrap();
        let echoed = timeout(HANG_LIMIT, socket.next())
            .await
            .expect("echo in time")
            .expect("socket open")
            .expect("message");
        assert_eq!(echoed, message);
    }
    socket.close(None).await.unwrap();
    let closed = timeout(HANG_LIMIT, socket.next())
        .await
        .expect("close in time");
    assert!(
        matches!(closed, Some(Ok(Message::Close(_))) | None),
        "{closed:?}"
    );
}
