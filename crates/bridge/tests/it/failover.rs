//! An upstream that dies under traffic: its clients move to the other upstream and every
//! frame comes back exactly once, in order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::support::{bridge_yaml, within, LineClient, TestBridge};
use crate::upstreams::{ScriptedUpstream, TestUpstream};

const CLIENTS: usize = 40;
const FRAMES: usize = 60;
/// Frames each client keeps in flight.
const IN_FLIGHT: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_upstream_clients_move_and_every_frame_arrives_exactly_once() {
    let doomed = ScriptedUpstream::default();
    let survivor = ScriptedUpstream::default();
    let resumed = survivor.resumed.clone();
    let a = TestUpstream::start(doomed.into_server()).await;
    let b = TestUpstream::start(survivor.into_server()).await;
    let bridge = TestBridge::start(&bridge_yaml(&[a.addr, b.addr], "framing: lines")).await;
    bridge.wait_ready_upstreams(2).await;

    // The kill happens once every client has had a third of its frames echoed.
    let echoed = Arc::new(AtomicUsize::new(0));
    let third = Arc::new(Notify::new());
    let mut clients = JoinSet::new();
    for c in 0..CLIENTS {
        let (addr, echoed, third) = (bridge.addr, echoed.clone(), third.clone());
        clients.spawn(async move {
            let mut client = LineClient::connect(addr).await;
            let mut sent = 0;
            for _ in 0..IN_FLIGHT {
                client.send(&format!("client {c} frame {sent}")).await;
                sent += 1;
            }
            for expected in 0..FRAMES {
                let line = client.recv().await.expect("echo before end of stream");
                assert_eq!(line, format!("client {c} frame {expected}"));
                if expected + 1 == FRAMES / 3
                    && echoed.fetch_add(1, Ordering::AcqRel) + 1 == CLIENTS
                {
                    third.notify_one();
                }
                if sent < FRAMES {
                    client.send(&format!("client {c} frame {sent}")).await;
                    sent += 1;
                }
            }
            // Nothing more may arrive: a duplicate would come before this marker.
            client.echo(&format!("client {c} done")).await;
        });
    }
    within(third.notified()).await;
    a.kill().await;
    within(async {
        while let Some(result) = clients.join_next().await {
            result.unwrap();
        }
    })
    .await;

    let moved = bridge.metric("yardmaster_bridge_clients_reassigned_total{bridge=\"b\"}");
    assert_eq!(
        moved,
        CLIENTS as u64 / 2,
        "half the clients were on the killed upstream"
    );
    assert_eq!(resumed.load(Ordering::Relaxed), moved);
    bridge.shutdown().await;
}

#[tokio::test]
async fn removed_upstream_hands_its_clients_to_another() {
    let a = TestUpstream::start(ScriptedUpstream::default().into_server()).await;
    let b = TestUpstream::start(ScriptedUpstream::default().into_server()).await;
    let bridge = TestBridge::start(&bridge_yaml(&[a.addr, b.addr], "")).await;
    bridge.wait_ready_upstreams(2).await;
    let mut first = LineClient::connect(bridge.addr).await;
    let mut second = LineClient::connect(bridge.addr).await;
    first.echo("one").await;
    second.echo("two").await;

    bridge.handle.remove_upstream(a.addr).unwrap();
    crate::support::eventually(|| {
        bridge
            .handle
            .clients()
            .iter()
            .all(|c| c.upstream == Some(b.addr))
    })
    .await;
    first.echo("still here").await;
    second.echo("me too").await;
    let upstreams = bridge.handle.upstreams();
    assert_eq!(upstreams.len(), 1);
    assert_eq!(upstreams[0].clients, 2);
    bridge.shutdown().await;
}
