//! HTTP/JSON to gRPC transcoding from descriptors loaded at run time: which method and
//! binding a request's verb and path name (`google.api.http` rules from annotations or
//! the configuration file, and `POST /package.Service/Method`), the request message
//! from its body, path and query, the reply message (or stream of them) as JSON, and a
//! failed call's status as a `google.rpc.Status` JSON body.
//!
//! Owns path templates, the proto3 JSON mapping and its options ([`JsonOptions`]), which
//! headers cross as metadata ([`HeaderForwarding`]) and the error body
//! ([`status_json`]). Does not own where descriptors come from (`yardmaster-config`
//! compiles `.proto` files and reads descriptor sets) nor the HTTP exchange (the
//! `transcode` route action of `yardmaster-proxy`).
//!
//! Layout: `http_rule` (rules as written), `path_template` (parsing and matching
//! templates), `api` (every binding of a route, and finding one for a request),
//! `field_path` (request fields named by a path, and which text can set), `request_fields` (the
//! request from path variables, query and body), `method` and
//! `json_codec` (messages to and from JSON), `envelope` (the forwarding envelope's
//! messages), `openapi` (an OpenAPI 3.1 document of the bindings and their messages),
//! `reflection` (descriptors from an upstream's server reflection), `metadata` (request
//! headers to metadata, reply metadata to headers), `status_body` (the error body),
//! `stream_format` (reply streams as NDJSON or Server-Sent Events).

mod api;
mod envelope;
mod field_path;
mod http_rule;
mod json_codec;
mod metadata;
mod method;
mod openapi;
mod path_template;
pub mod reflection;
mod request_fields;
mod status_body;
mod stream_format;

pub use api::{Binding, HttpApi, Matched, Miss, RuleError};
pub use envelope::{EnvelopeRequest, EnvelopeResponse, FORWARD_PATH};
pub use http_rule::{CustomPattern, HttpRule, RuleProblem};
pub use json_codec::{JsonError, JsonOptions};
pub use metadata::{response_headers, HeaderForwarding, METADATA_PREFIX};
pub use method::Method;
pub use openapi::{openapi, OpenApiOptions};
pub use path_template::PathTemplate;
pub use prost_reflect::DescriptorPool;
pub use status_body::status_json;
pub use stream_format::StreamFormat;
