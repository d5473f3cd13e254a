//! The `envelope` route action: any HTTP request, wrapped as a gRPC message, to a cluster
//! that answers with the HTTP response.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration;
use crate::model::DEFAULT_MAX_MESSAGE_BYTES;

/// The `envelope` action: the request becomes `yardmaster.forward.v1.HttpRequest`, sent to
/// `HttpForwarder.Forward` on `cluster`; its `HttpResponse` becomes the response.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeConfig {
    /// The `grpc` cluster that serves `yardmaster.forward.v1.HttpForwarder`.
    pub cluster: String,
    /// The longest a call may take, end to end.
    #[serde(default, with = "duration::option")]
    pub timeout: Option<Duration>,
    /// The largest request body and response message, in bytes; a larger body gets 413,
    /// a larger response 502.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
}

fn default_max_body_bytes() -> usize {
    DEFAULT_MAX_MESSAGE_BYTES
}
