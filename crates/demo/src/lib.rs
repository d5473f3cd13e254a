//! Demo and test upstreams for Yardmaster: what `yardmaster demo`, the integration tests and
//! the benchmark send traffic to.
//!
//! The crate owns the `yardmaster.demo.v1.Echo` API (`proto/yardmaster/demo/v1/echo.proto`,
//! compiled by `build.rs` without `protoc`) and two upstreams that serve on listeners the
//! caller has already bound:
//!
//! - [`EchoService`], a scriptable gRPC echo: each request says how long to wait, how many
//!   replies to stream, how large they are and how to fail. [`EchoStats`] counts calls and
//!   cancellations. Serve it with [`serve_grpc`] and [`echo_server`].
//! - [`HealthService`], a scriptable `grpc.health.v1.Health` service, served next to the
//!   echo service by [`EchoWithHealth`], for testing health checks.
//! - [`EchoUpstream`], the reference TCP bridge upstream (`yardmaster.bridge.v1`, whose
//!   generated types it takes from `yardmaster-bridge`): echoes every frame to its client
//!   with the acknowledgement in the same message. Serve it with [`serve_grpc`].
//! - [`serve_http`], a small HTTP/1.1 and h2 upstream that describes requests as JSON,
//!   echoes streamed bodies and streams or fails on demand.
//!
//! It deliberately owns no gateway logic, no configuration and no process wiring: the
//! `yardmaster` binary and `test-support` decide names, addresses and lifetimes.

mod echo;
mod echo_upstream;
mod forward;
mod health;
mod http_service;
mod serve;
mod stats;

pub use echo::{BidiReplies, EchoService, ServerStreamReplies};
pub use echo_upstream::{EchoUpstream, EchoUpstreamStats};
pub use forward::HttpEcho;
pub use health::{EchoWithHealth, HealthService};
pub use http_service::serve_http;
pub use serve::{echo_server, serve_grpc, MAX_MESSAGE_BYTES};
pub use stats::EchoStats;

/// Code generated from `proto/yardmaster/demo/v1/echo.proto`: the messages, the
/// `echo_client::EchoClient` and the `echo_server::{Echo, EchoServer}` pair.
pub mod pb {
    tonic::include_proto!("yardmaster.demo.v1");
}

/// Code generated from `proto/yardmaster/forward/v1/forward.proto`: the forwarding
/// envelope's messages and the `http_forwarder_server` for [`HttpEcho`].
pub mod forward_pb {
    tonic::include_proto!("yardmaster.forward.v1");
}

/// The encoded `FileDescriptorSet` of `echo.proto` (with source info), for gRPC reflection
/// and for decoding Echo messages without the generated types.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/echo_descriptor.bin"));
