//! The HTTP demo upstream, driven by hyper's client over HTTP/1.1 and h2.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::{Upstream, HANG_LIMIT};

async fn get(url: String) -> http::Response<Incoming> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    client.get(url.parse().unwrap()).await.unwrap()
}

async fn json(response: http::Response<Incoming>) -> Value {
    let body = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn get_describes_request_as_json() {
    let upstream = Upstream::http("web").await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let request = Request::get(upstream.url("/some/path?x=1&y=2"))
        .header("x-forwarded-for", "10.0.0.1")
        .header("x-repeated", "one")
        .header("x-repeated", "two")
        .body(Empty::new())
        .unwrap();

    let response = client.request(request).await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let description = json(response).await;
    assert_eq!(description["served_by"], "web");
    assert_eq!(description["method"], "GET");
    assert_eq!(description["path"], "/some/path?x=1&y=2");
    assert_eq!(description["version"], "HTTP/1.1");
    assert_eq!(
        description["headers"]["x-forwarded-for"],
        serde_json::json!(["10.0.0.1"])
    );
    assert_eq!(
        description["headers"]["x-repeated"],
        serde_json::json!(["one", "two"])
    );
    let host = upstream.addr.to_string();
    assert_eq!(description["headers"]["host"], serde_json::json!([host]));
}

#[tokio::test]
async fn h2_request_is_described_as_http2() {
    let upstream = Upstream::http("web").await;
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Empty<Bytes>>();

    let response = client
        .get(upstream.url("/").parse().unwrap())
        .await
        .unwrap();

    assert_eq!(json(response).await["version"], "HTTP/2.0");
}

/// Each chunk comes back before the next one is sent, so the body is streamed, not buffered.
#[tokio::test]
async fn post_echo_streams_body_back_as_it_arrives() {
    let upstream = Upstream::http("web").await;
    let client = Client::builder(TokioExecutor::new())
        .build_http::<StreamBody<ReceiverStream<Result<Frame<Bytes>, Infallible>>>>();
    let (chunks, chunks_rx) = mpsc::channel(1);
    let request = Request::post(upstream.url("/echo"))
        .header("content-type", "application/x-demo")
        .body(StreamBody::new(ReceiverStream::new(chunks_rx)))
        .unwrap();

    chunks
        .send(Ok(Frame::data(Bytes::from("hello "))))
        .await
        .unwrap();
    let response = tokio::time::timeout(HANG_LIMIT, client.request(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/x-demo");
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    chunks
        .send(Ok(Frame::data(Bytes::from("world"))))
        .await
        .unwrap();
    drop(chunks);
    let rest = body.collect().await.unwrap().to_bytes();

    assert_eq!(first, "hello ");
    assert_eq!(rest, "world");
}

#[tokio::test]
async fn stream_sends_each_chunk_separately() {
    let upstream = Upstream::http("web").await;

    let mut body = get(upstream.url("/stream?n=3")).await.into_body();
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        frames.push(frame.unwrap().into_data().unwrap());
    }

    assert_eq!(frames, ["chunk 0\n", "chunk 1\n", "chunk 2\n"]);
}

#[tokio::test]
async fn stream_rejects_bad_chunk_count() {
    let upstream = Upstream::http("web").await;

    let response = get(upstream.url("/stream?n=lots")).await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn status_route_answers_requested_code() {
    let upstream = Upstream::http("web").await;

    let teapot = get(upstream.url("/status/418")).await;
    let garbage = get(upstream.url("/status/abc")).await;
    let informational = get(upstream.url("/status/100")).await;

    assert_eq!(teapot.status(), StatusCode::IM_A_TEAPOT);
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
    assert_eq!(informational.status(), StatusCode::BAD_REQUEST);
}
