//! The four call shapes and their scripted behaviour.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::Code;
use yardmaster_demo::pb::EchoRequest;

use crate::{request, Upstream};

#[tokio::test]
async fn unary_echoes_message_and_payload() {
    let (upstream, stats) = Upstream::echo("alpha").await;
    let mut client = upstream.echo_client().await;

    let reply = client
        .unary(EchoRequest {
            payload: Bytes::from_static(b"\x00\x01binary"),
            ..request("hi")
        })
        .await
        .unwrap()
        .into_inner();

    assert_eq!(reply.message, "hi");
    assert_eq!(reply.payload, Bytes::from_static(b"\x00\x01binary"));
    assert_eq!(reply.served_by, "alpha");
    assert_eq!(reply.index, 0);
    assert_eq!((stats.calls(), stats.cancelled()), (1, 0));
}

#[tokio::test]
async fn unary_waits_delay_before_replying() {
    let (upstream, _) = Upstream::echo("alpha").await;
    let mut client = upstream.echo_client().await;

    let started = Instant::now();
    client
        .unary(EchoRequest {
            delay_ms: 50,
            ..request("slow")
        })
        .await
        .unwrap();

    assert!(started.elapsed() >= Duration::from_millis(50));
}

#[tokio::test]
async fn unary_reply_bytes_replaces_payload_with_pattern() {
    let (upstream, _) = Upstream::echo("alpha").await;
    let mut client = upstream.echo_client().await;

    let reply = client
        .unary(EchoRequest {
            payload: Bytes::from_static(b"ignored"),
            reply_bytes: 300,
            ..request("sized")
        })
        .await
        .unwrap()
        .into_inner();

    let expected: Vec<u8> = (0..300_u32).map(|i| i as u8).collect();
    assert_eq!(reply.payload, expected);
}

#[tokio::test]
async fn unary_fails_with_scripted_status() {
    let (upstream, stats) = Upstream::echo("alpha").await;
    let mut client = upstream.echo_client().await;

    let status = client
        .unary(EchoRequest {
            fail_code: Code::PermissionDenied as i32,
            fail_message: "go away".to_owned(),
            ..request("x")
        })
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(status.message(), "go away");
    assert_eq!(
        stats.cancelled(),
        0,
        "a scripted failure is not a cancellation"
    );
}

#[tokio::test]
async fn server_stream_sends_count_replies_in_order() {
    let (upstream, stats) = Upstream::echo("alpha").await;
    let mut client = upstream.echo_client().await;

    let replies: Vec<_> = client
        .server_stream(EchoRequest {
            count: 3,
            delay_ms: 1,
            ..request("tick")
        })
        .await
        .unwrap()
        .into_inner()
        .collect::<Result<_, _>>()
        .await
        .unwrap();

    let indexes: Vec<u32> = replies.iter().map(|reply| reply.index).collect();
    assert_eq!(indexes, [0, 1, 2]);
    assert!(replies
        .iter()
        .all(|r| r.message == "tick" && r.served_by == "alpha"));
    assert_eq!((stats.calls(), stats.cancelled()), (1, 0));
}

#[tokio::test]
async fn server_stream_count_zero_sends_one_reply() {
    let (upstream, _) = Upstream::echo("alpha").await;
    let mut client = upstream.echo_client().await;

    let replies: Vec<_> = client
        .server_stream(request("once"))
        .await
        .unwrap()
        .into_inner()
        .collect::<Result<_, _>>()
        .await
        .unwrap();

    assert_eq!(replies.len(), 1);
}

#[tokio::test]
async fn server_stream_fails_after_scripted_replies() {
    let (upstream, stats) = Upstream::echo("alpha").await;
    let mut client = upstream.echo_client().await;

    let mut replies = client
        .server_stream(EchoRequest {
            count: 10,
            fail_code: Code::Unavailable as i32,
            fail_message: "draining".to_owned(),
            fail_after: 2,
            ..request("x")
        })
        .await
        .unwrap()
        .into_inner();

    assert_eq!(replies.message().await.unwrap().unwrap().index, 0);
    assert_eq!(replies.message().await.unwrap().unwrap().index, 1);
    let status = replies.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.message(), "draining");
    assert_eq!(stats.cancelled(), 0);
}

#[tokio::test]
async fn client_stream_joins_messages_and_counts_them() {
    let (upstream, stats) = Upstream::echo("alpha").await;
    let mut client = upstream.echo_client().await;

    let requests = tokio_stream::iter([request("a"), request("b"), request("c")]);
    let reply = client.client_stream(requests).await.unwrap().into_inner();

    assert_eq!(reply.message, "a,b,c");
    assert_eq!(reply.received, 3);
    assert_eq!(reply.served_by, "alpha");
    assert_eq!((stats.calls(), stats.cancelled()), (1, 0));
}

#[tokio::test]
async fn client_stream_fails_on_scripted_request() {
    let (upstream, _) = Upstream::echo("alpha").await;
    let mut client = upstream.echo_client().await;

    let failing = EchoRequest {
        fail_code: Code::InvalidArgument as i32,
        fail_message: "bad second".to_owned(),
        ..request("b")
    };
    let requests = tokio_stream::iter([request("a"), failing]);
    let status = client.client_stream(requests).await.unwrap_err();

    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "bad second");
}

/// Each reply arrives before the next request is sent, so replies really are per request.
#[tokio::test]
async fn bidi_replies_once_per_request_in_order() {
    let (upstream, stats) = Upstream::echo("alpha").await;
    let mut client = upstream.echo_client().await;
    let (requests, requests_rx) = mpsc::channel(1);

    requests.send(request("first")).await.unwrap();
    let mut replies = client
        .bidi(ReceiverStream::new(requests_rx))
        .await
        .unwrap()
        .into_inner();
    let first = replies.message().await.unwrap().unwrap();
    requests
        .send(EchoRequest {
            delay_ms: 5,
            ..request("second")
        })
        .await
        .unwrap();
    let second = replies.message().await.unwrap().unwrap();
    drop(requests);
    let end = replies.message().await.unwrap();

    assert_eq!((first.message.as_str(), first.index), ("first", 0));
    assert_eq!((second.message.as_str(), second.index), ("second", 1));
    assert!(end.is_none());
    assert_eq!((stats.calls(), stats.cancelled()), (1, 0));
}

#[tokio::test]
async fn bidi_fails_after_scripted_replies() {
    let (upstream, _) = Upstream::echo("alpha").await;
    let mut client = upstream.echo_client().await;
    let arming = EchoRequest {
        fail_code: Code::Aborted as i32,
        fail_message: "enough".to_owned(),
        fail_after: 2,
        ..request("a")
    };
    let requests = tokio_stream::iter([arming, request("b"), request("c")]);

    let mut replies = client.bidi(requests).await.unwrap().into_inner();

    assert_eq!(replies.message().await.unwrap().unwrap().message, "a");
    assert_eq!(replies.message().await.unwrap().unwrap().message, "b");
    let status = replies.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(status.message(), "enough");
}
