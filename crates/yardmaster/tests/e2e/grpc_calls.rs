//! The four gRPC call shapes through the gateway, balancing, large messages, many streams
//! and flow control.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{timeout, Instant};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use yardmaster_demo::pb::EchoRequest;
use yardmaster_test_support::{one_route_to, TestGateway, TestUpstream, HANG_LIMIT};

const MIB: usize = 1024 * 1024;

fn request(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.to_owned(),
        ..EchoRequest::default()
    }
}

/// The echo upstream's `reply_bytes` payload: byte `i` is `i % 256`.
fn pattern(len: usize) -> Bytes {
    (0..len).map(|i| i as u8).collect::<Vec<u8>>().into()
}

async fn gateway_to(upstream: &TestUpstream) -> TestGateway {
    TestGateway::start(&one_route_to(&[upstream.addr()])).await
}

#[tokio::test]
async fn unary_call_echoes_message_and_payload() {
    let upstream = TestUpstream::echo("users").await;
    let gateway = gateway_to(&upstream).await;

    let reply = gateway
        .echo_client()
        .await
        .unary(EchoRequest {
            payload: Bytes::from_static(b"\x00\x01\xff"),
            ..request("hello")
        })
        .await
        .expect("unary call")
        .into_inner();

    assert_eq!(
        (reply.message.as_str(), reply.payload.as_ref()),
        ("hello", &b"\x00\x01\xff"[..])
    );
    assert_eq!(upstream.stats().calls(), 1);
}

/// Replies paced `delay_ms` apart upstream must stay paced downstream: a buffering proxy
/// would deliver them all at once when the stream ends.
#[tokio::test]
async fn server_stream_delivers_replies_one_by_one() {
    let upstream = TestUpstream::echo("users").await;
    let gateway = gateway_to(&upstream).await;
    let (count, delay) = (4_u32, Duration::from_millis(250));

    let mut replies = gateway
        .echo_client()
        .await
        .server_stream(EchoRequest {
            count,
            delay_ms: 250,
            ..request("tick")
        })
        .await
        .expect("server stream opens")
        .into_inner();
    let mut arrivals = Vec::new();
    while let Some(reply) = timeout(HANG_LIMIT, replies.message())
        .await
        .expect("next reply in time")
        .expect("reply")
    {
        arrivals.push((reply.index, Instant::now()));
    }

    let indexes: Vec<u32> = arrivals.iter().map(|(index, _)| *index).collect();
    assert_eq!(indexes, [0, 1, 2, 3]);
    // The last reply leaves the upstream at least 3 delays after the first one.
    let spread = arrivals[3].1 - arrivals[0].1;
    assert!(
        spread >= delay * (count - 1) / 2,
        "replies arrived bunched together: first to last took {spread:?}"
    );
}

#[tokio::test]
async fn client_stream_joins_every_message() {
    let upstream = TestUpstream::echo("users").await;
    let gateway = gateway_to(&upstream).await;

    let reply = gateway
        .echo_client()
        .await
        .client_stream(tokio_stream::iter([
            request("a"),
            request("b"),
            request("c"),
        ]))
        .await
        .expect("client stream")
        .into_inner();

    assert_eq!((reply.message.as_str(), reply.received), ("a,b,c", 3));
}

/// Each request waits for its reply before the next is sent, which deadlocks behind a
/// proxy that buffers either direction.
#[tokio::test]
async fn bidi_ping_pong_gets_each_reply_before_the_next_request() {
    let upstream = TestUpstream::echo("users").await;
    let gateway = gateway_to(&upstream).await;
    let (requests, requests_rx) = mpsc::channel(1);
    requests.send(request("ping 0")).await.unwrap();
    let mut replies = gateway
        .echo_client()
        .await
        .bidi(ReceiverStream::new(requests_rx))
        .await
        .expect("bidi opens")
        .into_inner();

    for round in 0..5 {
        if round > 0 {
            requests
                .send(request(&format!("ping {round}")))
                .await
                .unwrap();
        }
        let reply = timeout(HANG_LIMIT, replies.message())
            .await
            .expect("reply before the next request")
            .expect("reply")
            .expect("stream still open");
        assert_eq!(
            (reply.message, reply.index),
            (format!("ping {round}"), round)
        );
    }
    drop(requests);
    let end = timeout(HANG_LIMIT, replies.message()).await.unwrap();
    assert_eq!(end.expect("clean end"), None);
}

#[tokio::test]
async fn round_robin_alternates_between_two_upstreams() {
    let first = TestUpstream::echo("first").await;
    let second = TestUpstream::echo("second").await;
    let gateway = TestGateway::start(&one_route_to(&[first.addr(), second.addr()])).await;
    let mut client = gateway.echo_client().await;

    let mut served_by = Vec::new();
    for i in 0..6 {
        let reply = client.unary(request(&format!("call {i}"))).await.unwrap();
        served_by.push(reply.into_inner().served_by);
    }

    assert_eq!(
        served_by,
        ["first", "second", "first", "second", "first", "second"]
    );
    assert_eq!((first.stats().calls(), second.stats().calls()), (3, 3));
}

#[tokio::test]
async fn request_of_64_mib_passes_intact() {
    let upstream = TestUpstream::echo("users").await;
    let gateway = gateway_to(&upstream).await;
    let payload: Bytes = (0..64 * MIB)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();

    let mut client = gateway.echo_client().await;
    let call = client.unary(EchoRequest {
        payload: payload.clone(),
        ..request("big")
    });
    let reply = timeout(HANG_LIMIT, call)
        .await
        .expect("64 MiB echoed in time")
        .expect("64 MiB call")
        .into_inner();

    assert_eq!(reply.payload.len(), 64 * MIB);
    assert!(reply.payload == payload, "payload changed on the way");
}

#[tokio::test]
async fn reply_of_64_mib_passes_intact() {
    let upstream = TestUpstream::echo("users").await;
    let gateway = gateway_to(&upstream).await;

    let mut client = gateway.echo_client().await;
    let call = client.unary(EchoRequest {
        reply_bytes: 64 * MIB as u32,
        ..request("big reply")
    });
    let reply = timeout(HANG_LIMIT, call)
        .await
        .expect("64 MiB reply in time")
        .expect("64 MiB reply")
        .into_inner();

    assert_eq!(reply.payload.len(), 64 * MIB);
    assert!(
        reply.payload == pattern(64 * MIB),
        "payload changed on the way"
    );
}

/// 500 calls open at once on one client connection; each waits 50 ms upstream so they
/// overlap.
#[tokio::test]
async fn five_hundred_concurrent_streams_on_one_connection_complete() {
    let upstream = TestUpstream::echo("users").await;
    let gateway = gateway_to(&upstream).await;
    let client = gateway.echo_client().await;

    let mut calls = JoinSet::new();
    for i in 0..500 {
        let mut client = client.clone();
        calls.spawn(async move {
            let call = client.unary(EchoRequest {
                delay_ms: 50,
                ..request(&i.to_string())
            });
            (i, call.await.map(|reply| reply.into_inner().message))
        });
    }
    let results = timeout(HANG_LIMIT, calls.join_all())
        .await
        .expect("500 streams completed in time");

    let failures: Vec<_> = results
        .iter()
        .filter(|(i, result)| result.as_deref().ok() != Some(i.to_string().as_str()))
        .collect();
    assert!(failures.is_empty(), "failed calls: {failures:?}");
    assert_eq!(results.len(), 500);
    assert_eq!(upstream.stats().calls(), 500);
}

#[tokio::test]
async fn server_stream_of_32_one_mib_messages_does_not_stall() {
    let upstream = TestUpstream::echo("users").await;
    let gateway = gateway_to(&upstream).await;

    let call = async {
        let replies = gateway
            .echo_client()
            .await
            .server_stream(EchoRequest {
                count: 32,
                reply_bytes: MIB as u32,
                ..request("bulk")
            })
            .await?
            .into_inner();
        replies.collect::<Result<Vec<_>, _>>().await
    };
    let replies = timeout(HANG_LIMIT, call)
        .await
        .expect("32 MiB streamed in time")
        .expect("server stream");

    assert_eq!(replies.len(), 32);
    let expected = pattern(MIB);
    assert!(replies.iter().all(|reply| reply.payload == expected));
}

/// Both directions full at once: the client sends all 32 messages without waiting, the
/// upstream echoes each. Only flow control released as the other side reads keeps it going.
#[tokio::test]
async fn bidi_of_32_one_mib_messages_each_way_does_not_stall() {
    let upstream = TestUpstream::echo("users").await;
    let gateway = gateway_to(&upstream).await;
    let payload: Bytes = (0..MIB)
        .map(|i| (i % 253) as u8)
        .collect::<Vec<u8>>()
        .into();
    let requests: Vec<_> = (0..32)
        .map(|i| EchoRequest {
            payload: payload.clone(),
            ..request(&i.to_string())
        })
        .collect();

    let call = async {
        let replies = gateway
            .echo_client()
            .await
            .bidi(tokio_stream::iter(requests))
            .await?
            .into_inner();
        replies.collect::<Result<Vec<_>, _>>().await
    };
    let replies = timeout(HANG_LIMIT, call)
        .await
        .expect("32 MiB each way in time")
        .expect("bidi");

    let indexes: Vec<u32> = replies.iter().map(|reply| reply.index).collect();
    assert_eq!(indexes, (0..32).collect::<Vec<u32>>());
    assert!(replies.iter().all(|reply| reply.payload == payload));
}
