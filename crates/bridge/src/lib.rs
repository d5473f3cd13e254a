//! The TCP bridge: long-lived raw TCP clients, each marked with a UUID (v4) for its whole
//! life, multiplexed onto one bidirectional gRPC stream per upstream endpoint.
//!
//! Owns framing (`raw`, `lines`, `length_prefixed`), one task per client, one stream per
//! endpoint of its cluster, assigning clients to ready upstreams and moving them when an
//! upstream fails or leaves the cluster (replaying the frames it had not acknowledged),
//! broadcast scopes, back-pressure and limits, and both upstream protocols:
//! `yardmaster.bridge.v1` ([`pb`]) and the compatibility protocol `upstream.grpc.service`
//! ([`compat_pb`]). It does not own the endpoints: the cluster
//! (`yardmaster_cluster::Cluster`) does, with their discovery, health checks and
//! operator state, and the bridge follows its endpoint set. Nor does it own the
//! configuration (see `yardmaster-config`'s `BridgeConfig`) or the admin HTTP API, which
//! reaches a bridge through a [`BridgeHandle`].
//!
//! Layout, lowest layer first: `frame` (codec), `connection` (socket to frames),
//! `registry` (client state, broadcast), `link` (one gRPC stream and the clients on it),
//! `upstream` (following the cluster's endpoints, balancing), `shared` (the state every
//! task shares), `session` (one task per client), `native` and `compat` (the two
//! protocols), `upstream_task` (one task per endpoint, reconnecting), `bridge`
//! ([`Bridge`]: the accept loop; [`BridgeHandle`]). The protocol and the delivery guarantee are documented in
//! `docs/bridge.md`.

mod bridge;
mod close_reason;
mod compat;
mod connection;
mod error;
mod frame;
mod link;
mod metrics;
mod native;
mod registry;
mod session;
mod shared;
mod upstream;
mod upstream_task;

pub use bridge::{Bridge, BridgeHandle};
pub use error::BridgeError;
pub use metrics::BridgeMetrics;
pub use registry::{ClientStatus, Scope};
pub use upstream::UpstreamStatus;

/// Code generated from `proto/yardmaster/bridge/v1/bridge.proto`: the messages, the
/// `bridge_upstream_client::BridgeUpstreamClient` and the
/// `bridge_upstream_server::{BridgeUpstream, BridgeUpstreamServer}` pair.
pub mod pb {
    tonic::include_proto!("yardmaster.bridge.v1");
}

/// Code generated from `proto/upstream/grpc/service/upstream_peer.proto`, the protocol of
/// the marking load balancer the bridge replaces: messages, client and server.
// Its method names (`bidirectionalStreaming`, `live`) are kept as published, so the
// generated stream types are not upper camel case.
#[allow(non_camel_case_types)]
pub mod compat_pb {
    tonic::include_proto!("upstream.grpc.service");
}
