//! Why the gateway ends a call itself, and the one table that says what the client then
//! sees: every status the gateway makes is decided by [`Cause::status`], and nowhere else.

use http::StatusCode;

use crate::{Fault, GrpcCode};

/// Why the gateway answers a call itself, or ends it with a status of its own, instead of
/// passing on the upstream's answer. Each error type of the data path only says which
/// cause it is; [`Cause::status`] decides the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// No route of the listener matches.
    NoRoute,
    /// A `deny` route, with the statuses it is configured with.
    Denied {
        /// The route's `grpc_status`.
        grpc: GrpcCode,
        /// The route's `http_status`.
        http: StatusCode,
    },
    /// The cluster has no endpoint to send to (none healthy, all ejected or draining).
    NoEndpoint,
    /// Connecting to the endpoint failed or timed out.
    ConnectFailed,
    /// A circuit breaker limit refused the call.
    Overflow,
    /// No response head within the cluster's `attempt_timeout`.
    AttemptTimeout,
    /// The call's deadline (the client's `grpc-timeout`, or the route's `timeout`) passed.
    DeadlineExceeded,
    /// The upstream stream ended with this HTTP/2 error code: its RST_STREAM, or a
    /// connection error (GOAWAY, a protocol error) that ended every stream on it.
    Reset(u32),
    /// The upstream connection broke without an HTTP/2 error code, or the response sent
    /// nothing for the cluster's `stream_idle_timeout`.
    ConnectionLost,
    /// An upstream reply's trailers carry no `grpc-status` (a fan-out endpoint's part).
    MissingStatus,
    /// An upstream reply ended without trailers (a fan-out endpoint's part).
    MissingTrailers,
    /// Every endpoint of a fan-out failed: the first failure's status.
    AllFailed(GrpcCode),
    /// A message is over the route's `max_message_bytes` (for a fan-out, the whole request).
    MessageTooLarge,
    /// The bytes of a call are not gRPC messages (a bad prefix, or cut inside a message).
    BadFrame,
    /// A message the route reads a field of is not valid protobuf.
    BadMessage,
    /// A message the route reads a field of is compressed.
    Compressed,
    /// No target of a mirror route takes messages of the call's type.
    NoTarget,
    /// A request that is not gRPC on a route that carries gRPC calls only.
    NotGrpc,
    /// A protocol upgrade (WebSocket) asked of a cluster that speaks HTTP/2.
    UpgradeUnsupported,
    /// The downstream went away, or its request body failed.
    DownstreamError,
    /// A transcoded call's body is not JSON, or not the JSON of the method's request.
    BadJson,
    /// A transcoded call's body is not `application/json`.
    NotJson,
    /// A transcoded call's path names a method, with an HTTP method it is not bound to.
    WrongHttpMethod,
    /// A transcoded call reaches a route whose descriptors are not loaded yet (its
    /// upstream's server reflection has not answered).
    NoDescriptors,
    /// A transcoded call's reply is not one message of the method's reply type.
    BadReply,
}

/// What a client sees for a [`Cause`], and whose fault it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// The `grpc-status` of a gRPC call.
    pub grpc: GrpcCode,
    /// The response status of any other request, when the gateway answers it (before an
    /// upstream response head went downstream).
    pub http: StatusCode,
    /// Whose fault: decides the log level, and whether the endpoint is blamed.
    pub fault: Fault,
}

impl Cause {
    /// The statuses of the cause: the table of every status the gateway makes.
    /// `docs/statuses.md` shows it row for row, and a test keeps the two the same.
    pub fn status(self) -> Status {
        use Fault::{Downstream, Gateway, Upstream};
        use GrpcCode as G;
        use StatusCode as H;
        let (grpc, http, fault) = match self {
            Cause::NoRoute => (G::Unimplemented, H::NOT_FOUND, Gateway),
            Cause::Denied { grpc, http } => (grpc, http, Gateway),
            Cause::NoEndpoint => (G::Unavailable, H::SERVICE_UNAVAILABLE, Upstream),
            Cause::ConnectFailed => (G::Unavailable, H::SERVICE_UNAVAILABLE, Upstream),
            Cause::Overflow => (G::ResourceExhausted, H::SERVICE_UNAVAILABLE, Gateway),
            Cause::AttemptTimeout => (G::Unavailable, H::GATEWAY_TIMEOUT, Upstream),
            Cause::DeadlineExceeded => (G::DeadlineExceeded, H::GATEWAY_TIMEOUT, Upstream),
            Cause::Reset(reason) => (reset_code(reason), H::BAD_GATEWAY, Upstream),
            Cause::ConnectionLost => (G::Unavailable, H::BAD_GATEWAY, Upstream),
            Cause::MissingStatus => (G::Unknown, H::BAD_GATEWAY, Upstream),
            Cause::MissingTrailers => (G::Internal, H::BAD_GATEWAY, Upstream),
            Cause::AllFailed(first) => (first, H::BAD_GATEWAY, Upstream),
            Cause::MessageTooLarge => (G::ResourceExhausted, H::PAYLOAD_TOO_LARGE, Downstream),
            Cause::BadFrame => (G::Internal, H::BAD_REQUEST, Downstream),
            Cause::BadMessage => (G::InvalidArgument, H::BAD_REQUEST, Downstream),
            Cause::Compressed => (G::Unimplemented, H::BAD_REQUEST, Downstream),
            Cause::NoTarget => (G::Unimplemented, H::BAD_REQUEST, Gateway),
            Cause::NotGrpc => (G::Internal, H::UNSUPPORTED_MEDIA_TYPE, Downstream),
            Cause::UpgradeUnsupported => (G::Internal, H::BAD_GATEWAY, Gateway),
            Cause::DownstreamError => (G::Cancelled, H::BAD_REQUEST, Downstream),
            Cause::BadJson => (G::InvalidArgument, H::BAD_REQUEST, Downstream),
            Cause::NotJson => (G::InvalidArgument, H::UNSUPPORTED_MEDIA_TYPE, Downstream),
            Cause::WrongHttpMethod => (G::Unimplemented, H::METHOD_NOT_ALLOWED, Downstream),
            Cause::NoDescriptors => (G::Unavailable, H::SERVICE_UNAVAILABLE, Upstream),
            Cause::BadReply => (G::Internal, H::BAD_GATEWAY, Upstream),
        };
        Status { grpc, http, fault }
    }
}

/// The code a gRPC client reports for an HTTP/2 error code (`RST_STREAM`), per the
/// "Errors" section of the gRPC HTTP/2 protocol spec. STREAM_CLOSED has no mapping there
/// (there is no open stream to report it on); it and codes the spec does not name are
/// UNKNOWN.
fn reset_code(reason: u32) -> GrpcCode {
    match reason {
        // NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT,
        // FRAME_SIZE_ERROR, COMPRESSION_ERROR, CONNECT_ERROR
        0x0 | 0x1 | 0x2 | 0x3 | 0x4 | 0x6 | 0x9 | 0xa => GrpcCode::Internal,
        // REFUSED_STREAM: nothing was processed, so the call may be retried.
        0x7 => GrpcCode::Unavailable,
        // CANCEL
        0x8 => GrpcCode::Cancelled,
        // ENHANCE_YOUR_CALM
        0xb => GrpcCode::ResourceExhausted,
        // INADEQUATE_SECURITY
        0xc => GrpcCode::PermissionDenied,
        _ => GrpcCode::Unknown,
    }
}

#[cfg(test)]
mod tests;
