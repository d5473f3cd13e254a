//! Retries, timeouts, outlier ejection and circuit breaking, end to end.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use http::{HeaderMap, HeaderValue, Response};
use tonic::Code;
use yardmaster_core::{grpc, GrpcCode};
use yardmaster_demo::pb::EchoRequest;
use yardmaster_test_support::{
    BlackholeUpstream, RawBody, RawGrpcUpstream, TestUpstream, HANG_LIMIT,
};

use crate::balancing::{addresses, gateway_with, served_by, unary};

/// Three endpoints under steady load; one is killed like a crashed process. Calls in
/// flight on it and calls that pick it before it is ejected are retried elsewhere, so
/// the client sees no failure at all.
#[tokio::test]
async fn killed_endpoint_under_steady_load_fails_no_unary_call() {
    let (a, b, c) = (
        TestUpstream::echo("a").await,
        TestUpstream::echo("b").await,
        TestUpstream::echo("c").await,
    );
    let settings = r#"    retry: { attempts: 3, retry_on: [unavailable] }
    outlier_detection: { consecutive_failures: 2, base_ejection_time: 30s }
"#;
    let gateway = gateway_with(&addresses(&[&a, &b, &c]), settings).await;
    let client = gateway.echo_client().await;
    let done = Arc::new(AtomicUsize::new(0));
    let load = {
        let done = done.clone();
        stream::iter(0..1_500)
            .map(move |_| {
                let mut client = client.clone();
                let done = done.clone();
                async move {
                    let result = unary(&mut client, EchoRequest::default()).await;
                    done.fetch_add(1, Ordering::Relaxed);
                    result
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
    };
    let load = tokio::spawn(load);
    yardmaster_test_support::eventually("300 calls done", || done.load(Ordering::Relaxed) >= 300)
        .await;
    b.kill().await;
    let results = tokio::time::timeout(Duration::from_secs(60), load)
        .await
        .expect("load finishes")
        .expect("load task");
    let failures: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        failures.first()
    );
    assert_eq!(results.len(), 1_500);
    let status = gateway.cluster_status("upstream").await;
    assert_eq!(status["endpoints"][1]["ejected"], true, "{status:#}");
    gateway.shutdown().await;
}

/// An endpoint that accepts TCP but never speaks HTTP/2 costs each unlucky call one
/// `attempt_timeout`, is retried elsewhere, and is ejected after two such failures.
#[tokio::test]
async fn blackhole_endpoint_is_timed_out_and_ejected() {
    let good = TestUpstream::echo("good").await;
    let blackhole = BlackholeUpstream::start().await;
    let endpoints = vec![blackhole.addr().to_string(), good.addr().to_string()];
    let settings = r#"    connect_timeout: 300ms
    attempt_timeout: 300ms
    retry: { attempts: 2, retry_on: [unavailable] }
    outlier_detection: { consecutive_failures: 2, base_ejection_time: 1m }
"#;
    let gateway = gateway_with(&endpoints, settings).await;
    let mut client = gateway.echo_client().await;
    let started = Instant::now();
    for _ in 0..10 {
        assert_eq!(served_by(&mut client).await, "good");
    }
    // Two timed-out attempts at most, then the blackhole is out of rotation.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let status = gateway.cluster_status("upstream").await;
    let hole = &status["endpoints"][0];
    assert_eq!(hole["ejected"], true, "{status:#}");
    assert_eq!(hole["ejections_total"], 1);
    assert_eq!(hole["failures_total"], 2);
    assert_eq!(hole["eligible"], false);
    gateway.shutdown().await;
}

/// Over `max_requests`, a call fails at once with RESOURCE_EXHAUSTED naming the
/// cluster; the calls holding the slots finish normally.
#[tokio::test]
async fn circuit_breaker_rejects_calls_over_the_limit_fast() {
    let upstream = TestUpstream::echo("a").await;
    let settings = "    circuit_breaker: { max_requests: 2 }\n";
    let gateway = gateway_with(&addresses(&[&upstream]), settings).await;
    let client = gateway.echo_client().await;
    let long = EchoRequest {
        count: 1,
        delay_ms: 1_000,
        ..Default::default()
    };
    let mut held = Vec::new();
    for _ in 0..2 {
        let stream = tokio::time::timeout(HANG_LIMIT, client.clone().server_stream(long.clone()))
            .await
            .expect("stream head in time")
            .expect("stream starts")
            .into_inner();
        held.push(stream);
    }
    let started = Instant::now();
    let refused = unary(&mut client.clone(), EchoRequest::default())
        .await
        .expect_err("over the limit");
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert_eq!(
        refused.message(),
        "cluster \"upstream\" is over its max_requests limit of 2"
    );
    for mut stream in held {
        let reply = tokio::time::timeout(HANG_LIMIT, stream.message())
            .await
            .expect("reply in time")
            .expect("stream succeeds");
        assert!(reply.is_some());
    }
    // The slots are free again.
    assert_eq!(served_by(&mut client.clone()).await, "a");
    gateway.shutdown().await;
}

/// Both endpoints answer UNAVAILABLE to everything. With 3 attempts per call, retries
/// could triple the load; the 20 % budget (plus a burst of 5) holds it near 1.2x.
#[tokio::test]
async fn retry_budget_caps_extra_load_during_a_full_outage() {
    let (a, b) = (TestUpstream::echo("a").await, TestUpstream::echo("b").await);
    let settings = r#"    retry: { attempts: 3, budget_percent: 20, budget_burst: 5, backoff_base: 1ms, backoff_max: 2ms }
"#;
    let gateway = gateway_with(&addresses(&[&a, &b]), settings).await;
    let client = gateway.echo_client().await;
    let failing = EchoRequest {
        fail_code: Code::Unavailable as i32,
        fail_message: "down".into(),
        ..Default::default()
    };
    let results: Vec<_> = stream::iter(0..200)
        .map(|_| {
            let mut client = client.clone();
            let failing = failing.clone();
            async move { unary(&mut client, failing).await }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    assert!(results
        .iter()
        .all(|r| r.as_ref().is_err_and(|s| s.code() == Code::Unavailable)));
    let upstream_calls = a.stats().calls() + b.stats().calls();
    assert!(
        (230..=245).contains(&upstream_calls),
        "200 calls made {upstream_calls} upstream calls; at most 200 + 5 + 40 allowed"
    );
    gateway.shutdown().await;
}

/// A retried attempt carries `grpc-previous-rpc-attempts` and goes to another
/// endpoint first.
#[tokio::test]
async fn retries_count_previous_attempts_and_change_endpoint() {
    let seen: Arc<Mutex<Vec<Attempt>>> = Arc::default();
    let upstream = |name: &'static str| {
        let seen = seen.clone();
        RawGrpcUpstream::start(move |req| {
            let previous = req
                .headers()
                .get("grpc-previous-rpc-attempts")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            seen.lock().unwrap().push((name, previous));
            unavailable()
        })
    };
    let (x, y) = (upstream("x").await, upstream("y").await);
    let settings = "    retry: { attempts: 3, backoff_base: 1ms, backoff_max: 1ms }\n";
    let gateway = gateway_with(&[x.addr().to_string(), y.addr().to_string()], settings).await;
    let status = unary(&mut gateway.echo_client().await, EchoRequest::default())
        .await
        .expect_err("every attempt fails");
    assert_eq!(status.code(), Code::Unavailable);
    let seen = seen.lock().unwrap().clone();
    let previous: Vec<Option<&str>> = seen.iter().map(|(_, p)| p.as_deref()).collect();
    assert_eq!(previous, [None, Some("1"), Some("2")]);
    assert_ne!(
        seen[0].0, seen[1].0,
        "the first retry went to the other endpoint"
    );
    gateway.shutdown().await;
}

/// Which upstream saw an attempt, and its `grpc-previous-rpc-attempts`.
type Attempt = (&'static str, Option<String>);

fn unavailable() -> Response<RawBody> {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/grpc"));
    grpc::insert_status(&mut headers, GrpcCode::Unavailable, "scripted outage");
    let mut response = Response::new(RawBody::empty());
    *response.headers_mut() = headers;
    response
}

/// The route's `timeout` caps a call that has no deadline of its own.
#[tokio::test]
async fn route_timeout_caps_the_call() {
    let upstream = TestUpstream::echo("a").await;
    let gateway = yardmaster_test_support::TestGateway::start(&format!(
        r#"
listeners:
  - name: public
    listen: 127.0.0.1:0
    routes:
      - forward: {{ cluster: upstream, timeout: 200ms }}
clusters:
  - name: upstream
    endpoints: [{}]
"#,
        upstream.addr()
    ))
    .await;
    let started = Instant::now();
    let slow = EchoRequest {
        delay_ms: 5_000,
        ..Default::default()
    };
    let status = unary(&mut gateway.echo_client().await, slow)
        .await
        .expect_err("the route times the call out");
    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    gateway.shutdown().await;
}

/// With one stream per connection and one connection allowed, a second concurrent call
/// would need a second connection: it is refused at once, naming the limit.
#[tokio::test]
async fn connection_limit_refuses_a_call_that_needs_another_connection() {
    let upstream = TestUpstream::echo("a").await;
    let settings = r#"    circuit_breaker: { max_connections: 1 }
    connection: { max_streams_per_connection: 1 }
"#;
    let gateway = gateway_with(&addresses(&[&upstream]), settings).await;
    let client = gateway.echo_client().await;
    let long = EchoRequest {
        count: 1,
        delay_ms: 1_000,
        ..Default::default()
    };
    let mut held = tokio::time::timeout(HANG_LIMIT, client.clone().server_stream(long))
        .await
        .expect("stream head in time")
        .expect("stream starts")
        .into_inner();
    let refused = unary(&mut client.clone(), EchoRequest::default())
        .await
        .expect_err("no second connection");
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert_eq!(
        refused.message(),
        "cluster \"upstream\" is over its max_connections limit of 1"
    );
    let reply = tokio::time::timeout(HANG_LIMIT, held.message())
        .await
        .expect("reply in time")
        .expect("the held stream succeeds");
    assert!(reply.is_some());
    gateway.shutdown().await;
}
