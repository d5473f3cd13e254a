//! Calls abandoned by the client are counted, and `wait_cancelled` wakes up for them.

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use yardmaster_demo::pb::EchoRequest;

use crate::{request, Upstream, HANG_LIMIT};

#[tokio::test]
async fn dropped_server_stream_counts_as_cancelled() {
    let (upstream, stats) = Upstream::echo("alpha").await;
    let mut client = upstream.echo_client().await;
    let mut replies = client
        .server_stream(EchoRequest {
            count: 1_000,
            delay_ms: 5,
            ..request("long")
        })
        .await
        .unwrap()
        .into_inner();
    replies.message().await.unwrap().unwrap();

    drop(replies);

    tokio::time::timeout(HANG_LIMIT, stats.wait_cancelled(1))
        .await
        .expect("cancellation counted");
    assert_eq!((stats.calls(), stats.cancelled()), (1, 1));
}

#[tokio::test]
async fn dropped_bidi_counts_as_cancelled() {
    let (upstream, stats) = Upstream::echo("alpha").await;
    let mut client = upstream.echo_client().await;
    let (requests, requests_rx) = mpsc::channel(1);
    requests.send(request("open")).await.unwrap();
    let mut replies = client
        .bidi(ReceiverStream::new(requests_rx))
        .await
        .unwrap()
        .into_inner();
    replies.message().await.unwrap().unwrap();

    drop(replies);
    drop(requests);

    tokio::time::timeout(HANG_LIMIT, stats.wait_cancelled(1))
        .await
        .expect("cancellation counted");
    assert_eq!(stats.cancelled(), 1);
}

#[tokio::test]
async fn wait_cancelled_returns_at_once_when_already_reached() {
    let (_upstream, stats) = Upstream::echo("alpha").await;

    tokio::time::timeout(HANG_LIMIT, stats.wait_cancelled(0))
        .await
        .expect("zero cancellations are already reached");
}
