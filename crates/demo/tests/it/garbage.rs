//! Garbage on the socket gets a clear error, and the upstream keeps serving.

use bytes::Bytes;
use http::StatusCode;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{request, Upstream, HANG_LIMIT};

#[tokio::test]
async fn grpc_upstream_closes_garbage_connection_and_keeps_serving() {
    let (upstream, _) = Upstream::echo("alpha").await;
    let mut socket = TcpStream::connect(upstream.addr).await.unwrap();

    socket
        .write_all(b"\x16\x03\x01 this is not HTTP/2\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    let read = tokio::time::timeout(HANG_LIMIT, socket.read_to_end(&mut received)).await;

    assert!(read.is_ok(), "the upstream closes the connection");
    let reply = upstream
        .echo_client()
        .await
        .unary(request("still here"))
        .await;
    assert_eq!(reply.unwrap().into_inner().message, "still here");
}

#[tokio::test]
async fn http_upstream_answers_garbage_with_400_and_keeps_serving() {
    let upstream = Upstream::http("web").await;
    let mut socket = TcpStream::connect(upstream.addr).await.unwrap();

    socket
        .write_all(b"NOT A REQUEST LINE\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(HANG_LIMIT, socket.read_to_end(&mut received))
        .await
        .unwrap()
        .unwrap();

    assert!(
        received.starts_with(b"HTTP/1.1 400"),
        "{:?}",
        String::from_utf8_lossy(&received)
    );
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let response = client
        .get(upstream.url("/").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
