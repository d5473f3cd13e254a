//! Runtime control of endpoints through the admin API: list, add, disable, enable,
//! drain, remove, and per-endpoint metrics.

use yardmaster_demo::pb::EchoRequest;
use yardmaster_test_support::{TestUpstream, HANG_LIMIT};

use crate::balancing::{addresses, gateway_with, served_by};

/// Draining takes an endpoint out of rotation at once, lets its stream in flight end
/// normally, and removes the endpoint once that stream is done.
#[tokio::test]
async fn drain_lets_in_flight_streams_finish_and_takes_no_new_calls() {
    let (a, b) = (TestUpstream::echo("a").await, TestUpstream::echo("b").await);
    let gateway = gateway_with(&addresses(&[&a, &b]), "").await;
    let mut client = gateway.echo_client().await;
    let slow_stream = EchoRequest {
        count: 3,
        delay_ms: 300,
        ..Default::default()
    };
    // Round robin: the first call goes to `a`.
    let mut stream = tokio::time::timeout(HANG_LIMIT, client.server_stream(slow_stream))
        .await
        .expect("stream head in time")
        .expect("stream starts")
        .into_inner();

    let (status, body) = gateway
        .admin_post(&format!("/clusters/upstream/endpoints/{}/drain", a.addr()))
        .await;
    assert_eq!(status, 200, "{body}");
    let listed = gateway.cluster_status("upstream").await;
    assert_eq!(listed["endpoints"][0]["state"], "draining", "{listed:#}");
    assert_eq!(listed["endpoints"][0]["in_flight"], 1);
    for _ in 0..4 {
        assert_eq!(served_by(&mut client).await, "b");
    }

    let mut replies = Vec::new();
    while let Some(reply) = tokio::time::timeout(HANG_LIMIT, stream.message())
        .await
        .expect("message in time")
        .expect("the drained stream succeeds")
    {
        replies.push(reply.served_by);
    }
    assert_eq!(replies, ["a", "a", "a"]);
    yardmaster_test_support::eventually_async("the drained endpoint is removed", || {
        let gateway = &gateway;
        async move {
            gateway.cluster_status("upstream").await["endpoints"]
                .as_array()
                .is_some_and(|e| e.len() == 1)
        }
    })
    .await;
    gateway.shutdown().await;
}

/// An operator adds an endpoint, disables and enables another, and sees each change in
/// the listing and in the traffic.
#[tokio::test]
async fn admin_adds_disables_and_enables_endpoints() {
    let (a, b) = (TestUpstream::echo("a").await, TestUpstream::echo("b").await);
    let gateway = gateway_with(&addresses(&[&a]), "").await;
    let mut client = gateway.echo_client().await;
    assert_eq!(served_by(&mut client).await, "a");

    let (status, body) = gateway
        .admin_post(&format!(
            "/clusters/upstream/endpoints?address={}&weight=3",
            b.addr()
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let listed = gateway.cluster_status("upstream").await;
    assert_eq!(listed["endpoints"][1]["address"], b.addr().to_string());
    assert_eq!(listed["endpoints"][1]["weight"], 3);
    assert_eq!(listed["endpoints"][1]["healthy"], true);
    let mut served: Vec<String> = Vec::new();
    for _ in 0..4 {
        served.push(served_by(&mut client).await);
    }
    served.sort();
    assert_eq!(served, ["a", "a", "b", "b"]);

    let disable = format!("/clusters/upstream/endpoints/{}/disable", a.addr());
    assert_eq!(gateway.admin_post(&disable).await.0, 200);
    for _ in 0..3 {
        assert_eq!(served_by(&mut client).await, "b");
    }
    let enable = format!("/clusters/upstream/endpoints/{}/enable", a.addr());
    assert_eq!(gateway.admin_post(&enable).await.0, 200);
    let mut served: Vec<String> = Vec::new();
    for _ in 0..2 {
        served.push(served_by(&mut client).await);
    }
    served.sort();
    assert_eq!(served, ["a", "b"]);

    // Mistakes are refused with a reason.
    let (status, body) = gateway
        .admin_post(&format!(
            "/clusters/upstream/endpoints?address={}",
            b.addr()
        ))
        .await;
    assert_eq!(status, 409);
    assert_eq!(
        body,
        format!("cluster \"upstream\" already has endpoint {}\n", b.addr())
    );
    let (status, _) = gateway
        .admin_post("/clusters/nope/endpoints/127.0.0.1:1/drain")
        .await;
    assert_eq!(status, 404);
    let (status, body) = gateway
        .admin_post("/clusters/upstream/endpoints/127.0.0.1:1/explode")
        .await;
    assert_eq!(status, 400);
    assert!(body.starts_with("unknown action \"explode\""), "{body}");
    gateway.shutdown().await;
}

/// Per-endpoint series appear in `/metrics`, labelled by cluster and endpoint.
#[tokio::test]
async fn metrics_count_requests_and_in_flight_per_endpoint() {
    let a = TestUpstream::echo("a").await;
    let gateway = gateway_with(&addresses(&[&a]), "").await;
    let mut client = gateway.echo_client().await;
    for _ in 0..3 {
        served_by(&mut client).await;
    }
    let (_, metrics) = gateway.admin_get("/metrics").await;
    let labels = format!("cluster=\"upstream\",endpoint=\"{}\"", a.addr());
    for line in [
        format!("yardmaster_upstream_requests_total{{{labels}}} 3"),
        format!("yardmaster_upstream_in_flight{{{labels}}} 0"),
        format!("yardmaster_upstream_healthy{{{labels}}} 1"),
        format!("yardmaster_upstream_ejections_total{{{labels}}} 0"),
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line}:\n{metrics}"
        );
    }
    gateway.shutdown().await;
}
