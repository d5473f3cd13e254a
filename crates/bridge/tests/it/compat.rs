//! Upstreams of the replaced marking load balancer (`upstream.grpc.service`) work
//! unchanged: ready check, liveness, frames, broadcast and failover.

use std::sync::atomic::Ordering;

use crate::support::{bridge_yaml, eventually, LineClient, TestBridge};
use crate::upstreams::{PeerUpstream, TestUpstream};

const COMPAT: &str = "upstream_protocol: upstream_peer\nkeepalive_interval: 200ms";

#[tokio::test]
async fn peer_upstream_gets_clients_only_after_its_ready_check_passes() {
    let peer = PeerUpstream::default();
    let (is_ready, ready_calls, pings) = (
        peer.is_ready.clone(),
        peer.ready_calls.clone(),
        peer.live_pings.clone(),
    );
    let upstream = TestUpstream::start(peer.into_server()).await;
    let bridge = TestBridge::start(&bridge_yaml(&[upstream.addr], COMPAT)).await;
    eventually(|| ready_calls.load(Ordering::Relaxed) >= 2).await;
    assert!(!bridge.handle.upstreams()[0].ready);

    let mut client = LineClient::connect(bridge.addr).await;
    client.send("queued until ready").await;
    is_ready.store(true, Ordering::Relaxed);
    assert_eq!(client.recv().await.as_deref(), Some("queued until ready"));
    client.echo("byte exact \u{1F680}").await;
    // Live checks keep flowing, one per keepalive interval.
    eventually(|| pings.load(Ordering::Relaxed) >= 3).await;
    assert!(bridge.handle.upstreams()[0].ready);
    bridge.shutdown().await;
}

#[tokio::test]
async fn peer_upstream_broadcasts_and_fails_over() {
    let first = PeerUpstream::default();
    first.is_ready.store(true, Ordering::Relaxed);
    let second = PeerUpstream::default();
    second.is_ready.store(true, Ordering::Relaxed);
    let a = TestUpstream::start(first.into_server()).await;
    let b = TestUpstream::start(second.into_server()).await;
    let bridge = TestBridge::start(&bridge_yaml(&[a.addr, b.addr], COMPAT)).await;
    bridge.wait_ready_upstreams(2).await;
    let mut one = LineClient::connect(bridge.addr).await;
    let mut two = LineClient::connect(bridge.addr).await;
    one.echo("one").await;
    two.echo("two").await;
    one.send("!broadcast all hello everyone").await;
    assert_eq!(one.recv().await.as_deref(), Some("hello everyone"));
    assert_eq!(two.recv().await.as_deref(), Some("hello everyone"));

    a.kill().await;
    eventually(|| {
        bridge
            .handle
            .clients()
            .iter()
            .all(|c| c.upstream == Some(b.addr))
    })
    .await;
    one.echo("after failover").await;
    two.echo("after failover").await;
    bridge.shutdown().await;
}
