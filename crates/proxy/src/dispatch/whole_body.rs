//! Bodies the gateway reads whole, for actions that need the messages: a request body up
//! to a limit, and every reply message of a gRPC call with the status it ended with.

use bytes::BytesMut;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::BodyExt;
use yardmaster_cluster::UpstreamBody;
use yardmaster_core::grpc_frame::MessageDecoder;
use yardmaster_core::{grpc, Body, Cause, GrpcCode};

/// The whole request body, refused once it is over `max` bytes.
pub(crate) async fn read_body(mut body: Body, max: usize) -> Result<BytesMut, (Cause, String)> {
    let mut whole = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| {
            let message = format!("reading the request: {error}");
            (Cause::DownstreamError, message)
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if whole.len().saturating_add(data.len()) > max {
            let message = format!("the request body is over the route's limit of {max} bytes");
            return Err((Cause::MessageTooLarge, message));
        }
        whole.extend_from_slice(&data);
    }
    Ok(whole)
}

/// Why a gRPC call read whole brought no reply.
#[derive(Debug)]
pub(crate) enum ReplyError {
    /// The upstream ended the call with a status other than OK.
    Status {
        code: GrpcCode,
        /// The headers that carry the status (`grpc-message`, `grpc-status-details-bin`).
        status: HeaderMap,
        /// The reply's metadata: its headers and trailers.
        metadata: HeaderMap,
    },
    /// The reply is not a well-formed gRPC reply.
    Broken { cause: Cause, message: String },
}

fn broken(cause: Cause, message: impl Into<String>) -> ReplyError {
    ReplyError::Broken {
        cause,
        message: message.into(),
    }
}

/// Every reply message of a call (each at most `max` bytes) with the reply's metadata
/// (headers and trailers), or why there are none.
pub(crate) async fn read_replies(
    response: Response<UpstreamBody>,
    max: usize,
) -> Result<(Vec<Vec<u8>>, HeaderMap), ReplyError> {
    let (parts, mut body) = response.into_parts();
    if let Some(code) = GrpcCode::from_headers(&parts.headers) {
        // Trailers-only: the status without a message.
        return if code == GrpcCode::Ok {
            Ok((Vec::new(), parts.headers))
        } else {
            Err(ReplyError::Status {
                code,
                status: parts.headers.clone(),
                metadata: parts.headers,
            })
        };
    }
    if parts.status != StatusCode::OK || !grpc::is_grpc(&parts.headers) {
        let message = format!(
            "the upstream answered HTTP {} without a gRPC status",
            parts.status
        );
        return Err(broken(Cause::BadReply, message));
    }
    let mut decoder = MessageDecoder::new(max);
    let mut replies = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|error| broken(UpstreamBody::failure_cause(&*error), error.to_string()))?;
        let frame = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => {
                let trailers = frame.into_trailers().unwrap_or_default();
                let mut metadata = parts.headers;
                metadata.extend(trailers.iter().map(|(n, v)| (n.clone(), v.clone())));
                return match GrpcCode::from_headers(&trailers) {
                    Some(GrpcCode::Ok) => Ok((replies, metadata)),
                    Some(code) => Err(ReplyError::Status {
                        code,
                        status: trailers,
                        metadata,
                    }),
                    None => Err(broken(
                        Cause::MissingStatus,
                        "reply trailers without grpc-status",
                    )),
                };
            }
        };
        decoder.push(&frame);
        while let Some(message) = decoder
            .next_message()
            .map_err(|error| broken(error.cause(), error.to_string()))?
        {
            if message.is_compressed() {
                let text =
                    "the upstream compressed its reply, which the gateway does not decompress";
                return Err(broken(Cause::BadReply, text));
            }
            replies.push(message.payload().to_vec());
        }
    }
    Err(broken(
        Cause::MissingTrailers,
        "reply ended without trailers",
    ))
}
