//! A bridge's upstreams are the endpoints of its cluster: the cluster's admin API, health
//! checks and discovery decide where bridge clients go.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::task::JoinSet;
use yardmaster_test_support::{eventually, eventually_async, TestGateway, HANG_LIMIT};

use crate::bridge::{admin_json, echo_upstream, gateway_yaml_with, Client};

/// Bridge clients sending while discovery replaces the upstreams.
const CLIENTS: usize = 8;
/// Frames each of them keeps in flight.
const IN_FLIGHT: usize = 4;
/// Echoes all clients together receive between two replacements.
const ECHOES_PER_PHASE: usize = CLIENTS * 50;

/// The upstream each bridge client is assigned to, from the admin API.
async fn assignments(gateway: &TestGateway) -> Vec<String> {
    let clients = admin_json(gateway, "GET", "/bridges/devices/clients", "").await;
    clients
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["upstream"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Draining an endpoint through the cluster's admin API keeps its bridge clients on it and
/// sends new ones elsewhere; the cluster removes it, and the bridge closes its stream,
/// once its last client has gone.
#[tokio::test]
async fn cluster_drain_keeps_bridge_clients_and_sends_new_ones_elsewhere() {
    let (a, _) = echo_upstream().await;
    let (b, _) = echo_upstream().await;
    let gateway = TestGateway::start(&gateway_yaml_with(&format!("endpoints: [{a}, {b}]"))).await;
    let addr = gateway.bridge_addr("devices");
    eventually_async("both upstreams are ready", || async {
        let upstreams = admin_json(&gateway, "GET", "/bridges/devices/upstreams", "").await;
        upstreams
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["ready"] == true)
    })
    .await;
    // Round robin over two ready upstreams: one client each.
    let mut old = Vec::new();
    for i in 0..2 {
        let mut client = Client::connect(addr).await;
        client.echo(&format!("old {i}")).await;
        old.push(client);
    }
    let on = |upstream: SocketAddr, all: &[String]| {
        all.iter().filter(|u| **u == upstream.to_string()).count()
    };
    assert_eq!(on(a, &assignments(&gateway).await), 1);

    let (status, body) = gateway
        .admin_post(&format!("/clusters/device-upstreams/endpoints/{a}/drain"))
        .await;
    assert_eq!(status, 200, "{body}");
    let cluster = gateway.cluster_status("device-upstreams").await;
    assert_eq!(cluster["endpoints"][0]["state"], "draining");
    assert_eq!(cluster["endpoints"][0]["in_flight"], 1, "its bridge client");
    let upstreams = admin_json(&gateway, "GET", "/bridges/devices/upstreams", "").await;
    assert_eq!(upstreams[0]["draining"], true);

    let mut new = Vec::new();
    for i in 0..4 {
        let mut client = Client::connect(addr).await;
        client.echo(&format!("new {i}")).await;
        new.push(client);
    }
    for client in &mut old {
        client.echo("still here").await;
    }
    let all = assignments(&gateway).await;
    assert_eq!((on(a, &all), on(b, &all)), (1, 5), "{all:?}");

    // The old clients leave, a's last one among them: the cluster removes a, and the
    // bridge follows.
    drop(old);
    eventually_async("the drained endpoint is removed", || async {
        let cluster = gateway.cluster_status("device-upstreams").await;
        let upstreams = admin_json(&gateway, "GET", "/bridges/devices/upstreams", "").await;
        cluster["endpoints"].as_array().unwrap().len() == 1
            && upstreams.as_array().unwrap().len() == 1
            && upstreams[0]["address"] == b.to_string()
    })
    .await;
    for client in &mut new {
        client.echo("on b").await;
    }
    gateway.shutdown().await;
}

/// Writes the endpoint file the way tools should: a new file renamed over the old one.
fn write_endpoints(file: &Path, upstreams: &[SocketAddr]) {
    let list: Vec<String> = upstreams.iter().map(ToString::to_string).collect();
    let next = file.with_extension("next");
    std::fs::write(&next, format!("endpoints: [{}]\n", list.join(", "))).unwrap();
    std::fs::rename(&next, file).unwrap();
}

/// Waits until the bridge's upstreams are exactly `upstreams`, all ready, and each of
/// `clients` clients is assigned to one of them.
async fn wait_for_upstreams(gateway: &TestGateway, upstreams: &[SocketAddr], clients: usize) {
    let mut want: Vec<String> = upstreams.iter().map(ToString::to_string).collect();
    want.sort();
    eventually_async("the bridge follows the endpoint file", || async {
        let listed = admin_json(gateway, "GET", "/bridges/devices/upstreams", "").await;
        let listed = listed.as_array().unwrap();
        let mut ready: Vec<String> = listed
            .iter()
            .filter(|u| u["ready"] == true)
            .map(|u| u["address"].as_str().unwrap().to_owned())
            .collect();
        ready.sort();
        let assigned = assignments(gateway).await;
        ready == want
            && listed.len() == want.len()
            && assigned.len() == clients
            && assigned.iter().all(|u| want.contains(u))
    })
    .await;
}

/// One client: keeps [`IN_FLIGHT`] numbered frames in flight and checks each echo is the
/// next number, until `stop` is set and every frame sent has come back; then a last
/// marker must come back next (a duplicate would come before it). Counts echoes.
async fn numbered_frames(
    addr: SocketAddr,
    c: usize,
    echoed: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let mut client = Client::connect(addr).await;
    let mut sent = 0;
    while sent < IN_FLIGHT {
        client.send(&format!("client {c} frame {sent}")).await;
        sent += 1;
    }
    let mut received = 0;
    loop {
        let line = client
            .recv()
            .await
            .expect("an echo before the end of the stream");
        assert_eq!(
            line,
            format!("client {c} frame {received}"),
            "each frame once, in order"
        );
        received += 1;
        echoed.fetch_add(1, Ordering::Relaxed);
        if !stop.load(Ordering::Acquire) {
            client.send(&format!("client {c} frame {sent}")).await;
            sent += 1;
        } else if received == sent {
            break;
        }
    }
    client.echo(&format!("client {c} done")).await;
}

/// The cluster's endpoint file replaces every upstream, three times, while bridge clients
/// keep sending numbered frames: each client moves once per replacement, its
/// unacknowledged frames replayed, and gets every echo exactly once and in order (the
/// echo upstream acknowledges in the same `send` as its reply, docs/bridge.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_replaces_every_upstream_under_traffic_without_losing_a_frame() {
    let mut upstreams = Vec::new();
    let mut stats = Vec::new();
    for _ in 0..4 {
        let (addr, counts) = echo_upstream().await;
        upstreams.push(addr);
        stats.push(counts);
    }
    let (first, second) = (&upstreams[..2], &upstreams[2..]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("devices.yaml");
    write_endpoints(&file, first);
    let source = format!(
        "discovery: {{file: {{path: '{}', poll_interval: 50ms}}}}",
        file.display()
    );
    let gateway = TestGateway::start(&gateway_yaml_with(&source)).await;
    wait_for_upstreams(&gateway, first, 0).await;

    let (echoed, stop) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let mut clients = JoinSet::new();
    for c in 0..CLIENTS {
        let addr = gateway.bridge_addr("devices");
        clients.spawn(numbered_frames(addr, c, echoed.clone(), stop.clone()));
    }
    let traffic_flows = || {
        let target = echoed.load(Ordering::Relaxed) + ECHOES_PER_PHASE;
        let echoed = echoed.clone();
        move || echoed.load(Ordering::Relaxed) >= target
    };
    eventually("frames flow", traffic_flows()).await;
    let replacements = [second, first, second];
    for set in replacements {
        write_endpoints(&file, set);
        wait_for_upstreams(&gateway, set, CLIENTS).await;
        eventually("frames flow on the new upstreams", traffic_flows()).await;
    }
    stop.store(true, Ordering::Release);
    tokio::time::timeout(HANG_LIMIT, async {
        while let Some(result) = clients.join_next().await {
            result.unwrap();
        }
    })
    .await
    .expect("every client finished in time");

    let (_, metrics) = gateway.admin_get("/metrics").await;
    let moved = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("yardmaster_bridge_clients_reassigned_total{bridge=\"devices\"} ")
        })
        .map(|n| n.parse::<usize>().unwrap());
    assert_eq!(
        moved,
        Some(replacements.len() * CLIENTS),
        "each client moved once per replacement"
    );
    let resumed: u64 = stats
        .iter()
        .map(|s| s.resumed.load(Ordering::Relaxed))
        .sum();
    assert_eq!(resumed, (replacements.len() * CLIENTS) as u64);
    gateway.shutdown().await;
}
