//! Every failure on the data path becomes a response here, and only here. Which status it
//! gets is not decided here: each error names its [`Cause`], and [`Cause::status`] is the
//! table.

use http::{header, HeaderValue, Response, StatusCode};
use yardmaster_cluster::ClusterError;
use yardmaster_core::{body, grpc, Cause, Fault, GrpcCode};

use crate::ProxyBody;

/// Why the gateway answers a request itself instead of with an upstream's response.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyError {
    /// No route of the listener matches.
    #[error("no route for {path}")]
    NoRoute { path: String },
    /// The matched route denies the request.
    #[error("{message}")]
    Denied {
        grpc_status: GrpcCode,
        http_status: StatusCode,
        message: String,
    },
    /// The cluster could not deliver the request.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The gRPC deadline passed before the upstream answered.
    #[error("deadline exceeded before cluster {cluster:?} answered")]
    DeadlineExceeded { cluster: String },
    /// A route action (mirror, fan-out) could not complete the call: why, and the
    /// action's own account of it. Each action's error converts into this.
    #[error("{message}")]
    Action { cause: Cause, message: String },
    /// A protocol upgrade (WebSocket) was asked of a cluster that cannot carry it.
    #[error("cluster {cluster:?} speaks HTTP/2; protocol upgrades need an http1 cluster")]
    UpgradeUnsupported { cluster: String },
}

impl ProxyError {
    /// Why the gateway answers the request itself.
    pub(crate) fn cause(&self) -> Cause {
        match self {
            ProxyError::NoRoute { .. } => Cause::NoRoute,
            ProxyError::Denied {
                grpc_status,
                http_status,
                ..
            } => Cause::Denied {
                grpc: *grpc_status,
                http: *http_status,
            },
            ProxyError::Cluster(e) => e.cause(),
            ProxyError::Action { cause, .. } => *cause,
            ProxyError::DeadlineExceeded { .. } => Cause::DeadlineExceeded,
            ProxyError::UpgradeUnsupported { .. } => Cause::UpgradeUnsupported,
        }
    }
}

/// The response for `error`: trailers-only with `grpc-status`/`grpc-message` for a gRPC
/// call (never a bare HTTP error, which a gRPC client could only report as UNKNOWN), a
/// status and a one-line text body otherwise. Logs the error once, by fault.
pub(crate) fn error_response(error: &ProxyError, is_grpc: bool) -> Response<ProxyBody> {
    let status = error.cause().status();
    match status.fault {
        Fault::Upstream => tracing::warn!(%error, "upstream failure"),
        Fault::Downstream => tracing::debug!(%error, "downstream failure"),
        Fault::Gateway => tracing::debug!(%error, "refused by gateway"),
    }
    if is_grpc {
        grpc_status_response(status.grpc, &error.to_string())
    } else {
        let mut response = Response::new(ProxyBody::local(body::full(format!("{error}\n"))));
        *response.status_mut() = status.http;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}

/// A trailers-only gRPC response: HTTP 200, the status in the only HEADERS frame.
fn grpc_status_response(code: GrpcCode, message: &str) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::local(body::empty()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(grpc::CONTENT_TYPE_PREFIX),
    );
    grpc::insert_status(headers, code, message);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_errors_are_trailers_only_with_status() {
        let error = ProxyError::NoRoute {
            path: "/a.B/C".into(),
        };
        let response = error_response(&error, true);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[grpc::STATUS_HEADER], "12");
        assert_eq!(
            response.headers()[grpc::MESSAGE_HEADER],
            "no route for /a.B/C"
        );
        assert!(http_body::Body::is_end_stream(response.body()));
    }

    #[test]
    fn http_errors_carry_their_status() {
        let error = ProxyError::Denied {
            grpc_status: GrpcCode::PermissionDenied,
            http_status: StatusCode::FORBIDDEN,
            message: "internal only".into(),
        };
        assert_eq!(
            error_response(&error, false).status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(error.cause().status().grpc, GrpcCode::PermissionDenied);
    }
}
