//! Fan-out: one call to every healthy endpoint of a cluster, replies merged (or the first
//! success), failures reported in trailers, endpoints followed as they come and go.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::timeout;
use tonic::Code;
use yardmaster_demo::pb::EchoRequest;
use yardmaster_test_support::{RefusingPort, TestGateway, TestUpstream, HANG_LIMIT};

use crate::grpc_errors::{Ending, ScriptedUpstream, RESETS};

/// `ServerStream` calls fan out with merged replies (`subscribe` as given), `Unary` calls
/// with the first successful reply, both to cluster `devices`.
async fn gateway(endpoints: &[SocketAddr], subscribe: bool) -> TestGateway {
    let endpoints: Vec<String> = endpoints.iter().map(ToString::to_string).collect();
    TestGateway::start(&format!(
        r#"
admin:
  listen: 127.0.0.1:0
listeners:
  - name: public
    listen: 127.0.0.1:0
    routes:
      - name: all
        match: {{ service: yardmaster.demo.v1.Echo, method: ServerStream }}
        fanout: {{ cluster: devices, subscribe: {subscribe} }}
      - name: first
        match: {{ service: yardmaster.demo.v1.Echo, method: Unary }}
        fanout: {{ cluster: devices, replies: first }}
clusters:
  - name: devices
    endpoints: [{}]
"#,
        endpoints.join(", ")
    ))
    .await
}

fn stream_of(count: u32, delay_ms: u32) -> EchoRequest {
    EchoRequest {
        message: "hello".into(),
        count,
        delay_ms,
        ..Default::default()
    }
}

/// The value of one sample of `/metrics`, 0 if absent.
async fn metric(gateway: &TestGateway, route: &str, outcome: &str) -> u64 {
    let sample = format!(
        "yardmaster_fanout_endpoint_calls_total{{listener=\"public\",route=\"{route}\",target=\"devices\",outcome=\"{outcome}\"}}"
    );
    let (_, text) = gateway.admin_get("/metrics").await;
    text.lines()
        .find_map(|line| line.strip_prefix(&sample)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Reads a whole merged stream: who served each reply (sorted), and the trailers.
async fn read_all(
    gateway: &TestGateway,
    request: EchoRequest,
) -> Result<(Vec<String>, tonic::metadata::MetadataMap), tonic::Status> {
    let mut client = gateway.echo_client().await;
    let mut stream = tokio::time::timeout(HANG_LIMIT, client.server_stream(request))
        .await
        .unwrap()?
        .into_inner();
    let mut served = Vec::new();
    while let Some(reply) = tokio::time::timeout(HANG_LIMIT, stream.message())
        .await
        .unwrap()?
    {
        served.push(reply.served_by);
    }
    served.sort();
    let trailers = stream.trailers().await?.unwrap_or_default();
    Ok((served, trailers))
}

#[tokio::test]
async fn server_stream_is_merged_from_every_endpoint_and_ends_when_all_have() {
    let (a, b, c) = (
        TestUpstream::echo("a").await,
        TestUpstream::echo("b").await,
        TestUpstream::echo("c").await,
    );
    let gateway = gateway(&[a.addr(), b.addr(), c.addr()], false).await;
    let (served, trailers) = read_all(&gateway, stream_of(2, 5)).await.unwrap();
    assert_eq!(served, ["a", "a", "b", "b", "c", "c"]);
    assert!(trailers.get("x-yardmaster-fanout-failed").is_none());
    assert_eq!(metric(&gateway, "all", "ok").await, 3);
    gateway.shutdown().await;
}

#[tokio::test]
async fn failed_endpoint_is_reported_in_trailers_while_the_others_stream_on() {
    let (a, b) = (TestUpstream::echo("a").await, TestUpstream::echo("b").await);
    let dead_port = RefusingPort::bind();
    let dead = dead_port.addr();
    let gateway = gateway(&[a.addr(), dead, b.addr()], false).await;
    let (served, trailers) = read_all(&gateway, stream_of(2, 0)).await.unwrap();
    assert_eq!(served, ["a", "a", "b", "b"]);
    let failed: Vec<&str> = trailers
        .get_all("x-yardmaster-fanout-failed")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(failed, [format!("{dead} UNAVAILABLE")]);
    assert_eq!(metric(&gateway, "all", "failed").await, 1);
    assert_eq!(metric(&gateway, "all", "ok").await, 2);
    gateway.shutdown().await;
}

/// An endpoint resets its reply stream after one message: its part fails with the gRPC
/// spec's code for the reset, as a forwarded call does, and being the only endpoint, that
/// is the call's status.
#[tokio::test]
async fn endpoint_reset_mid_reply_fails_with_the_code_of_the_reset() {
    for (reason, code) in RESETS {
        let upstream = ScriptedUpstream::start(Ending::ResetAfterOneMessage(reason)).await;
        let gateway = gateway(&[upstream.addr], false).await;
        let mut client = gateway.echo_client().await;
        let mut replies = timeout(HANG_LIMIT, client.server_stream(stream_of(1, 0)))
            .await
            .unwrap()
            .expect("the endpoint's head went through")
            .into_inner();

        let first = timeout(HANG_LIMIT, replies.message()).await.unwrap();
        upstream.proceed();
        let end = timeout(HANG_LIMIT, replies.message()).await.unwrap();

        assert!(matches!(first, Ok(Some(_))), "{reason:?}: {first:?}");
        assert_eq!(end.unwrap_err().code(), code, "{reason:?}");
        assert_eq!(metric(&gateway, "all", "failed").await, 1);
        gateway.shutdown().await;
    }
}

#[tokio::test]
async fn every_endpoint_failing_gives_the_client_the_failure() {
    let (a, b) = (TestUpstream::echo("a").await, TestUpstream::echo("b").await);
    let gateway = gateway(&[a.addr(), b.addr()], false).await;
    let failing = EchoRequest {
        fail_code: Code::FailedPrecondition as i32,
        fail_message: "not today".into(),
        ..Default::default()
    };
    let status = read_all(&gateway, failing.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().starts_with("all 2 endpoints failed; ")
            && status.message().ends_with(": not today"),
        "{status:?}"
    );
    let status = gateway
        .echo_client()
        .await
        .unary(failing)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    gateway.shutdown().await;
}

/// The slow endpoint would answer after 10 s: the first success (from the fast one)
/// answers at once, and the slow call is cancelled.
#[tokio::test]
async fn unary_call_gets_the_first_success_and_the_rest_are_cancelled() {
    let fast = TestUpstream::echo("fast").await;
    let slow = TestUpstream::echo_slow("slow", Duration::from_secs(10)).await;
    let dead_port = RefusingPort::bind();
    let dead = dead_port.addr();
    let gateway = gateway(&[slow.addr(), dead, fast.addr()], false).await;
    let mut client = gateway.echo_client().await;
    let call = client.unary(EchoRequest {
        message: "ping".into(),
        ..Default::default()
    });
    let reply = tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .expect("the slow endpoint is not waited for")
        .unwrap()
        .into_inner();
    assert_eq!(
        (reply.message.as_str(), reply.served_by.as_str()),
        ("ping", "fast")
    );
    assert_eq!(metric(&gateway, "first", "ok").await, 1);
    assert_eq!(metric(&gateway, "first", "cancelled").await, 1);
    assert_eq!(metric(&gateway, "first", "failed").await, 1);
    gateway.shutdown().await;
}

/// With `subscribe`, an endpoint added mid-stream joins the open call, and an endpoint
/// disabled mid-stream is cut from it (its upstream sees the cancel), while the merged
/// stream goes on.
#[tokio::test]
async fn subscribed_stream_follows_endpoints_joining_and_leaving() {
    let (a, b) = (TestUpstream::echo("a").await, TestUpstream::echo("b").await);
    let gateway = gateway(&[a.addr()], true).await;
    let mut client = gateway.echo_client().await;
    // 100 000 replies 10 ms apart: open for the whole test.
    let call = client.server_stream(stream_of(100_000, 10));
    let mut stream = tokio::time::timeout(HANG_LIMIT, call)
        .await
        .unwrap()
        .unwrap()
        .into_inner();
    assert_eq!(next(&mut stream).await, "a");

    let add = format!("/clusters/devices/endpoints?address={}", b.addr());
    assert_eq!(gateway.admin_post(&add).await.0, 200);
    // Bounded: b's first reply comes within 100 replies of a's (10 ms apart).
    let mut joined = false;
    for _ in 0..100 {
        if next(&mut stream).await == "b" {
            joined = true;
            break;
        }
    }
    assert!(joined, "b never joined the open stream");

    let disable = format!("/clusters/devices/endpoints/{}/disable", a.addr());
    assert_eq!(gateway.admin_post(&disable).await.0, 200);
    tokio::time::timeout(HANG_LIMIT, a.stats().wait_cancelled(1))
        .await
        .expect("a's stream is cut");
    assert_eq!(metric(&gateway, "all", "left").await, 1);
    // Replies already queued from a may still arrive; after them only b serves.
    let mut tail = Vec::new();
    for _ in 0..40 {
        tail.push(next(&mut stream).await);
    }
    // At most a queue's worth (16) of a's replies can still be in flight.
    assert!(tail[20..].iter().all(|s| s == "b"), "{tail:?}");
    assert_eq!(b.stats().cancelled(), 0);

    drop(stream);
    tokio::time::timeout(HANG_LIMIT, b.stats().wait_cancelled(1))
        .await
        .expect("the client's cancel reaches b");
    gateway.shutdown().await;
}

/// Who served the next reply of an open stream.
async fn next(stream: &mut tonic::Streaming<yardmaster_demo::pb::EchoReply>) -> String {
    tokio::time::timeout(HANG_LIMIT, stream.message())
        .await
        .expect("reply in time")
        .expect("stream ok")
        .expect("stream open")
        .served_by
}
