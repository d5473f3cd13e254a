//! Graceful shutdown: in-flight calls finish, then the serve future returns.

use tokio_stream::StreamExt;
use yardmaster_demo::pb::EchoRequest;

use crate::{request, Upstream};

#[tokio::test]
async fn grpc_shutdown_lets_in_flight_stream_finish() {
    let (upstream, stats) = Upstream::echo("alpha").await;
    let mut client = upstream.echo_client().await;
    let mut replies = client
        .server_stream(EchoRequest {
            count: 3,
            delay_ms: 20,
            ..request("draining")
        })
        .await
        .unwrap()
        .into_inner();
    replies.message().await.unwrap().unwrap();

    let stopped = tokio::spawn(upstream.stop());
    let rest: Vec<_> = replies.collect::<Result<_, _>>().await.unwrap();
    stopped.await.unwrap();

    assert_eq!(rest.len(), 2);
    assert_eq!(stats.cancelled(), 0);
}

#[tokio::test]
async fn http_shutdown_returns_without_connections() {
    let upstream = Upstream::http("web").await;

    upstream.stop().await;
}
