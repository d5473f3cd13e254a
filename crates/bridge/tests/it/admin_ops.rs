//! Operating a running bridge through its handle: list, send, close, and managing
//! upstreams at runtime.

use yardmaster_bridge::BridgeError;
use yardmaster_cluster::EndpointState;

use crate::support::{bridge_yaml, eventually, LineClient, TestBridge};
use crate::upstreams::{ScriptedUpstream, TestUpstream};

#[tokio::test]
async fn handle_lists_sends_to_and_closes_clients() {
    let upstream = TestUpstream::start(ScriptedUpstream::default().into_server()).await;
    let bridge = TestBridge::start(&bridge_yaml(&[upstream.addr], "")).await;
    bridge.wait_ready_upstreams(1).await;
    let mut first = LineClient::connect(bridge.addr).await;
    let mut second = LineClient::connect(bridge.addr).await;
    first.echo("abc").await;
    second.echo("de").await;

    let clients = bridge.handle.clients();
    assert_eq!(clients.len(), 2);
    let first_peer = first.socket.local_addr().unwrap();
    let first_status = clients.iter().find(|c| c.peer == first_peer).unwrap();
    assert_eq!(first_status.bytes_in, 3);
    assert_eq!(first_status.upstream, Some(upstream.addr));
    assert!(first_status.active);
    assert_eq!(uuid_version(&first_status.id), 4);

    bridge
        .handle
        .send(&first_status.id, "from admin".into())
        .unwrap();
    assert_eq!(first.recv().await.as_deref(), Some("from admin"));
    bridge.handle.close(&first_status.id).unwrap();
    assert_eq!(first.recv().await, None);
    second.echo("unaffected").await;
    eventually(|| bridge.handle.clients().len() == 1).await;
    let gone = bridge.handle.send(&first_status.id, "gone".into());
    assert!(
        matches!(&gone, Err(BridgeError::UnknownClient(id)) if *id == first_status.id),
        "{gone:?}"
    );
    bridge.shutdown().await;
}

/// The version nibble of a hyphenated UUID.
fn uuid_version(id: &str) -> u32 {
    assert_eq!(id.len(), 36, "{id} is a hyphenated UUID");
    id[14..15].parse().unwrap()
}

/// Upstream changes through the handle are changes to the cluster, which shows the same
/// endpoints; a drained one leaves the cluster, and the bridge, with its last client.
#[tokio::test]
async fn drained_upstream_keeps_its_clients_and_gets_no_new_ones() {
    let a = TestUpstream::start(ScriptedUpstream::default().into_server()).await;
    let bridge = TestBridge::start(&bridge_yaml(&[a.addr], "balance: least_clients")).await;
    bridge.wait_ready_upstreams(1).await;
    let mut old = LineClient::connect(bridge.addr).await;
    old.echo("on a").await;

    let b = TestUpstream::start(ScriptedUpstream::default().into_server()).await;
    bridge.handle.add_upstream(b.addr).unwrap();
    let again = bridge.handle.add_upstream(b.addr).unwrap_err();
    assert!(!again.is_not_found() && !again.is_invalid(), "{again}");
    bridge.wait_ready_upstreams(2).await;
    bridge.handle.drain_upstream(a.addr).unwrap();
    let mut new = Vec::new();
    for i in 0..3 {
        let mut client = LineClient::connect(bridge.addr).await;
        client.echo(&format!("new {i}")).await;
        new.push(client);
    }
    old.echo("still on a").await;
    let upstreams = bridge.handle.upstreams();
    let counts: Vec<(bool, usize)> = upstreams.iter().map(|u| (u.draining, u.clients)).collect();
    assert_eq!(counts, [(true, 1), (false, 3)]);
    let endpoints: Vec<_> = bridge
        .cluster
        .status()
        .endpoints
        .iter()
        .map(|e| (e.address, e.state, e.in_flight, e.source))
        .collect();
    assert_eq!(
        endpoints,
        [
            (a.addr, EndpointState::Draining, 1, "static"),
            (b.addr, EndpointState::Active, 3, "admin")
        ],
        "each bridge client counts as in flight"
    );

    drop(old);
    eventually(|| bridge.handle.upstreams().len() == 1).await;
    assert_eq!(bridge.handle.upstreams()[0].address, b.addr);
    assert_eq!(bridge.cluster.endpoints().endpoints().len(), 1);
    let unknown = "127.0.0.1:9".parse().unwrap();
    assert!(bridge
        .handle
        .remove_upstream(unknown)
        .unwrap_err()
        .is_not_found());
    bridge.shutdown().await;
}

#[tokio::test]
async fn upstream_close_command_closes_the_client_after_its_queued_frames() {
    let upstream = TestUpstream::start(ScriptedUpstream::default().into_server()).await;
    let bridge = TestBridge::start(&bridge_yaml(&[upstream.addr], "")).await;
    bridge.wait_ready_upstreams(1).await;
    let mut client = LineClient::connect(bridge.addr).await;
    let mut other = LineClient::connect(bridge.addr).await;
    client.send("last words").await;
    client.send("!close done here").await;
    assert_eq!(client.recv().await.as_deref(), Some("last words"));
    assert_eq!(client.recv().await, None);
    other.echo("unaffected").await;
    assert_eq!(
        bridge.metric(
            "yardmaster_bridge_clients_closed_total{bridge=\"b\",reason=\"upstream_close\"}"
        ),
        1
    );
    bridge.shutdown().await;
}
