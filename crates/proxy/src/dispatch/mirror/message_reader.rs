//! Whole gRPC messages out of the downstream request body, as its DATA frames arrive.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http_body::Body as _;
use yardmaster_core::grpc_frame::{Message, MessageDecoder};
use yardmaster_core::Body;

use super::MirrorError;

/// Reads the downstream body message by message; holds at most one partial message.
#[derive(Debug)]
pub(super) struct MessageReader {
    body: Body,
    decoder: MessageDecoder,
    is_done: bool,
}

impl MessageReader {
    pub(super) fn new(body: Body, max_message_bytes: usize) -> MessageReader {
        MessageReader {
            body,
            decoder: MessageDecoder::new(max_message_bytes),
            is_done: false,
        }
    }

    /// The next message; `Ok(None)` once the request ended between messages.
    /// Cancel-safe: bytes already read stay in the decoder.
    pub(super) async fn next(&mut self) -> Result<Option<Message>, MirrorError> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// [`MessageReader::next`] as a poll.
    pub(super) fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Message>, MirrorError>> {
        loop {
            if let Some(message) = self.decoder.next_message()? {
                return Poll::Ready(Ok(Some(message)));
            }
            if self.is_done {
                return Poll::Ready(Ok(None));
            }
            match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                None => {
                    self.is_done = true;
                    self.decoder.finish()?;
                }
                Some(Err(error)) => {
                    return Poll::Ready(Err(MirrorError::Downstream(error.to_string())))
                }
                // Request trailers carry nothing the targets need.
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.decoder.push(&data);
                    }
                }
            }
        }
    }
}
