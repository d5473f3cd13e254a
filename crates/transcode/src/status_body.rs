//! The body of a failed transcoded call: the `google.rpc.Status` message as JSON,
//! `{"code": 5, "message": "…", "details": […]}`, as grpc-gateway writes it.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage};
use serde_json::{json, Map, Value};
use yardmaster_core::GrpcCode;

/// `grpc-status-details-bin` is base64 with or without padding (gRPC's binary headers).
const BINARY_HEADER: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `google.rpc.Status`, as `grpc-status-details-bin` carries it.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct Any {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// The JSON error body for a call that ended with `code` and `message`. `details_bin` is
/// the call's `grpc-status-details-bin` trailer: each detail whose type `pool` has is
/// written as that message's JSON with its `@type`; any other keeps its bytes in base64
/// (`{"@type": …, "value": …}`). A trailer that does not decode is left out.
pub fn status_json(
    code: GrpcCode,
    message: &str,
    details_bin: Option<&[u8]>,
    pool: &DescriptorPool,
) -> Vec<u8> {
    let details: Vec<Value> = details_bin
        .and_then(|text| BINARY_HEADER.decode(text).ok())
        .and_then(|bytes| RpcStatus::decode(bytes.as_slice()).ok())
        .map(|status| status.details.iter().map(|d| detail(d, pool)).collect())
        .unwrap_or_default();
    let body = json!({
        "code": code.as_u32(),
        "message": message,
        "details": details,
    });
    body.to_string().into_bytes()
}

/// One detail in the JSON form of `Any`.
fn detail(any: &Any, pool: &DescriptorPool) -> Value {
    let type_name = any.type_url.rsplit('/').next().unwrap_or_default();
    let decoded = pool
        .get_message_by_name(type_name)
        .and_then(|descriptor| DynamicMessage::decode(descriptor, any.value.as_slice()).ok())
        .and_then(|message| serde_json::to_value(&message).ok());
    let mut object = Map::new();
    object.insert("@type".to_owned(), Value::String(any.type_url.clone()));
    match decoded {
        Some(Value::Object(fields)) => object.extend(fields),
        // Well-known types with a JSON form of their own (Duration, wrappers, ...).
        Some(value) => {
            object.insert("value".to_owned(), value);
        }
        None => {
            let bytes = base64::engine::general_purpose::STANDARD.encode(&any.value);
            object.insert("value".to_owned(), Value::String(bytes));
        }
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests;
