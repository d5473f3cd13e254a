//! Upstream connection management: extra connections past the stream limit, idle
//! close, the stream idle timeout, and each worker thread's own connections.

use std::time::{Duration, Instant};

use tonic::transport::Channel;
use tonic::{Code, Streaming};
use yardmaster_demo::pb::echo_client::EchoClient;
use yardmaster_demo::pb::{EchoReply, EchoRequest};
use yardmaster_test_support::{FreezableRelay, TestGateway, TestUpstream, HANG_LIMIT};

use crate::balancing::{addresses, gateway_with, gateway_yaml, served_by};

/// With at most 2 streams per connection, 5 concurrent streams to one endpoint need 3
/// connections; once idle, they close.
#[tokio::test]
async fn opens_another_connection_at_the_stream_limit_and_closes_idle_ones() {
    let upstream = TestUpstream::echo("a").await;
    let settings = "    connection: { max_streams_per_connection: 2, idle_timeout: 300ms }\n";
    let gateway = gateway_with(&addresses(&[&upstream]), settings).await;
    let client = gateway.echo_client().await;
    let streams = open_slow_streams(&client, 5).await;
    let status = gateway.cluster_status("upstream").await;
    assert_eq!(status["endpoints"][0]["connections"], 3, "{status:#}");
    assert_eq!(status["endpoints"][0]["in_flight"], 5);
    read_to_the_end(streams).await;
    yardmaster_test_support::eventually_async("idle connections close", || {
        let gateway = &gateway;
        async move { gateway.cluster_status("upstream").await["endpoints"][0]["connections"] == 0 }
    })
    .await;
    // And the endpoint still serves, on a new connection.
    assert_eq!(served_by(&mut client.clone()).await, "a");
    gateway.shutdown().await;
}

/// Each worker thread keeps upstream connections of its own: two client connections,
/// served by the two workers, make two connections to one endpoint. At `max_connections:
/// 1`, the second worker borrows the first one's connection instead of failing the call.
#[tokio::test]
async fn each_worker_opens_its_own_upstream_connection_within_the_limit() {
    let upstream = TestUpstream::echo("a").await;
    for (limit, connections) in [
        ("", 2),
        ("    circuit_breaker: { max_connections: 1 }\n", 1),
    ] {
        let yaml = gateway_yaml(&addresses(&[&upstream]), limit);
        let gateway = TestGateway::start(&format!("workers: 2{yaml}")).await;
        // Both client connections stay open, so the second goes to the idle worker.
        let mut first = gateway.echo_client().await;
        let mut second = gateway.echo_client().await;
        for _ in 0..3 {
            assert_eq!(served_by(&mut first).await, "a");
            assert_eq!(served_by(&mut second).await, "a");
        }
        let status = gateway.cluster_status("upstream").await;
        assert_eq!(
            status["endpoints"][0]["connections"], connections,
            "limit {limit:?}: {status:#}"
        );
        gateway.shutdown().await;
    }
}

/// An upstream that allows 2 concurrent streams per connection (SETTINGS_MAX_CONCURRENT_
/// STREAMS) gets a new connection for the third and fourth concurrent stream, even though
/// the cluster's own limit is higher: calls never wait inside a full connection.
#[tokio::test]
async fn upstream_stream_limit_opens_another_connection() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding upstream");
    let addr = listener.local_addr().expect("upstream address");
    let service = yardmaster_demo::EchoService::new("a");
    let stats = service.stats();
    let server = tokio::spawn(async move {
        let service =
            hyper_util::service::TowerToHyperService::new(yardmaster_demo::echo_server(service));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = service.clone();
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .max_concurrent_streams(2)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    let gateway = gateway_with(&[addr.to_string()], "").await;
    let client = gateway.echo_client().await;
    // One call first, so the connection has the upstream's SETTINGS before the rest.
    assert_eq!(served_by(&mut client.clone()).await, "a");
    let streams = open_slow_streams(&client, 4).await;
    let status = gateway.cluster_status("upstream").await;
    assert_eq!(status["endpoints"][0]["connections"], 2, "{status:#}");
    assert_eq!(status["endpoints"][0]["in_flight"], 4);
    read_to_the_end(streams).await;
    assert_eq!(stats.calls(), 5);
    gateway.shutdown().await;
    server.abort();
}

/// A response stream that goes quiet for longer than `stream_idle_timeout` ends with
/// UNAVAILABLE naming the cluster, after the messages that did arrive.
#[tokio::test]
async fn stream_idle_timeout_ends_a_quiet_stream() {
    let upstream = TestUpstream::echo("a").await;
    let settings = "    stream_idle_timeout: 200ms\n";
    let gateway = gateway_with(&addresses(&[&upstream]), settings).await;
    let mut client = gateway.echo_client().await;
    let quiet = EchoRequest {
        count: 3,
        delay_ms: 2_000,
        ..Default::default()
    };
    let started = Instant::now();
    let mut stream = tokio::time::timeout(HANG_LIMIT, client.server_stream(quiet))
        .await
        .expect("stream head in time")
        .expect("stream starts")
        .into_inner();
    let status = tokio::time::timeout(HANG_LIMIT, stream.message())
        .await
        .expect("the stream ends in time")
        .expect_err("the idle stream is cut");
    assert_eq!(status.code(), Code::Unavailable);
    assert!(
        status.message().contains("cluster \"upstream\"")
            && status.message().contains("(stream_idle_timeout)"),
        "{}",
        status.message()
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    gateway.shutdown().await;
}

/// An endpoint whose network goes silent mid-stream is found dead by HTTP/2 keepalive
/// PINGs: the stream ends with UNAVAILABLE long before the endpoint would answer.
#[tokio::test]
async fn keepalive_pings_detect_a_silent_peer() {
    let upstream = TestUpstream::echo("a").await;
    let relay = FreezableRelay::start(upstream.addr()).await;
    let settings = "    connection: { keepalive_interval: 100ms, keepalive_timeout: 200ms }\n";
    let gateway = gateway_with(&[relay.addr().to_string()], settings).await;
    let mut client = gateway.echo_client().await;
    let slow = EchoRequest {
        count: 2,
        delay_ms: 3_000,
        ..Default::default()
    };
    let mut stream = tokio::time::timeout(HANG_LIMIT, client.server_stream(slow))
        .await
        .expect("stream head in time")
        .expect("stream starts")
        .into_inner();
    relay.freeze();
    let started = Instant::now();
    let status = tokio::time::timeout(HANG_LIMIT, stream.message())
        .await
        .expect("the stream ends in time")
        .expect_err("the silent peer is detected");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    gateway.shutdown().await;
}

/// Opens `n` concurrent `ServerStream` calls that each answer once after 500 ms.
async fn open_slow_streams(client: &EchoClient<Channel>, n: usize) -> Vec<Streaming<EchoReply>> {
    let slow = EchoRequest {
        count: 1,
        delay_ms: 500,
        ..Default::default()
    };
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let stream = tokio::time::timeout(HANG_LIMIT, client.clone().server_stream(slow.clone()))
            .await
            .expect("stream head in time")
            .expect("stream starts")
            .into_inner();
        streams.push(stream);
    }
    streams
}

/// Reads every stream to its successful end.
async fn read_to_the_end(streams: Vec<Streaming<EchoReply>>) {
    for mut stream in streams {
        while tokio::time::timeout(HANG_LIMIT, stream.message())
            .await
            .expect("message in time")
            .expect("stream succeeds")
            .is_some()
        {}
    }
}
