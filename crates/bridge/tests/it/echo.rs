//! Frames go to an upstream and come back byte for byte, for many clients at once.

use std::sync::atomic::Ordering;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::support::{bridge_yaml, within, LineClient, TestBridge};
use crate::upstreams::{ScriptedUpstream, TestUpstream};

const CLIENTS: usize = 1000;
const FRAMES_PER_CLIENT: usize = 4;

/// Frame `i` of client `c`: binary, with newlines and zero bytes, length varying.
fn payload(c: usize, i: usize) -> Vec<u8> {
    let len = 1 + (c * 7 + i * 131) % 600;
    (0..len)
        .map(|k| ((c + i * 31 + k * 17) % 256) as u8)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_clients_get_byte_exact_echoes_through_two_upstreams() {
    let first = ScriptedUpstream::default();
    let second = ScriptedUpstream::default();
    let (first_counts, second_counts) = (first.clone(), second.clone());
    let a = TestUpstream::start(first.into_server()).await;
    let b = TestUpstream::start(second.into_server()).await;
    let bridge =
        TestBridge::start(&bridge_yaml(&[a.addr, b.addr], "framing: length_prefixed")).await;
    bridge.wait_ready_upstreams(2).await;

    let mut clients = JoinSet::new();
    for c in 0..CLIENTS {
        let addr = bridge.addr;
        clients.spawn(async move {
            let mut socket = TcpStream::connect(addr).await.unwrap();
            let mut wire = Vec::new();
            for i in 0..FRAMES_PER_CLIENT {
                let frame = payload(c, i);
                wire.extend_from_slice(&(frame.len() as u32).to_be_bytes());
                wire.extend_from_slice(&frame);
            }
            socket.write_all(&wire).await.unwrap();
            let mut echoed = vec![0u8; wire.len()];
            socket.read_exact(&mut echoed).await.unwrap();
            assert_eq!(echoed, wire, "client {c} got its frames back unchanged");
        });
    }
    within(async {
        while let Some(result) = clients.join_next().await {
            result.unwrap();
        }
    })
    .await;

    let frames = (CLIENTS * FRAMES_PER_CLIENT) as u64;
    let first_frames = first_counts.frames.load(Ordering::Relaxed);
    let second_frames = second_counts.frames.load(Ordering::Relaxed);
    assert_eq!(first_frames + second_frames, frames);
    // Round robin over two ready upstreams: an even split of the clients.
    assert_eq!(
        first_counts.opened.load(Ordering::Relaxed),
        CLIENTS as u64 / 2
    );
    assert_eq!(
        second_counts.opened.load(Ordering::Relaxed),
        CLIENTS as u64 / 2
    );
    assert_eq!(
        bridge.metric("yardmaster_bridge_frames_received_total{bridge=\"b\"}"),
        frames
    );
    bridge.shutdown().await;
}

#[tokio::test]
async fn lines_are_echoed_without_losing_their_newline() {
    let upstream = TestUpstream::start(ScriptedUpstream::default().into_server()).await;
    let bridge = TestBridge::start(&bridge_yaml(&[upstream.addr], "framing: lines")).await;
    bridge.wait_ready_upstreams(1).await;
    let mut client = LineClient::connect(bridge.addr).await;
    client.echo("hello").await;
    client.echo("").await;
    client.echo("with\rcarriage return").await;
    let status = &bridge.handle.clients()[0];
    assert_eq!(status.bytes_in, 5 + 20);
    assert_eq!(status.bytes_out, 5 + 20);
    assert_eq!(status.upstream, Some(upstream.addr));
    bridge.shutdown().await;
}

#[tokio::test]
async fn raw_bytes_are_echoed_as_they_arrive() {
    let upstream = TestUpstream::start(ScriptedUpstream::default().into_server()).await;
    let bridge = TestBridge::start(&bridge_yaml(&[upstream.addr], "framing: raw")).await;
    bridge.wait_ready_upstreams(1).await;
    let mut socket = TcpStream::connect(bridge.addr).await.unwrap();
    let sent: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    socket.write_all(&sent).await.unwrap();
    let mut echoed = vec![0u8; sent.len()];
    within(socket.read_exact(&mut echoed)).await.unwrap();
    assert_eq!(echoed, sent);
    bridge.shutdown().await;
}
