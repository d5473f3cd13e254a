//! Whole gRPC messages out of the downstream request body, as its DATA frames arrive.

use http_body_util::BodyExt;
use hyper::body::Incoming;
use yardmaster_core::grpc_frame::{Message, MessageDecoder};

use super::MirrorError;

/// Reads the downstream body message by message; holds at most one partial message.
#[derive(Debug)]
pub(super) struct MessageReader {
    body: Incoming,
    decoder: MessageDecoder,
    is_done: bool,
}

impl MessageReader {
    pub(super) fn new(body: Incoming, max_message_bytes: usize) -> MessageReader {
        MessageReader {
            body,
            decoder: MessageDecoder::new(max_message_bytes),
            is_done: false,
        }
    }

    /// The next message; `Ok(None)` once the request ended between messages.
    /// Cancel-safe: bytes already read stay in the decoder.
    pub(super) async fn next(&mut self) -> Result<Option<Message>, MirrorError> {
        loop {
            if let Some(message) = self.decoder.next_message()? {
                return Ok(Some(message));
            }
            if self.is_done {
                return Ok(None);
            }
            match self.body.frame().await {
                None => {
                    self.is_done = true;
                    self.decoder.finish()?;
                }
                Some(Err(error)) => return Err(MirrorError::Downstream(error.to_string())),
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
