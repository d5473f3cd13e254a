//! Framing: cutting a client's byte stream into frames, and adding the framing back to
//! frames written to a client. Needing more bytes (`Ok(None)`) is an expected outcome,
//! not an error.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use yardmaster_config::Framing;

/// Why a client's input cannot be framed. Either one closes that client only.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// A frame, or a line without its newline so far, is over the limit.
    #[error("frame too large: {len} bytes or more, the limit is {max}")]
    TooLarge { len: usize, max: usize },
    /// The client closed its side in the middle of a frame.
    #[error("connection closed in the middle of a frame ({buffered} bytes buffered)")]
    Truncated { buffered: usize },
}

impl FrameError {
    /// A bounded label for metrics.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            FrameError::TooLarge { .. } => "frame_too_large",
            FrameError::Truncated { .. } => "truncated_frame",
        }
    }
}

/// The framing of one bridge listener and its frame size limit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Codec {
    framing: Framing,
    max_frame_bytes: usize,
}

/// Bytes of a `length_prefixed` header.
const PREFIX_BYTES: usize = 4;

impl Codec {
    pub(crate) fn new(framing: Framing, max_frame_bytes: usize) -> Codec {
        Codec {
            framing,
            max_frame_bytes,
        }
    }

    /// Takes the next whole frame off the front of `buffer`: `Ok(None)` when more bytes are
    /// needed. The framing (newline, length prefix) is not part of the frame.
    pub(crate) fn decode(&self, buffer: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        match self.framing {
            Framing::Raw => {
                if buffer.is_empty() {
                    return Ok(None);
                }
                let len = buffer.len().min(self.max_frame_bytes);
                Ok(Some(buffer.split_to(len).freeze()))
            }
            Framing::Lines => match buffer.iter().position(|&b| b == b'\n') {
                Some(end) if end > self.max_frame_bytes => Err(self.too_large(end)),
                Some(end) => {
                    let line = buffer.split_to(end).freeze();
                    buffer.advance(1);
                    Ok(Some(line))
                }
                None if buffer.len() > self.max_frame_bytes => Err(self.too_large(buffer.len())),
                None => Ok(None),
            },
            Framing::LengthPrefixed => {
                let Some(header) = buffer.get(..PREFIX_BYTES) else {
                    return Ok(None);
                };
                let mut prefix = [0; PREFIX_BYTES];
                prefix.copy_from_slice(header);
                let len = usize::try_from(u32::from_be_bytes(prefix)).unwrap_or(usize::MAX);
                if len > self.max_frame_bytes {
                    return Err(self.too_large(len));
                }
                if buffer.len() < PREFIX_BYTES.saturating_add(len) {
                    buffer.reserve(PREFIX_BYTES.saturating_add(len) - buffer.len());
                    return Ok(None);
                }
                buffer.advance(PREFIX_BYTES);
                Ok(Some(buffer.split_to(len).freeze()))
            }
        }
    }

    /// Called at end of input: bytes left over are a truncated frame (never for `raw`,
    /// whose frames `decode` always takes whole).
    pub(crate) fn finish(&self, buffer: &BytesMut) -> Result<(), FrameError> {
        if buffer.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Truncated {
                buffered: buffer.len(),
            })
        }
    }

    /// Appends `payload` with this framing to `out`. A `length_prefixed` payload over
    /// `u32::MAX` bytes cannot be framed and is refused.
    pub(crate) fn encode(&self, payload: &[u8], out: &mut BytesMut) -> Result<(), FrameError> {
        match self.framing {
            Framing::Raw => out.extend_from_slice(payload),
            Framing::Lines => {
                out.reserve(payload.len().saturating_add(1));
                out.extend_from_slice(payload);
                out.put_u8(b'\n');
            }
            Framing::LengthPrefixed => {
                let len = u32::try_from(payload.len()).map_err(|_| FrameError::TooLarge {
                    len: payload.len(),
                    max: u32::MAX as usize,
                })?;
                out.reserve(payload.len().saturating_add(PREFIX_BYTES));
                out.put_u32(len);
                out.extend_from_slice(payload);
            }
        }
        Ok(())
    }

    fn too_large(&self, len: usize) -> FrameError {
        FrameError::TooLarge {
            len,
            max: self.max_frame_bytes,
        }
    }
}

#[cfg(test)]
mod tests;
