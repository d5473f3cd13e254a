//! Bodies the gateway reads whole, for actions that need the messages: a request body up
//! to a limit, and every reply message of a gRPC call with the status it ended with.

use bytes::BytesMut;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
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

/// The status an upstream ended a call with, other than OK.
#[derive(Debug)]
pub(crate) struct UpstreamStatus {
    pub(crate) code: GrpcCode,
    /// `grpc-message`, decoded.
    pub(crate) message: String,
    /// `grpc-status-details-bin`, as sent.
    pub(crate) details: Option<HeaderValue>,
}

impl UpstreamStatus {
    fn new(code: GrpcCode, headers: &HeaderMap) -> UpstreamStatus {
        UpstreamStatus {
            code,
            message: headers
                .get(grpc::MESSAGE_HEADER)
                .map(grpc::decode_message)
                .unwrap_or_default(),
            details: headers.get(grpc::STATUS_DETAILS_HEADER).cloned(),
        }
    }
}

/// Why a gRPC reply brought no (more) messages.
#[derive(Debug)]
pub(crate) enum ReplyError {
    /// The upstream ended the call with a status other than OK.
    Status {
        status: UpstreamStatus,
        /// The reply's metadata: its headers and trailers (boxed: most errors are not
        /// this one).
        metadata: Box<HeaderMap>,
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

/// A gRPC reply read message by message (each at most the reader's limit), its status
/// checked at the end.
pub(crate) struct ReplyReader {
    body: UpstreamBody,
    decoder: MessageDecoder,
    /// The reply's headers, and once they came, its trailers.
    metadata: HeaderMap,
    ended: bool,
}

impl ReplyReader {
    /// Reads the reply's head.
    ///
    /// # Errors
    ///
    /// A trailers-only reply with a status other than OK, or a reply that is not gRPC.
    pub(crate) fn new(response: Response<UpstreamBody>, max: usize) -> Result<Self, ReplyError> {
        let (parts, body) = response.into_parts();
        let trailers_only = GrpcCode::from_headers(&parts.headers);
        if let Some(code) = trailers_only.filter(|code| *code != GrpcCode::Ok) {
            return Err(ReplyError::Status {
                status: UpstreamStatus::new(code, &parts.headers),
                metadata: Box::new(parts.headers),
            });
        }
        if trailers_only.is_none()
            && (parts.status != StatusCode::OK || !grpc::is_grpc(&parts.headers))
        {
            let message = format!(
                "the upstream answered HTTP {} without a gRPC status",
                parts.status
            );
            return Err(broken(Cause::BadReply, message));
        }
        Ok(ReplyReader {
            body,
            decoder: MessageDecoder::new(max),
            metadata: parts.headers,
            // A trailers-only OK is a reply of no messages.
            ended: trailers_only.is_some(),
        })
    }

    /// The reply's headers (and trailers, once read).
    pub(crate) fn metadata(&self) -> &HeaderMap {
        &self.metadata
    }

    /// The next reply message; `None` once the call has ended with OK.
    ///
    /// # Errors
    ///
    /// The upstream's status other than OK, or why the reply is broken (bad framing, a
    /// compressed message, a reset, no trailers, no status).
    pub(crate) async fn next(&mut self) -> Result<Option<Vec<u8>>, ReplyError> {
        loop {
            if let Some(message) = self
                .decoder
                .next_message()
                .map_err(|error| broken(error.cause(), error.to_string()))?
            {
                if message.is_compressed() {
                    let text =
                        "the upstream compressed its reply, which the gateway does not decompress";
                    return Err(broken(Cause::BadReply, text));
                }
                return Ok(Some(message.payload().to_vec()));
            }
            if self.ended {
                return Ok(None);
            }
            let frame = match self.body.frame().await {
                Some(Ok(frame)) => frame,
                Some(Err(error)) => {
                    let cause = UpstreamBody::failure_cause(&*error);
                    return Err(broken(cause, error.to_string()));
                }
                None => {
                    return Err(broken(
                        Cause::MissingTrailers,
                        "reply ended without trailers",
                    ))
                }
            };
            let trailers = match frame.into_data() {
                Ok(data) => {
                    self.decoder.push(&data);
                    continue;
                }
                Err(frame) => frame.into_trailers().unwrap_or_default(),
            };
            self.ended = true;
            self.decoder
                .finish()
                .map_err(|error| broken(error.cause(), error.to_string()))?;
            self.metadata
                .extend(trailers.iter().map(|(n, v)| (n.clone(), v.clone())));
            match GrpcCode::from_headers(&trailers) {
                Some(GrpcCode::Ok) => {}
                Some(code) => {
                    return Err(ReplyError::Status {
                        status: UpstreamStatus::new(code, &trailers),
                        metadata: Box::new(std::mem::take(&mut self.metadata)),
                    })
                }
                None => {
                    return Err(broken(
                        Cause::MissingStatus,
                        "reply trailers without grpc-status",
                    ))
                }
            }
        }
    }
}

/// Every reply message of a call (each at most `max` bytes) with the reply's metadata
/// (headers and trailers), or why there are none.
pub(crate) async fn read_replies(
    response: Response<UpstreamBody>,
    max: usize,
) -> Result<(Vec<Vec<u8>>, HeaderMap), ReplyError> {
    let mut reader = ReplyReader::new(response, max)?;
    let mut replies = Vec::new();
    while let Some(reply) = reader.next().await? {
        replies.push(reply);
    }
    Ok((replies, reader.metadata))
}
