//! Why a mirrored call is answered by the gateway itself, and with which status.

use yardmaster_config::MessageType;
use yardmaster_core::grpc_frame::FrameError;
use yardmaster_core::{Fault, GrpcCode};

use super::message_type::WireError;

/// Why a mirrored call is answered by the gateway.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MirrorError {
    #[error("mirror routes carry gRPC calls only")]
    NotGrpc,
    #[error("no target of this route takes messages of type {0}")]
    NoTarget(MessageType),
    #[error("request message refused: {0}")]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("reading the request failed: {0}")]
    Downstream(String),
    /// The call's request stream failed after the responder was called.
    #[error("{message}")]
    Stream { code: GrpcCode, message: String },
}

impl MirrorError {
    pub(crate) fn fault(&self) -> Fault {
        match self {
            MirrorError::NoTarget(_) => Fault::Gateway,
            _ => Fault::Downstream,
        }
    }

    pub(crate) fn grpc_code(&self) -> GrpcCode {
        match self {
            MirrorError::Frame(FrameError::TooLarge { .. }) => GrpcCode::ResourceExhausted,
            MirrorError::NotGrpc | MirrorError::Frame(_) => GrpcCode::Internal,
            MirrorError::NoTarget(_) | MirrorError::Wire(WireError::Compressed) => {
                GrpcCode::Unimplemented
            }
            MirrorError::Wire(WireError::Malformed(_)) => GrpcCode::InvalidArgument,
            MirrorError::Downstream(_) => GrpcCode::Cancelled,
            MirrorError::Stream { code, .. } => *code,
        }
    }

    pub(crate) fn http_status(&self) -> http::StatusCode {
        match self {
            MirrorError::NotGrpc => http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => http::StatusCode::BAD_REQUEST,
        }
    }
}
