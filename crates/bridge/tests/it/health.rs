//! The cluster's health checks decide which upstreams get new clients: one its check
//! marks unhealthy gets none, one that passes gets them, and clients already assigned
//! stay while their stream is up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::support::{eventually, LineClient, TestBridge};
use crate::upstreams::{ScriptedUpstream, TestUpstream, WithHealth};

fn yaml(a: std::net::SocketAddr, b: std::net::SocketAddr) -> String {
    format!(
        "
listeners: []
bridges:
  - name: b
    listen: 127.0.0.1:0
    cluster: up
clusters:
  - name: up
    endpoints: [{a}, {b}]
    health_check:
      kind: grpc
      interval: 50ms
      timeout: 1s
      healthy_threshold: 1
      unhealthy_threshold: 1
      initial_state: unhealthy
"
    )
}

#[tokio::test]
async fn endpoints_the_cluster_finds_unhealthy_get_no_new_clients() {
    let a_serving = Arc::new(AtomicBool::new(true));
    let b_serving = Arc::new(AtomicBool::new(false));
    let a = TestUpstream::start(WithHealth {
        inner: ScriptedUpstream::default().into_server(),
        serving: a_serving.clone(),
    })
    .await;
    let b = TestUpstream::start(WithHealth {
        inner: ScriptedUpstream::default().into_server(),
        serving: b_serving.clone(),
    })
    .await;
    let bridge = TestBridge::start(&yaml(a.addr, b.addr)).await;
    eventually(|| {
        let upstreams = bridge.handle.upstreams();
        upstreams.len() == 2
            && upstreams.iter().all(|u| u.ready)
            && upstreams[0].healthy
            && !upstreams[1].healthy
    })
    .await;

    let mut clients = Vec::new();
    for i in 0..4 {
        let mut client = LineClient::connect(bridge.addr).await;
        client.echo(&format!("client {i}")).await;
        clients.push(client);
    }
    assert_eq!(
        bridge.handle.upstreams()[0].clients,
        4,
        "all on the healthy upstream"
    );

    // The cluster's check turns a unhealthy and b healthy: new clients go to b, a keeps
    // its clients.
    a_serving.store(false, Ordering::Relaxed);
    b_serving.store(true, Ordering::Relaxed);
    eventually(|| {
        let endpoints = bridge.cluster.endpoints();
        let healthy: Vec<bool> = endpoints
            .endpoints()
            .iter()
            .map(|e| e.is_healthy())
            .collect();
        healthy == [false, true]
    })
    .await;
    let mut late = Vec::new();
    for i in 0..3 {
        let mut client = LineClient::connect(bridge.addr).await;
        client.echo(&format!("late {i}")).await;
        late.push(client);
    }
    for client in &mut clients {
        client.echo("still on a").await;
    }
    let upstreams = bridge.handle.upstreams();
    let seen: Vec<(bool, usize)> = upstreams.iter().map(|u| (u.healthy, u.clients)).collect();
    assert_eq!(seen, [(false, 4), (true, 3)]);
    bridge.shutdown().await;
}
