//! The `fanout` route action: each call goes to every healthy endpoint of a cluster.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration;
use crate::model::DEFAULT_MAX_MESSAGE_BYTES;

/// The `fanout` action: send each gRPC call to every healthy endpoint of a cluster at once.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FanoutConfig {
    /// The cluster whose endpoints all receive the call.
    pub cluster: String,
    /// How the endpoints' replies become the client's reply.
    #[serde(default)]
    pub replies: FanoutReplies,
    /// Also send an open call to endpoints that become healthy while it runs, and cut it
    /// from endpoints that leave. Needs `replies: merge`.
    #[serde(default)]
    pub subscribe: bool,
    /// The longest a call may take, end to end; a shorter client `grpc-timeout` wins.
    #[serde(default, with = "duration::option")]
    pub timeout: Option<Duration>,
    /// The largest request (all its messages) and the largest reply message; larger ones
    /// end the call (or that endpoint's part) with RESOURCE_EXHAUSTED.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
}

fn default_max_message_bytes() -> usize {
    DEFAULT_MAX_MESSAGE_BYTES
}

/// How the replies of the endpoints are combined.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FanoutReplies {
    /// Every endpoint's reply messages, interleaved as they arrive, in one stream that ends
    /// when all endpoints have ended: for server-streaming methods.
    #[default]
    Merge,
    /// The first successful reply; the other calls are cancelled: for unary methods.
    First,
}
