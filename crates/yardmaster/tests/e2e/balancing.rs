//! Balancing policies, end to end: which endpoint each call reaches.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use tonic::transport::Channel;
use yardmaster_demo::pb::echo_client::EchoClient;
use yardmaster_demo::pb::{EchoReply, EchoRequest};
use yardmaster_test_support::{TestGateway, TestUpstream, HANG_LIMIT};

/// A gateway with an admin listener and one route to cluster `upstream` over `endpoints`
/// (YAML list items), with `settings`: further keys of the cluster, indented 4 spaces.
pub(crate) async fn gateway_with(endpoints: &[String], settings: &str) -> TestGateway {
    TestGateway::start(&gateway_yaml(endpoints, settings)).await
}

/// The configuration `gateway_with` starts, starting with a newline.
pub(crate) fn gateway_yaml(endpoints: &[String], settings: &str) -> String {
    let endpoints: String = endpoints.iter().map(|e| format!("      - {e}\n")).collect();
    cluster_gateway_yaml(&format!("    endpoints:\n{endpoints}{settings}"))
}

/// An admin listener, and a listener that forwards everything to cluster `upstream`
/// described by `cluster` (its keys after `name`, indented by four spaces).
pub(crate) fn cluster_gateway_yaml(cluster: &str) -> String {
    format!(
        r#"
admin:
  listen: 127.0.0.1:0
listeners:
  - name: public
    listen: 127.0.0.1:0
    routes:
      - forward: {{ cluster: upstream }}
clusters:
  - name: upstream
{cluster}
"#
    )
}

pub(crate) fn addresses(upstreams: &[&TestUpstream]) -> Vec<String> {
    upstreams.iter().map(|u| u.addr().to_string()).collect()
}

/// One unary call, bounded by the hang limit.
pub(crate) async fn unary(
    client: &mut EchoClient<Channel>,
    request: EchoRequest,
) -> Result<EchoReply, tonic::Status> {
    tokio::time::timeout(HANG_LIMIT, client.unary(request))
        .await
        .expect("call answered in time")
        .map(tonic::Response::into_inner)
}

pub(crate) async fn served_by(client: &mut EchoClient<Channel>) -> String {
    unary(client, EchoRequest::default())
        .await
        .expect("call succeeds")
        .served_by
}

/// `calls` quick unary calls, `concurrency` at a time; returns the replies' `served_by`
/// counts.
pub(crate) async fn spread(
    client: &EchoClient<Channel>,
    calls: usize,
    concurrency: usize,
) -> HashMap<String, usize> {
    let replies: Vec<String> = stream::iter(0..calls)
        .map(|_| {
            let mut client = client.clone();
            async move { served_by(&mut client).await }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut counts = HashMap::new();
    for name in replies {
        *counts.entry(name).or_insert(0) += 1;
    }
    counts
}

#[tokio::test]
async fn round_robin_visits_endpoints_in_exact_order() {
    let (a, b, c) = (
        TestUpstream::echo("a").await,
        TestUpstream::echo("b").await,
        TestUpstream::echo("c").await,
    );
    let gateway = gateway_with(&addresses(&[&a, &b, &c]), "").await;
    let mut client = gateway.echo_client().await;
    let mut order = Vec::new();
    for _ in 0..9 {
        order.push(served_by(&mut client).await);
    }
    assert_eq!(order, ["a", "b", "c", "a", "b", "c", "a", "b", "c"]);
    gateway.shutdown().await;
}

/// Smooth weighted round robin hands out exactly one cycle of turns per total weight,
/// so 10,000 calls over weights 1:2:7 land 1,000 / 2,000 / 7,000 (well within 5 %).
#[tokio::test]
async fn weighted_policy_splits_10000_calls_by_weight() {
    let (a, b, c) = (
        TestUpstream::echo("a").await,
        TestUpstream::echo("b").await,
        TestUpstream::echo("c").await,
    );
    let endpoints = vec![
        format!("{{ address: {}, weight: 1 }}", a.addr()),
        format!("{{ address: {}, weight: 2 }}", b.addr()),
        format!("{{ address: {}, weight: 7 }}", c.addr()),
    ];
    let gateway = gateway_with(&endpoints, "    balancing: { policy: weighted }\n").await;
    let client = gateway.echo_client().await;
    let counts = tokio::time::timeout(Duration::from_secs(60), spread(&client, 10_000, 64))
        .await
        .expect("10,000 calls finish");
    for (name, expected) in [("a", 1_000), ("b", 2_000), ("c", 7_000)] {
        let got = counts.get(name).copied().unwrap_or_default();
        assert!(
            got.abs_diff(expected) <= expected / 20,
            "{name}: {got} calls, expected {expected} ± 5 %: {counts:?}"
        );
        assert_eq!(got, expected, "{counts:?}");
    }
    gateway.shutdown().await;
}

async fn owner_of(client: &mut EchoClient<Channel>, user: &str) -> String {
    let mut request = tonic::Request::new(EchoRequest::default());
    request
        .metadata_mut()
        .insert("x-user", user.parse().expect("ASCII user id"));
    tokio::time::timeout(HANG_LIMIT, client.unary(request))
        .await
        .expect("call answered in time")
        .expect("call succeeds")
        .into_inner()
        .served_by
}

/// Five endpoints on a hash ring keyed by `x-user`: a user always reaches the same
/// endpoint, and when one endpoint is removed only its users move.
#[tokio::test]
async fn consistent_hash_is_sticky_and_moves_only_the_removed_endpoints_keys() {
    let mut upstreams = Vec::new();
    for name in ["a", "b", "c", "d", "e"] {
        upstreams.push(TestUpstream::echo(name).await);
    }
    let refs: Vec<&TestUpstream> = upstreams.iter().collect();
    let settings =
        "    balancing: { policy: consistent_hash, hash_on: header, hash_header: x-user }\n";
    let gateway = gateway_with(&addresses(&refs), settings).await;
    let mut client = gateway.echo_client().await;
    let users: Vec<String> = (0..200).map(|i| format!("user-{i}")).collect();
    let mut before = HashMap::new();
    for user in &users {
        let first = owner_of(&mut client, user).await;
        assert_eq!(owner_of(&mut client, user).await, first, "{user} moved");
        before.insert(user.clone(), first);
    }
    let owners: std::collections::HashSet<&String> = before.values().collect();
    assert_eq!(owners.len(), 5, "200 users spread over all five endpoints");

    let removed: SocketAddr = upstreams[2].addr();
    let (status, body) = gateway
        .admin_post(&format!("/clusters/upstream/endpoints/{removed}/remove"))
        .await;
    assert_eq!(status, 200, "{body}");
    let mut moved = 0;
    for user in &users {
        let now = owner_of(&mut client, user).await;
        if before[user] == "c" {
            assert_ne!(now, "c");
            moved += 1;
        } else {
            assert_eq!(now, before[user], "{user} moved though its endpoint stayed");
        }
    }
    assert_eq!(moved, before.values().filter(|o| *o == "c").count());
    assert!(moved > 0);
    gateway.shutdown().await;
}

/// With power-of-two-choices, calls pile up on the slow endpoint, so new calls go to
/// the fast one; round robin would give each half.
#[tokio::test]
async fn least_request_steers_away_from_a_slow_endpoint() {
    let slow = TestUpstream::echo_slow("slow", Duration::from_secs(1)).await;
    let fast = TestUpstream::echo("fast").await;
    let gateway = gateway_with(
        &addresses(&[&slow, &fast]),
        "    balancing: { policy: least_request }\n",
    )
    .await;
    let client = gateway.echo_client().await;
    // Four calls at a time: the slow endpoint holds at most two of them (it wins a pick
    // only while it has no more calls in flight than the fast one), for a second each.
    let counts = tokio::time::timeout(Duration::from_secs(30), spread(&client, 200, 4))
        .await
        .expect("calls finish");
    let slow_calls = counts.get("slow").copied().unwrap_or_default();
    let fast_calls = counts.get("fast").copied().unwrap_or_default();
    assert_eq!(slow_calls + fast_calls, 200);
    assert!(
        slow_calls <= 20,
        "the slow endpoint got {slow_calls} of 200 calls (round robin: 100): {counts:?}"
    );
    gateway.shutdown().await;
}
