//! A client-streaming method's requests over plain HTTP: the body is NDJSON, one request
//! message per line, each sent to the upstream as soon as its line is complete (the
//! body is never collected first). A line that is not the message's JSON, or is longer
//! than `max_message_bytes`, ends the upstream call; its failure is kept in a
//! [`FailureSlot`] so the client is told what was wrong with its request rather than
//! how the upstream took the cut.

use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use futures_util::stream;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use yardmaster_core::grpc_frame::Message;
use yardmaster_core::{body, Body, BoxError, Cause};
use yardmaster_transcode::{JsonOptions, Matched};

use super::Failure;

/// Where the request stream leaves the reason it failed, for the response to report.
#[derive(Clone, Debug, Default)]
pub(super) struct FailureSlot(Arc<Mutex<Option<Failure>>>);

impl FailureSlot {
    fn put(&self, failure: Failure) {
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert(failure);
        }
    }

    /// The request stream's failure, if it failed.
    pub(super) fn take(&self) -> Option<Failure> {
        self.0.lock().ok()?.take()
    }
}

/// The upstream request body for `downstream`, an NDJSON body: each line, with the path
/// variables and `query`, becomes one framed request message.
pub(super) fn body(
    matched: Matched,
    query: Option<String>,
    downstream: Body,
    json: JsonOptions,
    max_message_bytes: usize,
    failed: FailureSlot,
) -> Body {
    let lines = Lines {
        matched,
        query,
        body: downstream,
        json,
        max_message_bytes,
        buffer: BytesMut::new(),
        line: 0,
        ended: false,
        failed,
    };
    let frames = stream::unfold(lines, |mut lines| async move {
        let frame = lines.next_message().await?;
        Some((frame, lines))
    });
    body::boxed(StreamBody::new(frames))
}

struct Lines {
    matched: Matched,
    query: Option<String>,
    body: Body,
    json: JsonOptions,
    max_message_bytes: usize,
    buffer: BytesMut,
    /// Lines taken so far, for errors.
    line: usize,
    ended: bool,
    failed: FailureSlot,
}

impl Lines {
    /// The next request message as a DATA frame; `None` at the end of the body; an error
    /// (after filling the failure slot) for a line that is not a request message.
    async fn next_message(&mut self) -> Option<Result<Frame<Bytes>, BoxError>> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line = self.buffer.split_to(end.saturating_add(1));
                if let Some(frame) = self.message(&line) {
                    return Some(frame);
                }
                continue;
            }
            if self.buffer.len() > self.max_message_bytes {
                let message = format!(
                    "line {} of the request is over the route's limit of {} bytes",
                    self.line.saturating_add(1),
                    self.max_message_bytes
                );
                return Some(self.fail(Failure::gateway(Cause::MessageTooLarge, message)));
            }
            if self.ended {
                let rest = self.buffer.split();
                return self.message(&rest);
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                Some(Err(error)) => {
                    let message = format!("reading the request: {error}");
                    return Some(self.fail(Failure::gateway(Cause::DownstreamError, message)));
                }
                None => self.ended = true,
            }
        }
    }

    /// The request message of one line; `None` for a blank line.
    fn message(&mut self, line: &[u8]) -> Option<Result<Frame<Bytes>, BoxError>> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        self.line = self.line.saturating_add(1);
        let protobuf = match self.matched.request(self.query.as_deref(), line, self.json) {
            Ok(protobuf) => protobuf,
            Err(error) => {
                let message = format!("line {} of the request: {error}", self.line);
                return Some(self.fail(Failure::gateway(Cause::BadJson, message)));
            }
        };
        Some(match Message::new(&protobuf) {
            Ok(message) => Ok(Frame::data(message.framed().clone())),
            Err(error) => self.fail(Failure::gateway(Cause::MessageTooLarge, error.to_string())),
        })
    }

    /// Ends the stream: what is left of the body is not read.
    fn fail(&mut self, failure: Failure) -> Result<Frame<Bytes>, BoxError> {
        self.ended = true;
        self.buffer.clear();
        let error: BoxError = failure.message.clone().into();
        self.failed.put(failure);
        Err(error)
    }
}
