//! TCP bridge listeners: raw TCP clients, framed, multiplexed onto gRPC upstream streams.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration;
use crate::socket_addr;

/// One TCP bridge listener: accepts raw TCP clients, gives each a UUID, and hands their
/// frames to the endpoints of a `grpc` cluster over one bidirectional stream per endpoint.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
    /// Unique among bridges; used in logs, metric labels and admin URLs.
    pub name: String,
    /// Address to bind.
    #[serde(deserialize_with = "socket_addr::deserialize")]
    pub listen: SocketAddr,
    /// The `grpc` cluster whose endpoints are the upstreams.
    pub cluster: String,
    /// The protocol spoken to the upstreams.
    #[serde(default)]
    pub upstream_protocol: BridgeProtocol,
    /// How the byte stream of a client is cut into frames.
    #[serde(default)]
    pub framing: Framing,
    /// The largest frame a client may send, without the framing; a larger one closes the
    /// client. For `raw`, the most bytes handed on in one frame.
    #[serde(default = "default_max_frame_bytes")]
    pub max_frame_bytes: usize,
    /// How a new client's upstream is chosen.
    #[serde(default)]
    pub balance: BridgeBalance,
    /// Clients connected at once; a client over the limit is closed right after accept.
    #[serde(default = "default_max_clients")]
    pub max_clients: usize,
    /// Close a client after this long without data in either direction; absent: never.
    #[serde(default, with = "duration::option")]
    pub idle_timeout: Option<Duration>,
    /// A client is *active* when it sent or received data within this window.
    #[serde(default = "default_active_window", with = "duration")]
    pub active_window: Duration,
    /// Frames of one client sent to its upstream and not yet acknowledged; at the limit
    /// the gateway stops reading from that client.
    #[serde(default = "default_max_unacked_frames")]
    pub max_unacked_frames: usize,
    /// Bytes queued towards one client that it has not read yet; a frame that would go
    /// over closes the client.
    #[serde(default = "default_max_queued_bytes")]
    pub max_queued_bytes: usize,
    /// How long a new or moved client waits for a ready upstream before it is closed.
    #[serde(default = "default_assign_timeout", with = "duration")]
    pub assign_timeout: Duration,
    /// Interval of HTTP/2 PINGs (and `live` checks in `upstream_peer` mode) to upstreams;
    /// an upstream that does not answer within the same time is failed.
    #[serde(default = "default_keepalive_interval", with = "duration")]
    pub keepalive_interval: Duration,
    /// How long the `ready` check of an `upstream_peer` upstream may take.
    #[serde(default = "default_ready_timeout", with = "duration")]
    pub ready_timeout: Duration,
}

/// 64 KiB: larger than typical device or chat messages, small enough that a client
/// cannot make the gateway buffer much before it is cut off.
fn default_max_frame_bytes() -> usize {
    64 << 10
}

/// 10,000: the scale goal of one gateway; low enough to protect file descriptors.
fn default_max_clients() -> usize {
    10_000
}

/// 60 s: a client that spoke within the last minute counts as active.
fn default_active_window() -> Duration {
    Duration::from_secs(60)
}

/// 32 frames: enough to keep a pipelining client busy across one upstream round trip.
fn default_max_unacked_frames() -> usize {
    32
}

/// 256 KiB: a few large frames, or many small ones, for a client that reads slowly.
fn default_max_queued_bytes() -> usize {
    256 << 10
}

/// 10 s: rides out an upstream restart without holding clients forever.
fn default_assign_timeout() -> Duration {
    Duration::from_secs(10)
}

/// 20 s: finds a dead upstream well within a minute and stays far from the PING rate
/// gRPC servers penalise.
fn default_keepalive_interval() -> Duration {
    Duration::from_secs(20)
}

/// 2 s: a ready check is a trivial call.
fn default_ready_timeout() -> Duration {
    Duration::from_secs(2)
}

/// The upstream protocol of a bridge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BridgeProtocol {
    /// `yardmaster.bridge.v1.BridgeUpstream`: open/data/close events, acknowledgements.
    #[default]
    Yardmaster,
    /// `upstream.grpc.service.UpstreamPeerService`, the protocol of the marking load
    /// balancer the bridge replaces.
    UpstreamPeer,
}

/// How a client's byte stream is cut into frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// Bytes as they arrive, up to `max_frame_bytes` per frame.
    Raw,
    /// Newline-terminated lines; the newline is not part of the frame.
    #[default]
    Lines,
    /// A 4-byte big-endian length, then that many bytes.
    LengthPrefixed,
}

/// How a bridge picks the upstream of a new client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BridgeBalance {
    /// Ready upstreams in turn.
    #[default]
    RoundRobin,
    /// The ready upstream with the fewest clients.
    LeastClients,
}
