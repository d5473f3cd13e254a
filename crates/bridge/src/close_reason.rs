//! Why a client's connection ended: logged once, counted by a bounded label, and sent to
//! its upstream in the `closed` event.

use std::fmt;

/// Why a client was closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CloseReason {
    /// The client closed its side between frames.
    ClientClosed,
    /// Reading or writing the socket failed, or the client sent a bad frame.
    Protocol { label: &'static str, detail: String },
    /// No data either way for `idle_timeout`.
    Idle,
    /// More bytes queued towards the client than `max_queued_bytes`: it reads too slowly.
    QueueFull,
    /// No upstream became ready within `assign_timeout`.
    NoUpstream,
    /// Over the listener's `max_clients`.
    TooManyClients,
    /// The upstream sent a `close` command.
    ByUpstream(String),
    /// An operator closed it through the admin API.
    ByAdmin,
    /// The gateway is shutting down.
    Shutdown,
}

impl CloseReason {
    /// A bounded label for the `reason` of `yardmaster_bridge_clients_closed_total`.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "client_closed",
            CloseReason::Protocol { label, .. } => label,
            CloseReason::Idle => "idle_timeout",
            CloseReason::QueueFull => "queue_full",
            CloseReason::NoUpstream => "no_upstream",
            CloseReason::TooManyClients => "too_many_clients",
            CloseReason::ByUpstream(_) => "upstream_close",
            CloseReason::ByAdmin => "admin_close",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::ClientClosed => f.write_str("client closed the connection"),
            CloseReason::Protocol { detail, .. } => f.write_str(detail),
            CloseReason::Idle => f.write_str("idle timeout"),
            CloseReason::QueueFull => {
                f.write_str("send queue full: the client does not read fast enough")
            }
            CloseReason::NoUpstream => f.write_str("no ready upstream"),
            CloseReason::TooManyClients => f.write_str("max_clients reached"),
            CloseReason::ByUpstream(reason) if reason.is_empty() => {
                f.write_str("closed by upstream")
            }
            CloseReason::ByUpstream(reason) => write!(f, "closed by upstream: {reason}"),
            CloseReason::ByAdmin => f.write_str("closed through the admin API"),
            CloseReason::Shutdown => f.write_str("gateway shutting down"),
        }
    }
}
