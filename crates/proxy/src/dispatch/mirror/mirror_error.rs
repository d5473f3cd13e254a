//! Why a mirrored call is answered by the gateway itself.

use yardmaster_config::MessageType;
use yardmaster_core::grpc_frame::FrameError;
use yardmaster_core::Cause;

use super::message_type::WireError;
use crate::error_response::ProxyError;

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
    /// The call's request stream failed after the responder was called: the failure's
    /// cause and message.
    #[error("{message}")]
    Stream { cause: Cause, message: String },
}

impl MirrorError {
    pub(super) fn cause(&self) -> Cause {
        match self {
            MirrorError::NotGrpc => Cause::NotGrpc,
            MirrorError::NoTarget(_) => Cause::NoTarget,
            MirrorError::Frame(error) => error.cause(),
            MirrorError::Wire(WireError::Compressed) => Cause::Compressed,
            MirrorError::Wire(WireError::Malformed(_)) => Cause::BadMessage,
            MirrorError::Downstream(_) => Cause::DownstreamError,
            MirrorError::Stream { cause, .. } => *cause,
        }
    }
}

impl From<MirrorError> for ProxyError {
    fn from(error: MirrorError) -> ProxyError {
        ProxyError::Action {
            cause: error.cause(),
            message: error.to_string(),
        }
    }
}
