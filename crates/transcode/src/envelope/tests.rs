use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use prost::Message as _;
use prost_reflect::{DynamicMessage, Value};

use super::{EnvelopeRequest, EnvelopeResponse, Header, HttpResponse};

/// `forward.proto`, compiled: the contract these structs must keep.
fn pool() -> prost_reflect::DescriptorPool {
    let proto = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto");
    let mut compiler = protox::Compiler::new([proto]).unwrap();
    compiler
        .open_file("yardmaster/forward/v1/forward.proto")
        .unwrap();
    compiler.descriptor_pool()
}

#[test]
fn requests_encode_as_the_proto_says() {
    let mut headers = HeaderMap::new();
    headers.append("x-a", HeaderValue::from_static("1"));
    headers.append("x-a", HeaderValue::from_static("2"));
    headers.append("host", HeaderValue::from_static("example.com"));
    let encoded = EnvelopeRequest {
        method: "POST",
        path: "/v1/a%20b",
        query: "q=1",
        headers: &headers,
        body: Bytes::from_static(b"hi"),
        remote_address: "127.0.0.1:5000".to_owned(),
    }
    .encode();
    let descriptor = pool()
        .get_message_by_name("yardmaster.forward.v1.HttpRequest")
        .unwrap();
    let message = DynamicMessage::decode(descriptor, encoded.as_slice()).unwrap();
    let text = |name: &str| {
        message
            .get_field_by_name(name)
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(text("method"), "POST");
    assert_eq!(text("path"), "/v1/a%20b");
    assert_eq!(text("query"), "q=1");
    assert_eq!(text("remote_address"), "127.0.0.1:5000");
    assert_eq!(
        message
            .get_field_by_name("body")
            .unwrap()
            .as_bytes()
            .unwrap()
            .as_ref(),
        b"hi"
    );
    let Value::List(headers) = &*message.get_field_by_name("headers").unwrap() else {
        panic!("headers is a list");
    };
    let pairs: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|h| {
            let h = h.as_message().unwrap();
            let name = h
                .get_field_by_name("name")
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned();
            let value = h
                .get_field_by_name("value")
                .unwrap()
                .as_bytes()
                .unwrap()
                .to_vec();
            (name, value)
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("x-a".to_owned(), b"1".to_vec()),
            ("x-a".to_owned(), b"2".to_vec()),
            ("host".to_owned(), b"example.com".to_vec()),
        ]
    );
}

#[test]
fn responses_decode_as_the_proto_says_and_bad_ones_are_errors() {
    let descriptor = pool()
        .get_message_by_name("yardmaster.forward.v1.HttpResponse")
        .unwrap();
    let message = DynamicMessage::deserialize(
        descriptor,
        serde_json::json!({
            "status": 201,
            "headers": [{"name": "x-b", "value": "eQ=="}, {"name": "x-b", "value": "eg=="}],
            "body": "b2s=",
        }),
    )
    .unwrap();
    let response = EnvelopeResponse::decode(&message.encode_to_vec()).unwrap();
    assert_eq!(response.status, StatusCode::CREATED);
    let values: Vec<&HeaderValue> = response.headers.get_all("x-b").iter().collect();
    assert_eq!(values, ["y", "z"]);
    assert_eq!(&response.body[..], b"ok");

    assert_eq!(
        EnvelopeResponse::decode(&[]).unwrap().status,
        StatusCode::OK
    );
    let bad =
        |response: HttpResponse| EnvelopeResponse::decode(&response.encode_to_vec()).unwrap_err();
    let status = HttpResponse {
        status: 1000,
        headers: vec![],
        body: Bytes::new(),
    };
    assert!(bad(status).contains("1000 is not an HTTP status"));
    let header = Header {
        name: "bad name".into(),
        value: Bytes::new(),
    };
    let named = HttpResponse {
        status: 200,
        headers: vec![header],
        body: Bytes::new(),
    };
    assert!(bad(named).contains("not a header name"));
    let header = Header {
        name: "x".into(),
        value: Bytes::from_static(b"a\nb"),
    };
    let valued = HttpResponse {
        status: 200,
        headers: vec![header],
        body: Bytes::new(),
    };
    assert!(bad(valued).contains("not valid in HTTP"));
    assert!(EnvelopeResponse::decode(b"\xff")
        .unwrap_err()
        .contains("does not decode"));
}
