//! Broadcasts reach exactly the clients in their scope, from an upstream command or from
//! the bridge handle.

use yardmaster_bridge::Scope;

use crate::support::{bridge_yaml, eventually, LineClient, TestBridge};
use crate::upstreams::{ScriptedUpstream, TestUpstream};

/// Reads the next line of each client, after sending each a marker frame through the
/// handle: a client outside the scope sees the marker first.
async fn next_lines(
    bridge: &TestBridge,
    clients: &mut [&mut LineClient],
    ids: &[String],
) -> Vec<String> {
    for id in ids {
        bridge.handle.send(id, "marker".into()).unwrap();
    }
    let mut lines = Vec::new();
    for client in clients.iter_mut() {
        let line = client.recv().await.unwrap();
        if line != "marker" {
            assert_eq!(client.recv().await.as_deref(), Some("marker"));
        }
        lines.push(line);
    }
    lines
}

#[tokio::test]
async fn broadcast_scopes_reach_exactly_the_right_clients() {
    let upstream = TestUpstream::start(ScriptedUpstream::default().into_server()).await;
    let bridge = TestBridge::start(&bridge_yaml(&[upstream.addr], "active_window: 600ms")).await;
    bridge.wait_ready_upstreams(1).await;

    let mut idle1 = LineClient::connect(bridge.addr).await;
    let mut idle2 = LineClient::connect(bridge.addr).await;
    eventually(|| {
        let clients = bridge.handle.clients();
        clients.len() == 2 && clients.iter().all(|c| !c.active)
    })
    .await;
    let idle_ids: Vec<String> = bridge.handle.clients().into_iter().map(|c| c.id).collect();
    let mut busy1 = LineClient::connect(bridge.addr).await;
    let mut busy2 = LineClient::connect(bridge.addr).await;
    busy1.echo("hi").await;
    busy2.echo("hi").await;

    // An upstream command: only the two active clients get it.
    busy1.send("!broadcast active to-active").await;
    assert_eq!(busy1.recv().await.as_deref(), Some("to-active"));
    assert_eq!(busy2.recv().await.as_deref(), Some("to-active"));
    let lines = next_lines(&bridge, &mut [&mut idle1, &mut idle2], &idle_ids).await;
    assert_eq!(lines, ["marker", "marker"]);

    // Markers made the idle clients active; let them go idle again, keep the others busy.
    eventually(|| {
        bridge
            .handle
            .clients()
            .iter()
            .filter(|c| idle_ids.contains(&c.id))
            .all(|c| !c.active)
    })
    .await;
    busy1.echo("still busy").await;
    busy2.echo("still busy").await;
    assert_eq!(
        bridge
            .handle
            .broadcast(Scope::Inactive, "to-inactive".into()),
        2
    );
    assert_eq!(idle1.recv().await.as_deref(), Some("to-inactive"));
    assert_eq!(idle2.recv().await.as_deref(), Some("to-inactive"));
    let busy_ids: Vec<String> = bridge
        .handle
        .clients()
        .into_iter()
        .map(|c| c.id)
        .filter(|id| !idle_ids.contains(id))
        .collect();
    let lines = next_lines(&bridge, &mut [&mut busy1, &mut busy2], &busy_ids).await;
    assert_eq!(lines, ["marker", "marker"]);

    // Everyone.
    busy2.send("!broadcast all to-all").await;
    for client in [&mut idle1, &mut idle2, &mut busy1, &mut busy2] {
        assert_eq!(client.recv().await.as_deref(), Some("to-all"));
    }
    bridge.shutdown().await;
}
