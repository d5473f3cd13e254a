//! Errors of sending a request to a cluster.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use h2::Reason;
use yardmaster_core::Cause;

use crate::circuit_breaker::Overflow;
use crate::h2_stream::h2_reason;

/// Why a cluster could not deliver a request or produce a response head.
///
/// Errors after the response head (a reset mid-stream) surface in the response body.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The cluster has no endpoint to send to.
    #[error("cluster {cluster:?} has no available endpoint ({summary})")]
    NoEndpoint {
        /// The cluster's name.
        cluster: Arc<str>,
        /// Why, for people: how many endpoints there are and what keeps them out.
        summary: String,
    },
    /// A circuit breaker limit refused the call.
    #[error("cluster {cluster:?} is over its {limit} limit of {max}")]
    Overloaded {
        /// The cluster's name.
        cluster: Arc<str>,
        /// The limit's configuration key.
        limit: &'static str,
        /// The limit's value.
        max: u32,
    },
    /// No response head arrived within the cluster's `attempt_timeout`.
    #[error("cluster {cluster:?}: {endpoint} sent no response within {after:?}")]
    Timeout {
        /// The cluster's name.
        cluster: Arc<str>,
        /// The endpoint that did not answer.
        endpoint: SocketAddr,
        /// The attempt timeout.
        after: Duration,
    },
    /// TCP connect or the HTTP/2 handshake failed or timed out.
    #[error("cluster {cluster:?}: connecting to {endpoint} failed: {reason}")]
    Connect {
        /// The cluster's name.
        cluster: Arc<str>,
        /// The endpoint that could not be reached.
        endpoint: SocketAddr,
        /// What went wrong, for people.
        reason: String,
    },
    /// The connection or stream failed before a response head arrived.
    #[error("cluster {cluster:?}: request to {endpoint} failed: {source}")]
    Request {
        /// The cluster's name.
        cluster: Arc<str>,
        /// The endpoint the request was sent to.
        endpoint: SocketAddr,
        /// The transport error.
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    /// Like [`ClusterError::Request`], from a pooled HTTP/2 connection.
    #[error("cluster {cluster:?}: request to {endpoint} failed: {}", with_causes(.source))]
    Stream {
        /// The cluster's name.
        cluster: Arc<str>,
        /// The endpoint the request was sent to.
        endpoint: SocketAddr,
        /// The transport error.
        #[source]
        source: crate::h2_stream::Http2Error,
    },
}

impl ClusterError {
    pub(crate) fn connect_timeout(
        cluster: &Arc<str>,
        endpoint: SocketAddr,
        after: Duration,
    ) -> Self {
        ClusterError::Connect {
            cluster: cluster.clone(),
            endpoint,
            reason: format!("no connection after {after:?}"),
        }
    }

    pub(crate) fn overloaded(cluster: &Arc<str>, overflow: Overflow) -> Self {
        ClusterError::Overloaded {
            cluster: cluster.clone(),
            limit: overflow.limit,
            max: overflow.max,
        }
    }

    /// Why the call failed; its statuses and fault follow from it ([`Cause::status`]).
    pub fn cause(&self) -> Cause {
        match self {
            ClusterError::NoEndpoint { .. } => Cause::NoEndpoint,
            ClusterError::Overloaded { .. } => Cause::Overflow,
            ClusterError::Timeout { .. } => Cause::AttemptTimeout,
            ClusterError::Connect { .. } => Cause::ConnectFailed,
            ClusterError::Request { source, .. } => {
                let inner = std::error::Error::source(source);
                if !source.is_connect() && is_downstream_body(inner) {
                    Cause::DownstreamError
                } else {
                    inner.map_or(Cause::ConnectionLost, transport_cause)
                }
            }
            ClusterError::Stream { source, .. } => transport_cause(source),
        }
    }

    /// Whether nothing reached the upstream application, so sending the request again
    /// (to another endpoint) cannot do the work twice.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClusterError::NoEndpoint { .. } | ClusterError::Connect { .. } => true,
            ClusterError::Overloaded { .. } | ClusterError::Timeout { .. } => false,
            ClusterError::Request { source, .. } => source.is_connect(),
            ClusterError::Stream { source, .. } => {
                h2_reason(source) == Some(Reason::REFUSED_STREAM)
            }
        }
    }
}

/// Whether a transport failure started on the downstream side: the request body it was
/// sending broke.
fn is_downstream_body(source: Option<&(dyn std::error::Error + 'static)>) -> bool {
    source
        .and_then(|e| e.downcast_ref::<hyper::Error>())
        .is_some_and(|e| e.is_user() || e.is_body_write_aborted())
}

/// The cause of an upstream transport failure, before or after the response head: the
/// HTTP/2 error code that ended the stream, else a lost connection.
pub(crate) fn transport_cause(error: &(dyn std::error::Error + 'static)) -> Cause {
    h2_reason(error).map_or(Cause::ConnectionLost, |reason| {
        Cause::Reset(u32::from(reason))
    })
}

/// An error and its causes, `: `-separated. hyper's own text ("http2 error") names only
/// the layer; the h2 error beneath says what happened (which reset, which protocol error).
fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}
