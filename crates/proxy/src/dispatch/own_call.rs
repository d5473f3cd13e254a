//! Calls the gateway makes itself, through a cluster like any call: request messages known
//! up front, replies read whole. Server reflection uses it, and so does `yardmaster call`.

use std::time::Duration;

use bytes::BytesMut;
use http::header::HeaderMap;
use yardmaster_cluster::Cluster;
use yardmaster_core::grpc_frame::Message;
use yardmaster_core::{body, grpc, GrpcCode};

use super::whole_body::{read_replies, ReplyError};

/// Why a call brought no replies: the upstream's status, if it sent one, and one line.
#[derive(Debug)]
pub struct CallError {
    /// The status the upstream ended the call with; `None` when the gateway ended it
    /// (no endpoint, a broken reply, the timeout).
    pub code: Option<GrpcCode>,
    /// What went wrong: the status message, or the gateway's reason.
    pub message: String,
}

/// Calls `path` (`/package.Service/Method`) on `cluster` with `requests` (each an encoded
/// message) and `metadata`, and returns every reply message, each at most `max` bytes,
/// within `timeout`.
///
/// # Errors
///
/// The upstream's status other than OK, or why the gateway could not complete the call.
pub async fn call_whole(
    cluster: &Cluster,
    path: &str,
    requests: &[Vec<u8>],
    metadata: &HeaderMap,
    max: usize,
    timeout: Duration,
) -> Result<Vec<Vec<u8>>, CallError> {
    let gateway = |message: String| CallError {
        code: None,
        message,
    };
    let mut framed = BytesMut::new();
    for request in requests {
        let message = Message::new(request).map_err(|e| gateway(e.to_string()))?;
        framed.extend_from_slice(message.framed());
    }
    let uri = path
        .parse()
        .map_err(|_| gateway(format!("{path:?} is not a gRPC path")))?;
    let mut req = grpc::request(uri, body::full(framed.freeze()));
    let headers = req.headers_mut();
    for (name, value) in metadata {
        headers.append(name.clone(), value.clone());
    }
    yardmaster_core::grpc_timeout::insert_left(headers, timeout);
    let exchange = async {
        let response = cluster
            .call(req, std::net::Ipv4Addr::LOCALHOST.into())
            .await
            .map_err(|e| gateway(e.to_string()))?;
        read_replies(response, max)
            .await
            .map_err(|failure| match failure {
                ReplyError::Status { status, .. } => CallError {
                    code: Some(status.code),
                    message: status.message,
                },
                ReplyError::Broken { message, .. } => gateway(message),
            })
    };
    let (replies, _) = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| gateway(format!("no answer within {timeout:?}")))??;
    Ok(replies)
}
