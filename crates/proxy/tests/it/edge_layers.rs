//! Protocol layers between the edge and the pipeline.

use bytes::Bytes;
use http::Request;
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tower::util::MapRequestLayer;

use crate::support::{echo_upstream, post, serve_public};

fn upper_case(frame: Frame<Bytes>) -> Frame<Bytes> {
    frame.map_data(|data| Bytes::from(data.to_ascii_uppercase()))
}

/// A layer sees each request before the pipeline and may hand it on with a body of
/// another type, as gRPC-Web will: the upstream gets the body the layer made.
#[tokio::test]
async fn a_layer_in_front_of_the_pipeline_rewrites_the_request_body() {
    let upstream = echo_upstream().await;
    let plain = serve_public(upstream, |edge| edge).await;
    let shouting = serve_public(upstream, |edge| {
        edge.layer(MapRequestLayer::new(|req: Request<Incoming>| {
            req.map(|body| body.map_frame(upper_case))
        }))
    })
    .await;

    assert_eq!(post(plain, "hello").await, "hello");
    assert_eq!(post(shouting, "hello").await, "HELLO");
}
