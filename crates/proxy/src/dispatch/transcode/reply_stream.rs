//! A server-streaming method's replies over plain HTTP: each reply message is written
//! as it arrives (NDJSON line or Server-Sent Event), never buffered, and a stream that
//! fails (the upstream's status, a reset, the deadline) ends with the status as a final
//! error object or `error` event.

use bytes::Bytes;
use futures_util::{stream, StreamExt};
use http::header;
use http::Response;
use http_body::Frame;
use http_body_util::StreamBody;
use tokio::time::Instant;
use yardmaster_cluster::UpstreamBody;
use yardmaster_core::{body, BoxError, Cause};
use yardmaster_transcode::{response_headers, Binding, DescriptorPool, JsonOptions, StreamFormat};

use super::request_stream::FailureSlot;
use super::{Failure, Transcode};
use crate::dispatch::whole_body::ReplyReader;
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
    let reader = ReplyReader::new(response, action.max_message_bytes)?;
    let head = reader.metadata().clone();
    let mut replies = Replies {
        reader,
        binding: binding.clone(),
        json: action.json,
        pool: pool.clone(),
        format,
        deadline,
        request_failure,
        done: false,
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
    response_headers(&head, headers);
    Ok(response)
}

/// The upstream's reply stream, turned into chunks of the HTTP body.
struct Replies {
    reader: ReplyReader,
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
        let reply = match self.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, self.reader.next())
                .await
                .map_err(|_| {
                    let text = "deadline exceeded while the upstream was streaming";
                    Failure::gateway(Cause::DeadlineExceeded, text)
                })?,
            None => self.reader.next().await,
        };
        let reply = reply?;
        let Some(reply) = reply else {
            self.done = true;
            return Ok(None);
        };
        let json = self
            .binding
            .response_to_json(&reply, self.json)
            .map_err(|text| Failure::gateway(Cause::BadReply, text))?;
        Ok(Some(self.format.message(&json)))
    }

    /// Ends the stream with `failure`'s status.
    fn fail(&mut self, failure: Failure) -> Bytes {
        self.done = true;
        let failure = self.request_failure.take().unwrap_or(failure);
        self.format.error(&failure.status_body(&self.pool))
    }
}
