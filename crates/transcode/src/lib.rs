//! HTTP/JSON to gRPC transcoding from descriptors loaded at run time: which method a
//! request names, its JSON body as the method's request message, the reply message as
//! JSON, and a failed call's status as a `google.rpc.Status` JSON body.
//!
//! Owns the proto3 JSON mapping and its options ([`JsonOptions`]) and the error body
//! ([`status_json`]). Does not own where descriptors come from (`yardmaster-config`
//! compiles `.proto` files and reads descriptor sets) nor the HTTP exchange (the
//! `transcode` route action of `yardmaster-proxy`).
//!
//! Layout: `methods` (the callable methods by gRPC path), `json_codec` (messages to and
//! from JSON), `status_body` (the error body).

mod json_codec;
mod methods;
mod status_body;

pub use json_codec::{JsonError, JsonOptions};
pub use methods::{Method, Methods};
pub use prost_reflect::DescriptorPool;
pub use status_body::status_json;
