use base64::Engine as _;
use prost::Message as _;
use serde_json::{json, Value};
use yardmaster_core::GrpcCode;

use super::{status_json, Any, RpcStatus};

fn pool() -> prost_reflect::DescriptorPool {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
    let mut compiler = protox::Compiler::new([dir]).unwrap();
    compiler.include_imports(true);
    compiler.open_file("shop.proto").unwrap();
    compiler.descriptor_pool()
}

fn body(code: GrpcCode, message: &str, details_bin: Option<&[u8]>) -> Value {
    serde_json::from_slice(&status_json(code, message, details_bin, &pool())).unwrap()
}

/// `grpc-status-details-bin` for a status with these details, unpadded as gRPC sends it.
fn details_bin(details: Vec<Any>) -> Vec<u8> {
    let status = RpcStatus {
        code: 5,
        message: "no such order".to_owned(),
        details,
    };
    base64::engine::general_purpose::STANDARD_NO_PAD
        .encode(status.encode_to_vec())
        .into_bytes()
}

#[test]
fn code_and_message_without_details() {
    assert_eq!(
        body(GrpcCode::NotFound, "no such order", None),
        json!({"code": 5, "message": "no such order", "details": []})
    );
}

#[test]
fn details_of_known_types_are_decoded_and_others_kept_as_base64() {
    // `Item{name: "pen", count: 3}`.
    let item = vec![0x0a, 0x03, b'p', b'e', b'n', 0x10, 0x03];
    let details = details_bin(vec![
        Any {
            type_url: "type.googleapis.com/test.shop.v1.Item".to_owned(),
            value: item,
        },
        Any {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".to_owned(),
            value: vec![0x0a, 0x02, 0x08, 0x01],
        },
        Any {
            // Duration has a JSON form of its own: 1.5 s.
            type_url: "type.googleapis.com/google.protobuf.Duration".to_owned(),
            value: vec![0x08, 0x01, 0x10, 0x80, 0xca, 0xb5, 0xee, 0x01],
        },
    ]);
    assert_eq!(
        body(GrpcCode::NotFound, "no such order", Some(&details))["details"],
        json!([
            {"@type": "type.googleapis.com/test.shop.v1.Item", "name": "pen", "count": "3"},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "value": "CgIIAQ=="},
            {"@type": "type.googleapis.com/google.protobuf.Duration", "value": "1.500s"},
        ])
    );
}

#[test]
fn a_trailer_that_does_not_decode_is_left_out() {
    for garbage in [&b"%%%"[..], b"AAAA", b"/////w"] {
        assert_eq!(
            body(GrpcCode::Internal, "boom", Some(garbage))["details"],
            json!([]),
            "{garbage:?}"
        );
    }
}
