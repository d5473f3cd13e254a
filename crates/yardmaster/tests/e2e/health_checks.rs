//! Active gRPC health checks, end to end: thresholds, the ready check, panic mode.

use bytes::Bytes;
use http_body_util::Full;
use tonic::Code;
use yardmaster_demo::pb::EchoRequest;
use yardmaster_test_support::{eventually, http1_send, HttpUpstream, TestUpstream, HANG_LIMIT};

use crate::balancing::{addresses, gateway_with, served_by, unary};

const FAST_CHECKS: &str = r#"    health_check:
      kind: grpc
      interval: 20ms
      timeout: 500ms
      healthy_threshold: 2
      unhealthy_threshold: 3
"#;

/// Checks that fail twice in a row at most never take an endpoint out; three in a row
/// do, and two passes in a row bring it back.
#[tokio::test]
async fn health_check_flapping_respects_thresholds() {
    let flappy = TestUpstream::echo_with_health("flappy", true).await;
    let steady = TestUpstream::echo_with_health("steady", true).await;
    let gateway = gateway_with(&addresses(&[&flappy, &steady]), FAST_CHECKS).await;
    let health = flappy.health();

    let flapping = [
        false, false, true, false, true, false, false, true, false, true,
    ];
    health.script(flapping);
    let wait_until = health.checks() + flapping.len() as u64 + 1;
    eventually("the flapping script is answered", || {
        health.checks() >= wait_until
    })
    .await;
    let status = gateway.cluster_status("upstream").await;
    assert_eq!(status["endpoints"][0]["healthy"], true, "{status:#}");
    assert_eq!(status["endpoints"][0]["health_checks_failed_total"], 6);

    health.set_serving(false);
    eventually("three failures make it unhealthy", || {
        health.checks() >= wait_until + 3
    })
    .await;
    let mut client = gateway.echo_client().await;
    yardmaster_test_support::eventually_async("flappy leaves rotation", || {
        let gateway = &gateway;
        async move { gateway.cluster_status("upstream").await["endpoints"][0]["healthy"] == false }
    })
    .await;
    for _ in 0..4 {
        assert_eq!(served_by(&mut client).await, "steady");
    }

    health.script([true, false, true]);
    let back = health.checks() + 3;
    eventually("a lone pass is answered", || health.checks() >= back).await;
    let status = gateway.cluster_status("upstream").await;
    assert_eq!(
        status["endpoints"][0]["healthy"], false,
        "one pass is not enough"
    );
    health.set_serving(true);
    yardmaster_test_support::eventually_async("two passes bring it back", || {
        let gateway = &gateway;
        async move { gateway.cluster_status("upstream").await["endpoints"][0]["healthy"] == true }
    })
    .await;
    gateway.shutdown().await;
}

/// With `initial_state: unhealthy`, an endpoint takes traffic only after its first
/// passing check; until then calls fail with UNAVAILABLE naming the cluster.
#[tokio::test]
async fn ready_check_holds_traffic_until_the_first_pass() {
    let upstream = TestUpstream::echo_with_health("late", false).await;
    let settings = format!("{FAST_CHECKS}      initial_state: unhealthy\n");
    let gateway = gateway_with(&addresses(&[&upstream]), &settings).await;
    let mut client = gateway.echo_client().await;
    let refused = unary(&mut client, EchoRequest::default())
        .await
        .expect_err("not ready yet");
    assert_eq!(refused.code(), Code::Unavailable);
    assert!(
        refused.message().starts_with(
            "cluster \"upstream\" has no available endpoint (1 endpoints: 1 unhealthy"
        ),
        "{}",
        refused.message()
    );
    assert_eq!(upstream.stats().calls(), 0);
    upstream.health().set_serving(true);
    yardmaster_test_support::eventually_async("the first pass makes it ready", || {
        let gateway = &gateway;
        async move { gateway.cluster_status("upstream").await["endpoints"][0]["eligible"] == true }
    })
    .await;
    assert_eq!(served_by(&mut client).await, "late");
    gateway.shutdown().await;
}

/// When every endpoint fails its checks, panic mode keeps balancing over all of them
/// instead of refusing every call.
#[tokio::test]
async fn panic_mode_balances_over_unhealthy_endpoints() {
    let (a, b) = (
        TestUpstream::echo_with_health("a", false).await,
        TestUpstream::echo_with_health("b", false).await,
    );
    let settings = format!("{FAST_CHECKS}    panic_mode: true\n");
    let gateway = gateway_with(&addresses(&[&a, &b]), &settings).await;
    yardmaster_test_support::eventually_async("both endpoints are unhealthy", || {
        let gateway = &gateway;
        async move { gateway.cluster_status("upstream").await["panicking"] == true }
    })
    .await;
    let mut client = gateway.echo_client().await;
    let mut served = Vec::new();
    for _ in 0..4 {
        served.push(served_by(&mut client).await);
    }
    served.sort();
    assert_eq!(served, ["a", "a", "b", "b"]);
    gateway.shutdown().await;
}

/// An `http` check (`GET path`, status in the expected range) notices an endpoint that
/// went away, and plain HTTP requests go to the one left.
#[tokio::test]
async fn http_health_check_takes_a_dead_endpoint_out() {
    let a = HttpUpstream::start("a").await;
    let b = HttpUpstream::start("b").await;
    let settings = r#"    protocol: http1
    health_check:
      kind: http
      path: /status/204
      expected_status_min: 200
      expected_status_max: 299
      interval: 20ms
      unhealthy_threshold: 2
"#;
    let gateway = gateway_with(&[a.addr().to_string(), b.addr().to_string()], settings).await;
    drop(b);
    yardmaster_test_support::eventually_async("b is unhealthy", || {
        let gateway = &gateway;
        async move {
            let status = gateway.cluster_status("upstream").await;
            status["endpoints"][1]["healthy"] == false && status["endpoints"][0]["healthy"] == true
        }
    })
    .await;
    for _ in 0..3 {
        let req = http::Request::get("/who")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let reply = tokio::time::timeout(HANG_LIMIT, http1_send(gateway.addr(), req))
            .await
            .expect("answered in time");
        assert_eq!(reply.status, 200);
        let body: serde_json::Value = serde_json::from_str(reply.text()).unwrap();
        assert_eq!(body["served_by"], "a");
    }
    gateway.shutdown().await;
}

/// A `tcp` check only needs the port to accept: a killed endpoint fails it.
#[tokio::test]
async fn tcp_health_check_notices_a_killed_endpoint() {
    let (a, b) = (TestUpstream::echo("a").await, TestUpstream::echo("b").await);
    let settings = "    health_check: { kind: tcp, interval: 20ms, unhealthy_threshold: 1 }\n";
    let gateway = gateway_with(&addresses(&[&a, &b]), settings).await;
    b.kill().await;
    yardmaster_test_support::eventually_async("b is unhealthy", || {
        let gateway = &gateway;
        async move { gateway.cluster_status("upstream").await["endpoints"][1]["healthy"] == false }
    })
    .await;
    let mut client = gateway.echo_client().await;
    for _ in 0..3 {
        assert_eq!(served_by(&mut client).await, "a");
    }
    gateway.shutdown().await;
}
