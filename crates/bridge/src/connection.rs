//! A client's socket as frames: buffered reads cut by the [`Codec`], framed writes.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use crate::frame::{Codec, FrameError};

/// The first read buffer of a client: small, because most bridge clients are idle most of
/// the time and the scale goal is 16 KiB of gateway memory per idle client. It grows as
/// frames need it, up to the frame limit.
const INITIAL_READ_BYTES: usize = 2 << 10;
/// Frames queued for a client are gathered into writes of about this size, so many small
/// frames cost one system call.
const WRITE_BATCH_BYTES: usize = 64 << 10;

/// Why reading a frame failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// The read side of a client's socket.
#[derive(Debug)]
pub(crate) struct FrameReader {
    socket: OwnedReadHalf,
    buffer: BytesMut,
    codec: Codec,
}

/// The write side of a client's socket.
#[derive(Debug)]
pub(crate) struct FrameWriter {
    socket: OwnedWriteHalf,
    buffer: BytesMut,
    codec: Codec,
}

/// Splits `socket` into a frame reader and a frame writer.
pub(crate) fn split(socket: TcpStream, codec: Codec) -> (FrameReader, FrameWriter) {
    let (read, write) = socket.into_split();
    (
        FrameReader {
            socket: read,
            buffer: BytesMut::new(),
            codec,
        },
        FrameWriter {
            socket: write,
            buffer: BytesMut::new(),
            codec,
        },
    )
}

impl FrameReader {
    /// The next frame; `Ok(None)` when the client closed its side between frames.
    ///
    /// Cancel safe: bytes read before cancellation stay buffered for the next call.
    pub(crate) async fn read_frame(&mut self) -> Result<Option<Bytes>, ReadError> {
        loop {
            if let Some(frame) = self.codec.decode(&mut self.buffer)? {
                return Ok(Some(frame));
            }
            if self.buffer.capacity() == self.buffer.len() {
                self.buffer.reserve(INITIAL_READ_BYTES);
            }
            if self.socket.read_buf(&mut self.buffer).await? == 0 {
                self.codec.finish(&self.buffer)?;
                return Ok(None);
            }
        }
    }
}

impl FrameWriter {
    /// Adds one frame, with its framing, to the pending write.
    pub(crate) fn push(&mut self, payload: &[u8]) -> Result<(), FrameError> {
        self.codec.encode(payload, &mut self.buffer)
    }

    /// Whether enough is pending to write it before taking more frames.
    pub(crate) fn is_full(&self) -> bool {
        self.buffer.len() >= WRITE_BATCH_BYTES
    }

    /// Writes every pushed frame in one go. Cancelling it leaves the client's stream in an
    /// unknown state: close the client then.
    pub(crate) async fn write_pending(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.socket.write_all(&self.buffer).await?;
        self.buffer.clear();
        if self.buffer.capacity() > WRITE_BATCH_BYTES {
            // Do not keep a large frame's buffer for an idle client.
            self.buffer = BytesMut::new();
        }
        Ok(())
    }

    /// Sends FIN after everything written so far.
    pub(crate) async fn shutdown(&mut self) {
        let _ = self.socket.shutdown().await;
    }
}
