//! gRPC message framing (the gRPC HTTP/2 protocol, "Length-Prefixed-Message"): a 1-byte
//! compressed flag, a 4-byte big-endian length, then the message. Messages may span
//! DATA frames and one DATA frame may hold several messages.

use std::fmt;

use bytes::{Bytes, BytesMut};

use crate::Cause;

/// Bytes of the prefix before each message.
pub const PREFIX_BYTES: usize = 5;

/// One whole message, still framed, so it can be sent on unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    framed: Bytes,
}

impl Message {
    /// An uncompressed message holding `payload`.
    ///
    /// # Errors
    ///
    /// When `payload` is longer than a prefix can say (4 GiB).
    pub fn new(payload: &[u8]) -> Result<Message, FrameError> {
        let len = u32::try_from(payload.len()).map_err(|_| FrameError::TooLarge {
            len: payload.len(),
            max: u32::MAX as usize,
        })?;
        let mut framed = BytesMut::with_capacity(PREFIX_BYTES + payload.len());
        framed.extend_from_slice(&[0]);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(payload);
        Ok(Message {
            framed: framed.freeze(),
        })
    }

    /// The message with its 5-byte prefix, ready to be sent as is.
    pub fn framed(&self) -> &Bytes {
        &self.framed
    }

    /// The message bytes after the prefix (compressed if [`Message::is_compressed`]).
    pub fn payload(&self) -> &[u8] {
        self.framed.get(PREFIX_BYTES..).unwrap_or_default()
    }

    /// Whether the compressed flag is set (the payload is in the call's `grpc-encoding`).
    pub fn is_compressed(&self) -> bool {
        self.framed.first().is_some_and(|flag| *flag == 1)
    }
}

/// Why the bytes of a call are not a valid message stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// A message is longer than the limit.
    TooLarge {
        /// The length in the prefix.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The compressed flag is neither 0 nor 1.
    BadFlag(u8),
    /// The stream ended inside a message.
    Truncated,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge { len, max } => {
                write!(f, "message of {len} bytes is over the limit of {max} bytes")
            }
            FrameError::BadFlag(flag) => {
                write!(
                    f,
                    "invalid gRPC message prefix (flag {flag}, expected 0 or 1)"
                )
            }
            FrameError::Truncated => f.write_str("the request ended in the middle of a message"),
        }
    }
}

impl std::error::Error for FrameError {}

impl FrameError {
    /// Why a call with these bytes is refused.
    pub fn cause(&self) -> Cause {
        match self {
            FrameError::TooLarge { .. } => Cause::MessageTooLarge,
            FrameError::BadFlag(_) | FrameError::Truncated => Cause::BadFrame,
        }
    }
}

/// Cuts a byte stream into whole messages. Holds at most one partial message, which is
/// bounded by `max_message_bytes`.
#[derive(Debug)]
pub struct MessageDecoder {
    buf: BytesMut,
    max_message_bytes: usize,
}

impl MessageDecoder {
    /// A decoder that refuses messages longer than `max_message_bytes`.
    pub fn new(max_message_bytes: usize) -> MessageDecoder {
        MessageDecoder {
            buf: BytesMut::new(),
            max_message_bytes,
        }
    }

    /// Appends the bytes of the next DATA frame.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next whole message, `Ok(None)` when more bytes are needed.
    ///
    /// # Errors
    ///
    /// [`FrameError::TooLarge`] as soon as a prefix announces an oversized message (before
    /// its bytes are buffered), [`FrameError::BadFlag`] for a prefix that is not gRPC.
    pub fn next_message(&mut self) -> Result<Option<Message>, FrameError> {
        let Some(&[flag, a, b, c, d]) = self.buf.get(..PREFIX_BYTES) else {
            return Ok(None);
        };
        if flag > 1 {
            return Err(FrameError::BadFlag(flag));
        }
        let len = usize::try_from(u32::from_be_bytes([a, b, c, d])).unwrap_or(usize::MAX);
        if len > self.max_message_bytes {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_message_bytes,
            });
        }
        let total = PREFIX_BYTES + len;
        if self.buf.len() < total {
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        let framed = self.buf.split_to(total).freeze();
        Ok(Some(Message { framed }))
    }

    /// Checks that the stream ended between messages.
    ///
    /// # Errors
    ///
    /// [`FrameError::Truncated`] if bytes of an unfinished message are left.
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Truncated)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        Message::new(payload).unwrap().framed().to_vec()
    }

    #[test]
    fn splits_messages_across_and_within_chunks() {
        let mut stream = frame(b"hello");
        stream.extend(frame(b""));
        stream.extend(frame(b"world!"));
        let mut decoder = MessageDecoder::new(64);
        let mut messages = Vec::new();
        for chunk in stream.chunks(3) {
            decoder.push(chunk);
            while let Some(message) = decoder.next_message().unwrap() {
                messages.push(message);
            }
        }
        let payloads: Vec<&[u8]> = messages.iter().map(Message::payload).collect();
        assert_eq!(payloads, [&b"hello"[..], b"", b"world!"]);
        assert_eq!(messages[0].framed().as_ref(), frame(b"hello").as_slice());
        assert!(!messages[0].is_compressed());
        decoder.finish().unwrap();
    }

    #[test]
    fn refuses_oversized_message_from_its_prefix_alone() {
        let mut decoder = MessageDecoder::new(4);
        decoder.push(&frame(b"hello")[..5]);
        assert_eq!(
            decoder.next_message(),
            Err(FrameError::TooLarge { len: 5, max: 4 })
        );
    }

    #[test]
    fn reports_bad_flag_and_truncation() {
        let mut decoder = MessageDecoder::new(64);
        decoder.push(&[7, 0, 0, 0, 0]);
        assert_eq!(decoder.next_message(), Err(FrameError::BadFlag(7)));
        let mut decoder = MessageDecoder::new(64);
        decoder.push(&frame(b"abc")[..6]);
        assert_eq!(decoder.next_message(), Ok(None));
        assert_eq!(decoder.finish(), Err(FrameError::Truncated));
    }
}
