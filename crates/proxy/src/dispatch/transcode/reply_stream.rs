//! A server-streaming method's replies over plain HTTP: each reply message is written
//! as it arrives (NDJSON line or Server-Sent Event), never buffered, and a stream that
//! fails (the upstream's status, a reset, the deadline) ends with the status as a final
//! error object or `error` event.

use bytes::Bytes;
use futures_util::{stream, StreamExt};
use http::header;
use http::{Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use tokio::time::Instant;
use yardmaster_cluster::UpstreamBody;
use yardmaster_core::grpc_frame::MessageDecoder;
use yardmaster_core::{body, grpc, BoxError, Cause, GrpcCode};
use yardmaster_transcode::{response_headers, Binding, DescriptorPool, JsonOptions, StreamFormat};

use super::request_stream::FailureSlot;
use super::{Failure, Transcode};
use crate::ProxyBody;

/// Answers with the reply stream once its first message is in: 200 with the reply's
/// metadata as headers, or, when the call ends before any message, its status as an
/// ordinary error response with the mapped HTTP status.
pub(super) async fn respond(
    action: &Transcode,
    pool: &DescriptorPool,
    binding: &Binding,
    response: Response<UpstreamBody>,
    format: StreamFormat,
    deadline: Option<Instant>,
    request_failure: FailureSlot,
) -> Result<Response<ProxyBody>, Failure> {
    let (parts, body) = response.into_parts();
    let trailers_only = GrpcCode::from_headers(&parts.headers);
    if let Some(code) = trailers_only.filter(|code| *code != GrpcCode::Ok) {
        return Err(Failure::upstream(
            code,
            &parts.headers,
            parts.headers.clone(),
        ));
    }
    if parts.status != StatusCode::OK || !grpc::is_grpc(&parts.headers) {
        let message = format!(
            "the upstream answered HTTP {} without a gRPC status",
            parts.status
        );
        return Err(Failure::gateway(Cause::BadReply, message));
    }
    let mut replies = Replies {
        body,
        decoder: MessageDecoder::new(action.max_message_bytes),
        binding: binding.clone(),
        json: action.json,
        pool: pool.clone(),
        format,
        deadline,
        request_failure,
        // A trailers-only OK is a stream of no messages.
        done: trailers_only.is_some(),
    };
    let first = replies.next().await?;
    let rest = stream::unfold(replies, |mut replies| async move {
        let chunk = replies.next_chunk().await?;
        Some((Ok::<_, BoxError>(Frame::data(chunk)), replies))
    });
    let chunks = stream::iter(first.map(|chunk| Ok(Frame::data(chunk)))).chain(rest);
    let mut response = Response::new(ProxyBody::local(body::boxed(StreamBody::new(chunks))));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, format.content_type());
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    response_headers(&parts.headers, headers);
    Ok(response)
}

/// The upstream's reply stream, turned into chunks of the HTTP body.
struct Replies {
    body: UpstreamBody,
    decoder: MessageDecoder,
    binding: Binding,
    json: JsonOptions,
    pool: DescriptorPool,
    format: StreamFormat,
    deadline: Option<Instant>,
    /// Why the request stream failed, which explains the end better than the upstream.
    request_failure: FailureSlot,
    done: bool,
}

impl Replies {
    /// The next message or final error as a chunk; `None` once the stream has ended.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        match self.next().await {
            Ok(chunk) => chunk,
            Err(failure) => Some(self.fail(failure)),
        }
    }

    /// The next message as a chunk; `None` once the stream has ended with OK, the
    /// failure when it ends otherwise.
    async fn next(&mut self) -> Result<Option<Bytes>, Failure> {
        if self.done {
            return Ok(None);
        }
        loop {
            if let Some(message) = self
                .decoder
                .next_message()
                .map_err(|error| Failure::gateway(error.cause(), error.to_string()))?
            {
                if message.is_compressed() {
                    let text =
                        "the upstream compressed a reply, which the gateway does not decompress";
                    return Err(Failure::gateway(Cause::BadReply, text));
                }
                let json = self
                    .binding
                    .response_to_json(message.payload(), self.json)
                    .map_err(|text| Failure::gateway(Cause::BadReply, text))?;
                return Ok(Some(self.format.message(&json)));
            }
            let frame = match self.deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, self.body.frame())
                    .await
                    .map_err(|_| {
                        let text = "deadline exceeded while the upstream was streaming";
                        Failure::gateway(Cause::DeadlineExceeded, text)
                    })?,
                None => self.body.frame().await,
            };
            let frame = match frame {
                Some(Ok(frame)) => frame,
                Some(Err(error)) => {
                    let cause = UpstreamBody::failure_cause(&*error);
                    return Err(Failure::gateway(cause, error.to_string()));
                }
                None => {
                    let text = "reply ended without trailers";
                    return Err(Failure::gateway(Cause::MissingTrailers, text));
                }
            };
            let trailers = match frame.into_data() {
                Ok(data) => {
                    self.decoder.push(&data);
                    continue;
                }
                Err(frame) => frame.into_trailers().unwrap_or_default(),
            };
            self.done = true;
            self.decoder
                .finish()
                .map_err(|error| Failure::gateway(error.cause(), error.to_string()))?;
            return match GrpcCode::from_headers(&trailers) {
                Some(GrpcCode::Ok) => Ok(None),
                Some(code) => Err(Failure::upstream(code, &trailers, trailers.clone())),
                None => Err(Failure::gateway(
                    Cause::MissingStatus,
                    "reply trailers without grpc-status",
                )),
            };
        }
    }

    /// Ends the stream with `failure`'s status.
    fn fail(&mut self, failure: Failure) -> Bytes {
        self.done = true;
        let failure = self.request_failure.take().unwrap_or(failure);
        self.format.error(&failure.status_body(&self.pool))
    }
}
