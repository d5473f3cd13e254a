//! Byte-exact gRPC passthrough: metadata, response headers and trailers come out as they
//! went in, only hop-by-hop headers are dropped, deadlines shrink on the way, and flow
//! control reaches from the client back to the upstream.

// Test helpers outside `#[test]` functions (scripted upstreams, raw clients) panic on setup
// failure like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::client::conn::http2 as client_http2;
use hyper::server::conn::http2 as server_http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::timeout;
use yardmaster_core::{grpc, grpc_timeout, GrpcCode};
use yardmaster_test_support::{
    eventually, grpc_frame, http1_send, one_route_to, RawBody, RawGrpcUpstream, RawH2Client,
    RawResponse, TestGateway, HANG_LIMIT,
};

const UNARY: &str = "/yardmaster.demo.v1.Echo/Unary";

/// A raw upstream that answers every call trailers-only with OK and hands the request
/// headers it got to the returned receiver.
async fn recording_upstream() -> (RawGrpcUpstream, mpsc::UnboundedReceiver<HeaderMap>) {
    let (seen, seen_rx) = mpsc::unbounded_channel();
    let upstream = RawGrpcUpstream::start(move |req| {
        let _ = seen.send(req.headers().clone());
        Response::builder()
            .header("content-type", "application/grpc")
            .header(grpc::STATUS_HEADER, "0")
            .body(RawBody::empty())
            .unwrap()
    })
    .await;
    (upstream, seen_rx)
}

async fn next_headers(seen: &mut mpsc::UnboundedReceiver<HeaderMap>) -> HeaderMap {
    timeout(HANG_LIMIT, seen.recv())
        .await
        .expect("the upstream got the call in time")
        .expect("the upstream is running")
}

/// Sends `req` on a fresh raw HTTP/2 connection to `addr`.
async fn raw_send(
    addr: SocketAddr,
    build: impl FnOnce(&RawH2Client) -> Request<Full<Bytes>>,
) -> RawResponse {
    let mut client = RawH2Client::connect(addr).await;
    let req = build(&client);
    timeout(HANG_LIMIT, client.send(req))
        .await
        .expect("answered in time")
}

fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a [u8]> {
    headers
        .get_all(name)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect()
}

/// Request metadata as a client may send it: repeated keys in order, dots and
/// underscores in names, empty and long values, `-bin` values with and without padding.
fn custom_metadata() -> Vec<(&'static str, String)> {
    vec![
        ("x-tenant", "acme".to_owned()),
        ("x-multi", "one".to_owned()),
        ("x-multi", "two".to_owned()),
        ("x-multi", "three".to_owned()),
        ("x-dotted.key_name", "v.1_2".to_owned()),
        ("x-empty", String::new()),
        ("x-long", "L".repeat(4096)),
        ("x-trace-bin", "AAEC/w==".to_owned()),
        ("x-trace-bin", "3q2+7w".to_owned()),
        ("grpc-accept-encoding", "identity,deflate,gzip".to_owned()),
        ("user-agent", "grpc-raw-test/1.0".to_owned()),
    ]
}

#[tokio::test]
async fn request_metadata_reaches_the_upstream_unchanged() {
    let (upstream, mut seen) = recording_upstream().await;
    let gateway = TestGateway::start(&one_route_to(&[upstream.addr()])).await;
    let metadata = custom_metadata();

    let response = raw_send(gateway.addr(), |client| {
        let mut req = client.grpc_request(UNARY, grpc_frame(b"request"));
        for (name, value) in &metadata {
            req.headers_mut()
                .append(*name, HeaderValue::from_str(value).unwrap());
        }
        req
    })
    .await;
    let headers = next_headers(&mut seen).await;

    assert_eq!(response.grpc_status(), Some("0"));
    let mut names: Vec<&str> = metadata.iter().map(|(name, _)| *name).collect();
    names.dedup();
    for name in names {
        let sent: Vec<&[u8]> = metadata
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, value)| value.as_bytes())
            .collect();
        assert_eq!(values(&headers, name), sent, "metadata {name}");
    }
    assert_eq!(values(&headers, "te"), [b"trailers"]);
    assert_eq!(values(&headers, "content-type"), [b"application/grpc"]);
}

/// Response metadata an upstream may send: repeated keys, `-bin` values, a
/// `grpc-message` percent-encoded (not even canonically), status details.
fn upstream_response() -> Response<RawBody> {
    let mut trailers = HeaderMap::new();
    for (name, value) in [
        ("grpc-status", "3"),
        ("grpc-message", "bad%20input: %C3%BC is 100%25 wrong%0A"),
        ("grpc-status-details-bin", "CAMSCWJhZCBpbnB1dA"),
        ("x-trail", "first"),
        ("x-trail", "second"),
        ("x-trail-bin", "AP8A/w=="),
    ] {
        trailers.append(name, HeaderValue::from_static(value));
    }
    Response::builder()
        .header("content-type", "application/grpc+proto")
        .header("grpc-encoding", "identity")
        .header("x-resp", "1")
        .header("x-resp", "2")
        .header("x-resp-bin", "3q2+7w==")
        .body(RawBody::new(
            [grpc_frame(b"\x0a\x03one"), grpc_frame(b"")],
            trailers,
        ))
        .unwrap()
}

/// The same response read straight from the upstream and through the gateway is identical
/// but for the headers each hop adds (`date`, `via`).
#[tokio::test]
async fn response_headers_and_trailers_reach_the_client_byte_exact() {
    let upstream = RawGrpcUpstream::start(|_| upstream_response()).await;
    let gateway = TestGateway::start(&one_route_to(&[upstream.addr()])).await;
    let call = |client: &RawH2Client| client.grpc_request(UNARY, grpc_frame(b"request"));

    let direct = raw_send(upstream.addr(), call).await;
    let proxied = raw_send(gateway.addr(), call).await;

    assert_eq!(proxied.headers["via"], "2 yardmaster");
    assert_eq!(
        proxied.clone().without_hop_headers(),
        direct.without_hop_headers()
    );
    let trailers = proxied.trailers.expect("trailers");
    assert_eq!(
        trailers[grpc::MESSAGE_HEADER],
        "bad%20input: %C3%BC is 100%25 wrong%0A"
    );
    assert_eq!(values(&trailers, "x-trail"), [&b"first"[..], b"second"]);
    assert_eq!(trailers["x-trail-bin"], "AP8A/w==");
    assert_eq!(values(&proxied.headers, "x-resp"), [b"1", b"2"]);
}

#[tokio::test]
async fn trailers_only_response_from_the_upstream_stays_trailers_only() {
    let upstream = RawGrpcUpstream::start(|_| {
        Response::builder()
            .header("content-type", "application/grpc")
            .header("grpc-status", "5")
            .header("grpc-message", "user%2042 not found")
            .header("x-lookup-bin", "AQID")
            .body(RawBody::empty())
            .unwrap()
    })
    .await;
    let gateway = TestGateway::start(&one_route_to(&[upstream.addr()])).await;
    let call = |client: &RawH2Client| client.grpc_request(UNARY, grpc_frame(b"request"));

    let direct = raw_send(upstream.addr(), call).await;
    let proxied = raw_send(gateway.addr(), call).await;

    assert!(proxied.is_trailers_only(), "{proxied:?}");
    assert_eq!(
        (proxied.grpc_status(), proxied.grpc_message()),
        (Some("5"), Some("user%2042 not found"))
    );
    assert_eq!(proxied.without_hop_headers(), direct.without_hop_headers());
}

/// A gRPC call over HTTP/1.1 (where hop-by-hop headers can be written) forwarded to the
/// HTTP/2 upstream.
fn http1_grpc_request(headers: &[(&'static str, &'static str)]) -> Request<Full<Bytes>> {
    let mut req = Request::post(UNARY)
        .header("content-type", "application/grpc")
        .body(Full::new(grpc_frame(b"request")))
        .unwrap();
    for (name, value) in headers {
        req.headers_mut()
            .append(*name, HeaderValue::from_static(value));
    }
    req
}

#[tokio::test]
async fn hop_by_hop_request_headers_are_not_forwarded() {
    let (upstream, mut seen) = recording_upstream().await;
    let gateway = TestGateway::start(&one_route_to(&[upstream.addr()])).await;

    let reply = http1_send(
        gateway.addr(),
        http1_grpc_request(&[
            ("connection", "keep-alive, x-hop-private"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("x-hop-private", "secret"),
            ("upgrade", "h2c"),
            ("transfer-encoding", "chunked"),
            ("te", "trailers"),
            ("x-kept", "yes"),
        ]),
    )
    .await;
    let headers = next_headers(&mut seen).await;

    assert_eq!(reply.header_values(grpc::STATUS_HEADER), ["0"]);
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "x-hop-private",
        "upgrade",
        "transfer-encoding",
    ] {
        assert!(
            !headers.contains_key(name),
            "{name} was forwarded: {headers:?}"
        );
    }
    assert_eq!(values(&headers, "te"), [b"trailers"]);
    assert_eq!(values(&headers, "x-kept"), [b"yes"]);

    // `te` with anything but `trailers` is hop-by-hop too.
    http1_send(gateway.addr(), http1_grpc_request(&[("te", "gzip")])).await;
    let headers = next_headers(&mut seen).await;
    assert!(!headers.contains_key("te"), "te was forwarded: {headers:?}");
}

/// The upstream gets the time that is left, never more than the client allowed and never
/// nothing; a call without a deadline gets none.
#[tokio::test]
async fn grpc_timeout_is_forwarded_reduced() {
    let (upstream, mut seen) = recording_upstream().await;
    let gateway = TestGateway::start(&one_route_to(&[upstream.addr()])).await;

    for (sent, allowed) in [
        ("5S", Duration::from_secs(5)),
        ("3000m", Duration::from_secs(3)),
        ("1M", Duration::from_secs(60)),
    ] {
        raw_send(gateway.addr(), |client| {
            let mut req = client.grpc_request(UNARY, grpc_frame(b"request"));
            req.headers_mut()
                .insert(grpc_timeout::HEADER, HeaderValue::from_static(sent));
            req
        })
        .await;
        let headers = next_headers(&mut seen).await;

        let forwarded = headers
            .get(grpc_timeout::HEADER)
            .and_then(grpc_timeout::parse)
            .unwrap_or_else(|| panic!("no valid grpc-timeout forwarded for {sent}: {headers:?}"));
        assert!(
            forwarded <= allowed && forwarded > allowed - Duration::from_secs(1),
            "client allowed {sent}, the upstream got {forwarded:?}"
        );
    }

    raw_send(gateway.addr(), |client| {
        client.grpc_request(UNARY, grpc_frame(b"request"))
    })
    .await;
    let headers = next_headers(&mut seen).await;
    assert!(!headers.contains_key(grpc_timeout::HEADER), "{headers:?}");
}

/// Size of each message of the [`CountingUpstream`].
const MESSAGE_BYTES: usize = 64 * 1024;
/// Messages the [`CountingUpstream`] streams per call: 64 MiB in all.
const MESSAGES: usize = 1024;

/// An h2c upstream that streams [`MESSAGES`] gRPC messages per call as fast as HTTP/2 flow
/// control lets it, counting each message as it hands it to the connection.
struct CountingUpstream {
    addr: SocketAddr,
    sent: watch::Receiver<usize>,
    _task: JoinSet<()>,
}

impl CountingUpstream {
    async fn start() -> CountingUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (sent_tx, sent) = watch::channel(0);
        let mut task = JoinSet::new();
        task.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let sent = sent_tx.clone();
                let service = service_fn(move |_req: Request<Incoming>| {
                    let body = CountingBody {
                        message: grpc_frame(&vec![7; MESSAGE_BYTES]),
                        sent: sent.clone(),
                        left: MESSAGES,
                        trailers_sent: false,
                    };
                    let response = Response::builder()
                        .header("content-type", "application/grpc")
                        .body(body)
                        .unwrap();
                    async move { Ok::<_, Infallible>(response) }
                });
                let connection = server_http2::Builder::new(TokioExecutor::new())
                    .timer(TokioTimer::new())
                    .serve_connection(TokioIo::new(stream), service);
                connections.spawn(async move {
                    let _ = connection.await;
                });
            }
        });
        CountingUpstream {
            addr,
            sent,
            _task: task,
        }
    }
}

/// hyper polls a response body for its next frame only once the previous one fits the
/// peer's flow-control window, so `sent` is what the downstream side has let through.
struct CountingBody {
    message: Bytes,
    sent: watch::Sender<usize>,
    left: usize,
    trailers_sent: bool,
}

impl Body for CountingBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left > 0 {
            self.left -= 1;
            self.sent.send_modify(|sent| *sent += 1);
            return Poll::Ready(Some(Ok(Frame::data(self.message.clone()))));
        }
        if self.trailers_sent {
            return Poll::Ready(None);
        }
        self.trailers_sent = true;
        let mut trailers = HeaderMap::new();
        grpc::insert_status(&mut trailers, GrpcCode::Ok, "");
        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
    }
}

/// A client that opens a 64 MiB server stream and reads nothing: the upstream must stall
/// after a few windows' worth (client window, the gateway's windows), not run to the end
/// into the gateway's memory. Then the client reads everything.
#[tokio::test]
async fn slow_reader_stalls_the_upstream_instead_of_being_buffered() {
    let upstream = CountingUpstream::start().await;
    let gateway = TestGateway::start(&one_route_to(&[upstream.addr])).await;
    let stream = TcpStream::connect(gateway.addr()).await.unwrap();
    // As gRPC clients do: with Nagle, each small WINDOW_UPDATE would wait for the ACK
    // of the one before, which the gateway delays (tens of ms per 32 KiB read).
    stream.set_nodelay(true).unwrap();
    let (mut sender, connection) = client_http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .initial_stream_window_size(64 * 1024)
        .initial_connection_window_size(64 * 1024)
        .handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let mut driver = JoinSet::new();
    driver.spawn(async move {
        let _ = connection.await;
    });
    let req = Request::post(format!(
        "http://{}/yardmaster.demo.v1.Echo/ServerStream",
        gateway.addr()
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .body(Full::new(grpc_frame(b"")))
    .unwrap();
    let response = timeout(HANG_LIMIT, sender.send_request(req))
        .await
        .unwrap()
        .unwrap();

    // Upstream stream window (2 MiB) + client window (64 KiB) + a message or two held per
    // hop is about 36 messages; a gateway that buffers would take all 1024 at once.
    let bound = 160;
    let mut sent = upstream.sent.clone();
    eventually("the upstream to start streaming", || *sent.borrow() >= 16).await;
    let ran_ahead = timeout(Duration::from_secs(1), sent.wait_for(|n| *n > bound)).await;
    assert!(
        ran_ahead.is_err(),
        "the upstream sent {} of {MESSAGES} messages to a client that read nothing",
        *upstream.sent.borrow()
    );

    let collected = timeout(HANG_LIMIT, response.into_body().collect())
        .await
        .expect("the rest streamed in time")
        .unwrap();
    assert_eq!(*upstream.sent.borrow(), MESSAGES);
    let trailers = collected.trailers().cloned().expect("trailers");
    assert_eq!(GrpcCode::from_headers(&trailers), Some(GrpcCode::Ok));
    assert_eq!(collected.to_bytes().len(), MESSAGES * (5 + MESSAGE_BYTES));
}
