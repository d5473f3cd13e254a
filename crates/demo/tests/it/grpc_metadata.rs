//! Metadata echo (`x-echo-*` into headers) and scripted trailers (`x-trailer-*`).

use tokio_stream::StreamExt;
use tonic::metadata::{BinaryMetadataValue, MetadataValue};
use tonic::{Code, Request};
use yardmaster_demo::pb::EchoRequest;

use crate::{request, Upstream};

fn ascii_values<T>(response: &tonic::Response<T>, key: &str) -> Vec<String> {
    response
        .metadata()
        .get_all(key)
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn unary_copies_echo_metadata_into_headers() {
    let (upstream, _) = Upstream::echo("alpha").await;
    let mut client = upstream.echo_client().await;
    let mut call = Request::new(request("hi"));
    let metadata = call.metadata_mut();
    metadata.append("x-echo-color", MetadataValue::from_static("red"));
    metadata.append("x-echo-color", MetadataValue::from_static("blue"));
    metadata.append_bin(
        "x-echo-blob-bin",
        BinaryMetadataValue::from_bytes(&[0, 159, 255]),
    );
    metadata.insert("x-other", MetadataValue::from_static("not echoed"));

    let response = client.unary(call).await.unwrap();

    assert_eq!(ascii_values(&response, "x-echo-color"), ["red", "blue"]);
    let blob = response.metadata().get_bin("x-echo-blob-bin").unwrap();
    assert_eq!(blob.to_bytes().unwrap().as_ref(), [0, 159, 255]);
    assert!(response.metadata().get("x-other").is_none());
}

#[tokio::test]
async fn streaming_calls_copy_echo_metadata_into_headers() {
    let (upstream, _) = Upstream::echo("alpha").await;
    let mut client = upstream.echo_client().await;

    let mut server_call = Request::new(request("s"));
    server_call
        .metadata_mut()
        .insert("x-echo-shape", MetadataValue::from_static("server"));
    let server_stream = client.server_stream(server_call).await.unwrap();
    let mut bidi_call = Request::new(tokio_stream::iter([request("b")]));
    bidi_call
        .metadata_mut()
        .insert("x-echo-shape", MetadataValue::from_static("bidi"));
    let bidi = client.bidi(bidi_call).await.unwrap();

    assert_eq!(ascii_values(&server_stream, "x-echo-shape"), ["server"]);
    assert_eq!(ascii_values(&bidi, "x-echo-shape"), ["bidi"]);
    assert_eq!(bidi.into_inner().collect::<Vec<_>>().await.len(), 1);
}

#[tokio::test]
async fn unary_failure_carries_trailer_metadata() {
    let (upstream, _) = Upstream::echo("alpha").await;
    let mut client = upstream.echo_client().await;
    let mut call = Request::new(EchoRequest {
        fail_code: Code::ResourceExhausted as i32,
        fail_message: "quota".to_owned(),
        ..request("x")
    });
    let metadata = call.metadata_mut();
    metadata.append("x-trailer-reason", MetadataValue::from_static("quota"));
    metadata.append("x-trailer-reason", MetadataValue::from_static("again"));
    metadata.append_bin(
        "x-trailer-detail-bin",
        BinaryMetadataValue::from_bytes(b"\x01\x02"),
    );

    let status = client.unary(call).await.unwrap_err();

    assert_eq!(status.code(), Code::ResourceExhausted);
    let reasons: Vec<_> = status
        .metadata()
        .get_all("x-trailer-reason")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(reasons, ["quota", "again"]);
    let detail = status.metadata().get_bin("x-trailer-detail-bin").unwrap();
    assert_eq!(detail.to_bytes().unwrap().as_ref(), b"\x01\x02");
}

/// After some replies the status travels in real trailers, not a trailers-only response.
#[tokio::test]
async fn server_stream_failure_carries_trailer_metadata() {
    let (upstream, _) = Upstream::echo("alpha").await;
    let mut client = upstream.echo_client().await;
    let mut call = Request::new(EchoRequest {
        fail_code: Code::Internal as i32,
        fail_after: 1,
        ..request("x")
    });
    call.metadata_mut()
        .insert("x-trailer-step", MetadataValue::from_static("after-one"));

    let mut replies = client.server_stream(call).await.unwrap().into_inner();
    replies.message().await.unwrap().unwrap();
    let status = replies.message().await.unwrap_err();

    assert_eq!(status.code(), Code::Internal);
    assert_eq!(
        status.metadata().get("x-trailer-step").unwrap(),
        "after-one"
    );
}
