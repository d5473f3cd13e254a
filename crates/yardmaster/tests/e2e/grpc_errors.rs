//! Errors a gRPC client sees through the gateway: the gateway's own refusals, unreachable
//! and misbehaving upstreams, deadlines and cancellation. Every one is a gRPC status with
//! an exact code and message, never a bare HTTP error and never a hang.

// Test helpers outside `#[test]` functions (scripted upstreams, raw clients) panic on setup
// failure like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::Reason;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{timeout, Instant};
use tonic::{Code, Status};
use yardmaster_demo::pb::{EchoReply, EchoRequest};
use yardmaster_test_support::{
    eventually, grpc_frame, one_route_to, RawH2Client, RawResponse, TestGateway, TestUpstream,
    HANG_LIMIT,
};

const UNARY: &str = "/yardmaster.demo.v1.Echo/Unary";

/// The status message when the upstream connection breaks after the response head.
const CONNECTION_LOST: &str =
    "upstream connection lost mid-call: error reading a body from connection";

fn request(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.to_owned(),
        ..EchoRequest::default()
    }
}

/// Sends `Echo/Unary` with `request` and `headers` through `gateway` on a raw HTTP/2
/// connection, and reads the whole response.
async fn raw_unary(
    gateway: &TestGateway,
    request: &EchoRequest,
    headers: &[(&'static str, &str)],
) -> RawResponse {
    let mut client = RawH2Client::connect(gateway.addr()).await;
    let mut req = client.grpc_request(UNARY, grpc_frame(&request.encode_to_vec()));
    for (name, value) in headers {
        req.headers_mut().insert(*name, value.parse().unwrap());
    }
    timeout(HANG_LIMIT, client.send(req))
        .await
        .expect("gateway answered in time")
}

/// Asserts `response` is a status the gateway made: trailers-only, HTTP 200,
/// `application/grpc`, and exactly this `grpc-status` and (percent-encoded) `grpc-message`.
fn assert_gateway_status(response: &RawResponse, code: Code, message: &str) {
    assert_eq!(response.status, http::StatusCode::OK, "{response:?}");
    assert_eq!(response.headers["content-type"], "application/grpc");
    assert!(
        response.is_trailers_only(),
        "not trailers-only: {response:?}"
    );
    let code = (code as i32).to_string();
    assert_eq!(
        (response.grpc_status(), response.grpc_message()),
        (Some(code.as_str()), Some(message))
    );
}

fn assert_status(status: &Status, code: Code, message: &str) {
    assert_eq!(
        (status.code(), status.message()),
        (code, message),
        "{status:?}"
    );
}

/// The address of a port that was just free: connecting to it is refused.
async fn refusing_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
async fn call_matching_no_route_gets_unimplemented() {
    let upstream = TestUpstream::echo("users").await;
    let gateway = TestGateway::start(&format!(
        r#"
listeners:
  - name: public
    listen: 127.0.0.1:0
    routes:
      - match: {{ service: other.v1.Other }}
        forward: {{ cluster: users }}
clusters:
  - name: users
    endpoints: [{}]
"#,
        upstream.addr()
    ))
    .await;

    let raw = raw_unary(&gateway, &request("hi"), &[]).await;
    let status = gateway
        .echo_client()
        .await
        .unary(request("hi"))
        .await
        .unwrap_err();

    let message = "no route for /yardmaster.demo.v1.Echo/Unary";
    assert_gateway_status(&raw, Code::Unimplemented, message);
    assert_status(&status, Code::Unimplemented, message);
    assert_eq!(upstream.stats().calls(), 0);
}

/// The first route denies `Unary` with its own status and a message that needs
/// percent-encoding; the second denies everything else with the defaults.
#[tokio::test]
async fn deny_route_answers_with_its_configured_status_and_message() {
    let gateway = TestGateway::start(
        r#"
listeners:
  - name: public
    listen: 127.0.0.1:0
    routes:
      - match: { method: Unary }
        deny:
          grpc_status: unavailable
          message: "maintenance: 100% closed until 18:00"
      - deny: {}
clusters:
  - name: unused
    endpoints: [127.0.0.1:9]
"#,
    )
    .await;
    let mut client = gateway.echo_client().await;

    let raw = raw_unary(&gateway, &request("hi"), &[]).await;
    let unary = client.unary(request("hi")).await.unwrap_err();
    let stream = client.server_stream(request("hi")).await.unwrap_err();

    assert_gateway_status(
        &raw,
        Code::Unavailable,
        "maintenance: 100%25 closed until 18:00",
    );
    assert_status(
        &unary,
        Code::Unavailable,
        "maintenance: 100% closed until 18:00",
    );
    assert_status(&stream, Code::PermissionDenied, "denied by gateway policy");
}

#[tokio::test]
async fn refused_connection_gets_unavailable_naming_the_cluster() {
    let addr = refusing_addr().await;
    let gateway = TestGateway::start(&format!(
        r#"
listeners:
  - name: public
    listen: 127.0.0.1:0
    routes:
      - forward: {{ cluster: users }}
clusters:
  - name: users
    endpoints: [{addr}]
"#
    ))
    .await;
    let message = format!(
        "cluster \"users\": connecting to {addr} failed: Connection refused (os error 111)"
    );

    // Twice: a failed connect must not leave the endpoint broken or hanging.
    for _ in 0..2 {
        let raw = raw_unary(&gateway, &request("hi"), &[]).await;
        assert_gateway_status(&raw, Code::Unavailable, &message);
    }
    let status = timeout(HANG_LIMIT, gateway.echo_client().await.unary(request("hi")))
        .await
        .expect("answered in time")
        .unwrap_err();
    assert_status(&status, Code::Unavailable, &message);
}

/// How a [`ScriptedUpstream`] ends every call.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ending {
    /// RST_STREAM with this reason instead of a response.
    ResetAtOnce(Reason),
    /// Response headers and one message; on `proceed`, RST_STREAM with this reason.
    ResetAfterOneMessage(Reason),
    /// Response headers and one message; on `proceed`, the TCP connection closes.
    CloseAfterOneMessage,
}

/// An h2c upstream that misbehaves at the HTTP/2 level, frame by frame, as `ending` says.
/// After its first message it waits for [`ScriptedUpstream::proceed`], so the test knows
/// the message reached the client before the stream breaks.
pub(crate) struct ScriptedUpstream {
    pub(crate) addr: SocketAddr,
    proceed: watch::Sender<bool>,
    _connections: JoinSet<()>,
}

/// Reads a `ServerStream` call through the gateway to an upstream that sends one message
/// and then ends as `ending`: the first read, and the read after the upstream went on.
async fn one_reply_then(
    ending: Ending,
) -> (
    Result<Option<EchoReply>, Status>,
    Result<Option<EchoReply>, Status>,
) {
    let upstream = ScriptedUpstream::start(ending).await;
    let gateway = TestGateway::start(&one_route_to(&[upstream.addr])).await;
    let mut replies = gateway
        .echo_client()
        .await
        .server_stream(request("hi"))
        .await
        .expect("response head passed through")
        .into_inner();

    let first = timeout(HANG_LIMIT, replies.message()).await.unwrap();
    upstream.proceed();
    let end = timeout(HANG_LIMIT, replies.message()).await.unwrap();
    (first, end)
}

/// The one message a [`ScriptedUpstream`] sends.
fn first_reply() -> EchoReply {
    EchoReply {
        message: "first".to_owned(),
        served_by: "scripted".to_owned(),
        ..EchoReply::default()
    }
}

impl ScriptedUpstream {
    pub(crate) async fn start(ending: Ending) -> ScriptedUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (proceed, proceed_rx) = watch::channel(false);
        let mut connections = JoinSet::new();
        connections.spawn(async move {
            let mut served = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                served.spawn(serve_scripted(stream, ending, proceed_rx.clone()));
            }
        });
        ScriptedUpstream {
            addr,
            proceed,
            _connections: connections,
        }
    }

    pub(crate) fn proceed(&self) {
        self.proceed.send_replace(true);
    }
}

async fn serve_scripted(stream: TcpStream, ending: Ending, proceed: watch::Receiver<bool>) {
    // Declared before the connection so the connection drops first: the streams' handles
    // dropping afterwards cannot put a reset on the wire.
    let mut calls = JoinSet::new();
    let Ok(mut connection) = h2::server::handshake(stream).await else {
        return;
    };
    let closes = matches!(ending, Ending::CloseAfterOneMessage);
    let mut close = proceed.clone();
    loop {
        tokio::select! {
            accepted = connection.accept() => {
                let Some(Ok((_request, respond))) = accepted else {
                    return;
                };
                calls.spawn(answer_scripted(respond, ending, proceed.clone()));
            }
            _ = close.wait_for(|go| *go), if closes => return,
        }
    }
}

async fn answer_scripted(
    mut respond: SendResponse<Bytes>,
    ending: Ending,
    mut proceed: watch::Receiver<bool>,
) {
    let reset = match ending {
        Ending::ResetAtOnce(reason) => return respond.send_reset(reason),
        Ending::ResetAfterOneMessage(reason) => Some(reason),
        Ending::CloseAfterOneMessage => None,
    };
    let head = http::Response::builder()
        .header("content-type", "application/grpc")
        .body(())
        .unwrap();
    let mut stream = respond.send_response(head, false).unwrap();
    stream
        .send_data(grpc_frame(&first_reply().encode_to_vec()), false)
        .unwrap();
    let _ = proceed.wait_for(|go| *go).await;
    if let Some(reason) = reset {
        stream.send_reset(reason);
    }
    // Holding the stream: dropping it would reset it with CANCEL.
    std::future::pending::<()>().await;
}

/// The RST_STREAM codes an upstream may send and the gRPC codes the gRPC spec maps them to.
pub(crate) const RESETS: [(Reason, Code); 5] = [
    (Reason::REFUSED_STREAM, Code::Unavailable),
    (Reason::CANCEL, Code::Cancelled),
    (Reason::INTERNAL_ERROR, Code::Internal),
    (Reason::PROTOCOL_ERROR, Code::Internal),
    (Reason::ENHANCE_YOUR_CALM, Code::ResourceExhausted),
];

#[tokio::test]
async fn upstream_reset_before_response_maps_to_grpc_code() {
    for (reason, code) in RESETS {
        let upstream = ScriptedUpstream::start(Ending::ResetAtOnce(reason)).await;
        let gateway = TestGateway::start(&one_route_to(&[upstream.addr])).await;

        let raw = raw_unary(&gateway, &request("hi"), &[]).await;

        let message = format!(
            "cluster \"upstream\": request to {} failed: http2 error: stream error received: \
             {reason}",
            upstream.addr
        );
        assert_gateway_status(&raw, code, &message);
    }
}

#[tokio::test]
async fn upstream_reset_mid_response_maps_to_grpc_code_after_delivered_message() {
    for (reason, code) in RESETS {
        let (first, end) = one_reply_then(Ending::ResetAfterOneMessage(reason)).await;

        assert_eq!(first.unwrap(), Some(first_reply()));
        let message = format!("upstream reset the stream: {reason}");
        assert_status(&end.unwrap_err(), code, &message);
    }
}

#[tokio::test]
async fn upstream_connection_closed_mid_response_gives_unavailable() {
    let (first, end) = one_reply_then(Ending::CloseAfterOneMessage).await;

    assert_eq!(first.unwrap(), Some(first_reply()));
    assert_status(&end.unwrap_err(), Code::Unavailable, CONNECTION_LOST);
}

/// An upstream that answers the HTTP/2 preface with text: a protocol error, reported as
/// a gRPC status, and the next call gets the same answer instead of a hang.
#[tokio::test]
async fn garbage_from_upstream_gives_internal_not_bad_gateway() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut garbage = JoinSet::new();
    garbage.spawn(async move {
        let mut connections = JoinSet::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            connections.spawn(async move {
                stream
                    .write_all(b"this is not HTTP/2 at all\r\n\r\n")
                    .await?;
                // Held open until the gateway gives up on it.
                let mut sink = Vec::new();
                stream.read_to_end(&mut sink).await
            });
        }
    });
    let gateway = TestGateway::start(&one_route_to(&[addr])).await;

    let message = format!(
        "cluster \"upstream\": request to {addr} failed: http2 error: connection error \
         detected: frame with invalid size"
    );
    for _ in 0..2 {
        let raw = raw_unary(&gateway, &request("hi"), &[]).await;
        assert_gateway_status(&raw, Code::Internal, &message);
    }
}

/// The upstream would answer after 10 s; the client allows 200 ms. The gateway answers
/// DEADLINE_EXCEEDED itself and resets the upstream stream.
#[tokio::test]
async fn deadline_shorter_than_upstream_delay_gives_deadline_exceeded() {
    let upstream = TestUpstream::echo("users").await;
    let gateway = TestGateway::start(&one_route_to(&[upstream.addr()])).await;
    let slow = EchoRequest {
        delay_ms: 10_000,
        ..request("slow")
    };

    let started = Instant::now();
    let raw = raw_unary(&gateway, &slow, &[("grpc-timeout", "200m")]).await;
    let elapsed = started.elapsed();

    assert_gateway_status(
        &raw,
        Code::DeadlineExceeded,
        "deadline exceeded before cluster \"upstream\" answered",
    );
    assert!(
        (Duration::from_millis(200)..Duration::from_secs(5)).contains(&elapsed),
        "answered after {elapsed:?}"
    );
    timeout(HANG_LIMIT, upstream.stats().wait_cancelled(1))
        .await
        .expect("the upstream saw the call cancelled");
}

/// The deadline passes while replies are streaming: the client keeps what arrived, then
/// gets DEADLINE_EXCEEDED from the gateway, and the upstream stream is reset.
#[tokio::test]
async fn deadline_mid_stream_ends_stream_with_deadline_exceeded() {
    let upstream = TestUpstream::echo("users").await;
    let gateway = TestGateway::start(&one_route_to(&[upstream.addr()])).await;
    let mut call = tonic::Request::new(EchoRequest {
        count: 1000,
        delay_ms: 50,
        ..request("tick")
    });
    call.set_timeout(Duration::from_millis(500));

    let mut replies = gateway
        .echo_client()
        .await
        .server_stream(call)
        .await
        .expect("server stream opens")
        .into_inner();
    let mut indexes = Vec::new();
    let status = loop {
        match timeout(HANG_LIMIT, replies.message()).await.unwrap() {
            Ok(Some(reply)) => indexes.push(reply.index),
            Ok(None) => panic!("stream ended without a status after {indexes:?}"),
            Err(status) => break status,
        }
    };

    assert_status(
        &status,
        Code::DeadlineExceeded,
        "deadline exceeded at the gateway",
    );
    assert!(!indexes.is_empty() && indexes.len() < 20, "{indexes:?}");
    assert_eq!(indexes, (0..indexes.len() as u32).collect::<Vec<_>>());
    timeout(HANG_LIMIT, upstream.stats().wait_cancelled(1))
        .await
        .expect("the upstream saw the call cancelled");
}

#[tokio::test]
async fn dropped_unary_call_cancels_the_upstream_call() {
    let upstream = TestUpstream::echo("users").await;
    let gateway = TestGateway::start(&one_route_to(&[upstream.addr()])).await;
    let mut client = gateway.echo_client().await;

    let call = tokio::spawn(async move {
        client
            .unary(EchoRequest {
                delay_ms: 10_000,
                ..request("abandoned")
            })
            .await
    });
    eventually("the upstream to get the call", || {
        upstream.stats().calls() == 1
    })
    .await;
    call.abort();

    timeout(HANG_LIMIT, upstream.stats().wait_cancelled(1))
        .await
        .expect("the upstream saw the call cancelled");
    assert_eq!(upstream.stats().cancelled(), 1);
}

/// The client reads one reply and drops the stream (RST_STREAM CANCEL on the wire).
#[tokio::test]
async fn dropped_server_stream_cancels_the_upstream_call() {
    let upstream = TestUpstream::echo("users").await;
    let gateway = TestGateway::start(&one_route_to(&[upstream.addr()])).await;
    let mut client = gateway.echo_client().await;

    let mut replies = client
        .server_stream(EchoRequest {
            count: 1000,
            delay_ms: 20,
            ..request("tick")
        })
        .await
        .expect("server stream opens")
        .into_inner();
    let first = timeout(HANG_LIMIT, replies.message()).await.unwrap();
    drop(replies);

    assert_eq!(first.unwrap().map(|reply| reply.index), Some(0));
    timeout(HANG_LIMIT, upstream.stats().wait_cancelled(1))
        .await
        .expect("the upstream saw the call cancelled");
    // The connection is still good for the next call.
    let reply = timeout(HANG_LIMIT, client.unary(request("after")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.into_inner().message, "after");
}

/// The upstream process dies while it streams: the client keeps the replies it got, then
/// UNAVAILABLE, and the next call is refused promptly.
#[tokio::test]
async fn killed_upstream_mid_stream_gives_unavailable_after_delivered_replies() {
    let upstream = TestUpstream::echo("users").await;
    let addr = upstream.addr();
    let gateway = TestGateway::start(&one_route_to(&[addr])).await;
    let mut client = gateway.echo_client().await;
    let mut replies = client
        .server_stream(EchoRequest {
            count: 1000,
            delay_ms: 20,
            ..request("tick")
        })
        .await
        .expect("server stream opens")
        .into_inner();

    let mut indexes = Vec::new();
    while indexes.len() < 3 {
        let reply = timeout(HANG_LIMIT, replies.message()).await.unwrap();
        indexes.push(reply.unwrap().unwrap().index);
    }
    upstream.kill().await;
    let status = loop {
        match timeout(HANG_LIMIT, replies.message()).await.unwrap() {
            Ok(Some(reply)) => indexes.push(reply.index),
            Ok(None) => panic!("stream ended without a status after {indexes:?}"),
            Err(status) => break status,
        }
    };

    assert_eq!(indexes, (0..indexes.len() as u32).collect::<Vec<_>>());
    assert_status(&status, Code::Unavailable, CONNECTION_LOST);
    let next = timeout(HANG_LIMIT, client.unary(request("after")))
        .await
        .expect("next call answered in time")
        .unwrap_err();
    assert_status(
        &next,
        Code::Unavailable,
        &format!(
            "cluster \"upstream\": connecting to {addr} failed: Connection refused (os error 111)"
        ),
    );
}
