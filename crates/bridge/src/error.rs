//! Why an operation on a running bridge (from the admin API) was refused.

use std::net::SocketAddr;

/// Why a bridge operation was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BridgeError {
    /// No client with this UUID is connected.
    #[error("no client {0:?} is connected to this bridge")]
    UnknownClient(String),
    /// The client is already being closed.
    #[error("client {0} is closing")]
    ClientClosing(String),
    /// The frame would take the client's queue over `max_queued_bytes`; the client is
    /// being closed.
    #[error("the send queue of client {0} is full; the client is being closed")]
    QueueFull(String),
    /// The endpoint is already an upstream of this bridge.
    #[error("{0} is already an upstream of this bridge")]
    UpstreamExists(SocketAddr),
    /// The endpoint is not an upstream of this bridge.
    #[error("{0} is not an upstream of this bridge")]
    UnknownUpstream(SocketAddr),
}

impl BridgeError {
    /// Whether the client or upstream named does not exist (as opposed to a conflict).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            BridgeError::UnknownClient(_) | BridgeError::UnknownUpstream(_)
        )
    }
}
