//! Bad input, slow readers, unacknowledging upstreams and limits: each affects only the
//! client concerned, and nothing grows without bound.

use std::sync::atomic::Ordering;

use tokio::io::AsyncWriteExt;

use crate::support::{bridge_yaml, eventually, within, LineClient, TestBridge};
use crate::upstreams::{ScriptedUpstream, TestUpstream};

#[tokio::test]
async fn oversized_line_closes_only_that_client() {
    let upstream = TestUpstream::start(ScriptedUpstream::default().into_server()).await;
    let bridge = TestBridge::start(&bridge_yaml(&[upstream.addr], "max_frame_bytes: 16")).await;
    bridge.wait_ready_upstreams(1).await;
    let mut good = LineClient::connect(bridge.addr).await;
    let mut bad = LineClient::connect(bridge.addr).await;
    good.echo("exactly 16 bytes").await;

    bad.send("this line is longer than sixteen bytes").await;
    assert_eq!(bad.recv().await, None, "the offending client is closed");
    good.echo("still served").await;
    assert_eq!(
        bridge.metric(
            "yardmaster_bridge_clients_closed_total{bridge=\"b\",reason=\"frame_too_large\"}"
        ),
        1
    );
    assert_eq!(bridge.handle.clients().len(), 1);
    bridge.shutdown().await;
}

#[tokio::test]
async fn garbage_length_prefix_closes_only_that_client() {
    let upstream = TestUpstream::start(ScriptedUpstream::default().into_server()).await;
    let bridge =
        TestBridge::start(&bridge_yaml(&[upstream.addr], "framing: length_prefixed")).await;
    bridge.wait_ready_upstreams(1).await;
    let mut good = LineClient::connect(bridge.addr).await;
    good.socket.write_all(b"\0\0\0\x02hi").await.unwrap();
    let mut bad = LineClient::connect(bridge.addr).await;
    bad.socket
        .write_all(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(bad.read_to_end().await, 0, "closed without an answer");
    good.socket.write_all(b"\0\0\0\x01!\n").await.unwrap();
    let mut expected = Vec::new();
    expected.extend_from_slice(b"\0\0\0\x02hi\0\0\0\x01!");
    let mut echoed = vec![0u8; expected.len()];
    within(tokio::io::AsyncReadExt::read_exact(
        &mut good.socket,
        &mut echoed,
    ))
    .await
    .unwrap();
    assert_eq!(echoed, expected);
    assert_eq!(
        bridge.metric(
            "yardmaster_bridge_clients_closed_total{bridge=\"b\",reason=\"frame_too_large\"}"
        ),
        1
    );
    bridge.shutdown().await;
}

/// The upstream floods a client that never reads: the gateway queues at most
/// `max_queued_bytes` for it, then closes it, and other clients are unaffected.
#[tokio::test]
async fn client_that_never_reads_is_closed_when_its_queue_is_full() {
    let upstream = TestUpstream::start(ScriptedUpstream::default().into_server()).await;
    let bridge = TestBridge::start(&bridge_yaml(
        &[upstream.addr],
        "max_queued_bytes: 65536\nmax_frame_bytes: 65536",
    ))
    .await;
    bridge.wait_ready_upstreams(1).await;
    let mut other = LineClient::connect(bridge.addr).await;
    let mut sleeper = LineClient::connect(bridge.addr).await;
    // 32 MiB in 1 KiB frames: far more than the socket buffers and the queue together.
    sleeper.send("!flood 32768 1024").await;
    eventually(|| bridge.handle.clients().len() == 1).await;
    assert_eq!(
        bridge.metric("yardmaster_bridge_clients_closed_total{bridge=\"b\",reason=\"queue_full\"}"),
        1
    );
    let received = sleeper.read_to_end().await;
    assert!(
        received < 16 << 20,
        "the closed client got {received} bytes, a fraction of the 32 MiB flood"
    );
    other.echo("unaffected").await;
    bridge.shutdown().await;
}

/// An upstream that acknowledges nothing: the gateway stops reading from the client after
/// `max_unacked_frames`, so what it holds stays bounded however much the client writes.
#[tokio::test]
async fn gateway_stops_reading_from_a_client_its_upstream_does_not_acknowledge() {
    let scripted = ScriptedUpstream::default();
    scripted.hold.store(true, Ordering::Relaxed);
    let frames = scripted.frames.clone();
    let upstream = TestUpstream::start(scripted.into_server()).await;
    let bridge = TestBridge::start(&bridge_yaml(&[upstream.addr], "max_unacked_frames: 8")).await;
    bridge.wait_ready_upstreams(1).await;
    let mut client = LineClient::connect(bridge.addr).await;
    // 1,000 short lines fit in the socket buffers, so these writes complete.
    let lines: String = (0..1000).map(|i| format!("frame {i}\n")).collect();
    within(client.socket.write_all(lines.as_bytes()))
        .await
        .unwrap();
    eventually(|| frames.load(Ordering::Relaxed) == 8).await;
    eventually(|| bridge.handle.clients()[0].unacked_frames == 8).await;
    // A later echo round trip through another client shows the bridge kept running while
    // this client stayed paused at its window.
    let echo = TestUpstream::start(ScriptedUpstream::default().into_server()).await;
    bridge.handle.add_upstream(echo.addr).unwrap();
    bridge.handle.drain_upstream(upstream.addr).unwrap();
    bridge.wait_ready_upstreams(2).await;
    let mut other = LineClient::connect(bridge.addr).await;
    other.echo("round trip").await;
    assert_eq!(frames.load(Ordering::Relaxed), 8);
    assert_eq!(
        bridge
            .handle
            .clients()
            .iter()
            .map(|c| c.unacked_frames)
            .max(),
        Some(8)
    );
    bridge.shutdown().await;
}

#[tokio::test]
async fn client_over_max_clients_is_refused() {
    let upstream = TestUpstream::start(ScriptedUpstream::default().into_server()).await;
    let bridge = TestBridge::start(&bridge_yaml(&[upstream.addr], "max_clients: 2")).await;
    bridge.wait_ready_upstreams(1).await;
    let mut first = LineClient::connect(bridge.addr).await;
    let mut second = LineClient::connect(bridge.addr).await;
    first.echo("1").await;
    second.echo("2").await;
    let mut third = LineClient::connect(bridge.addr).await;
    assert_eq!(third.recv().await, None);
    assert_eq!(
        bridge.metric(
            "yardmaster_bridge_clients_closed_total{bridge=\"b\",reason=\"too_many_clients\"}"
        ),
        1
    );
    drop(first);
    eventually(|| bridge.handle.clients().len() == 1).await;
    let mut fourth = LineClient::connect(bridge.addr).await;
    fourth.echo("4").await;
    bridge.shutdown().await;
}

#[tokio::test]
async fn idle_client_is_closed_after_idle_timeout() {
    let upstream = TestUpstream::start(ScriptedUpstream::default().into_server()).await;
    let bridge = TestBridge::start(&bridge_yaml(&[upstream.addr], "idle_timeout: 300ms")).await;
    bridge.wait_ready_upstreams(1).await;
    let mut client = LineClient::connect(bridge.addr).await;
    client.echo("hello").await;
    assert_eq!(client.recv().await, None);
    assert_eq!(
        bridge
            .metric("yardmaster_bridge_clients_closed_total{bridge=\"b\",reason=\"idle_timeout\"}"),
        1
    );
    bridge.shutdown().await;
}

#[tokio::test]
async fn client_waits_for_a_ready_upstream_and_is_closed_when_none_comes() {
    let bridge = TestBridge::start(&bridge_yaml(
        &["127.0.0.1:1".parse().unwrap()],
        "assign_timeout: 300ms",
    ))
    .await;
    let mut client = LineClient::connect(bridge.addr).await;
    assert_eq!(client.recv().await, None);
    assert_eq!(
        bridge
            .metric("yardmaster_bridge_clients_closed_total{bridge=\"b\",reason=\"no_upstream\"}"),
        1
    );
    bridge.shutdown().await;
}
