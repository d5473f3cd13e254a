//! Why an operation on a running bridge (from the admin API) was refused.

use yardmaster_cluster::ControlError;

/// Why a bridge operation was refused.
#[derive(Debug, thiserror::Error)]
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
    /// The bridge's cluster refused a change to its endpoints (the upstreams): an unknown
    /// or duplicate endpoint, or an address it does not accept.
    #[error(transparent)]
    Upstream(#[from] ControlError),
}

impl BridgeError {
    /// Whether the client or upstream named does not exist (as opposed to a conflict).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            BridgeError::UnknownClient(_)
                | BridgeError::Upstream(ControlError::UnknownEndpoint { .. })
        )
    }

    /// Whether the request itself is not acceptable (an upstream address with port 0).
    pub fn is_invalid(&self) -> bool {
        matches!(self, BridgeError::Upstream(ControlError::Invalid(_)))
    }
}
