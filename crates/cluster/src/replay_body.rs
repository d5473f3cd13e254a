//! A request body that can be sent again: what the first attempt reads from the
//! downstream is kept (up to a limit), so a retry replays it and then continues with the
//! rest of the stream.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body as HttpBody, Frame};
use yardmaster_core::{Body, BoxError};

/// The state shared by the attempts of one call. The mutex is per call and taken only
/// inside `poll_frame`, never across an `.await`, so it is never contended between calls.
#[derive(Debug)]
pub(crate) struct Replay {
    shared: Arc<Mutex<Shared>>,
}

#[derive(Debug)]
struct Shared {
    source: Body,
    chunks: Vec<Bytes>,
    bytes: usize,
    limit: usize,
    /// Data was read that is not kept, so the body can no longer be replayed.
    overflowed: bool,
    ended: bool,
    trailers: Option<HeaderMap>,
    /// Attempts started; only the newest attempt's body may read.
    generation: u32,
}

/// One attempt's view of the request body.
#[derive(Debug)]
pub(crate) struct ReplayBody {
    shared: Arc<Mutex<Shared>>,
    generation: u32,
    next: usize,
    trailers_sent: bool,
}

/// An attempt's body was superseded by a retry of the call.
#[derive(Debug, thiserror::Error)]
#[error("request body superseded by a retry")]
struct Superseded;

impl Replay {
    pub(crate) fn new(source: Body, limit: usize) -> Replay {
        Replay {
            shared: Arc::new(Mutex::new(Shared {
                source,
                chunks: Vec::new(),
                bytes: 0,
                limit,
                overflowed: false,
                ended: false,
                trailers: None,
                generation: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a new attempt would see the whole body.
    pub(crate) fn is_replayable(&self) -> bool {
        !self.lock().overflowed
    }

    /// The body of the next attempt, from the start.
    pub(crate) fn body(&self) -> ReplayBody {
        let mut shared = self.lock();
        shared.generation += 1;
        ReplayBody {
            shared: self.shared.clone(),
            generation: shared.generation,
            next: 0,
            trailers_sent: false,
        }
    }

    /// No more attempts will be made: stop keeping data.
    pub(crate) fn commit(&self) {
        let mut shared = self.lock();
        shared.overflowed = true;
        shared.limit = 0;
    }
}

impl HttpBody for ReplayBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let mut shared = this.shared.lock().unwrap_or_else(|e| e.into_inner());
        if shared.generation != this.generation {
            return Poll::Ready(Some(Err(Box::new(Superseded))));
        }
        if let Some(chunk) = shared.chunks.get(this.next) {
            this.next += 1;
            return Poll::Ready(Some(Ok(Frame::data(chunk.clone()))));
        }
        if shared.ended {
            if this.trailers_sent {
                return Poll::Ready(None);
            }
            this.trailers_sent = true;
            return Poll::Ready(shared.trailers.clone().map(|t| Ok(Frame::trailers(t))));
        }
        let polled = Pin::new(&mut shared.source).poll_frame(cx);
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                shared.ended = true;
                this.trailers_sent = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(error))),
            Poll::Ready(Some(Ok(frame))) => {
                let frame = match frame.into_data() {
                    Ok(data) => {
                        shared.keep(&data);
                        // Knowing the end now lets this frame carry END_STREAM; an
                        // extra empty DATA frame per call makes h2 servers answer
                        // GOAWAY `too_many_data_frames` (ENHANCE_YOUR_CALM) after a while.
                        if shared.source.is_end_stream() {
                            shared.ended = true;
                        }
                        // Only kept chunks are indexed; past the limit, `next` stays put.
                        if !shared.overflowed {
                            this.next = shared.chunks.len();
                        }
                        Frame::data(data)
                    }
                    Err(frame) => {
                        if let Some(trailers) = frame.trailers_ref() {
                            shared.trailers = Some(trailers.clone());
                            shared.ended = true;
                            this.trailers_sent = true;
                        }
                        frame
                    }
                };
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        let shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        shared.generation == self.generation
            && shared.ended
            && self.next >= shared.chunks.len()
            && (self.trailers_sent || shared.trailers.is_none())
    }
}

impl Shared {
    fn keep(&mut self, data: &Bytes) {
        if self.overflowed {
            return;
        }
        if self.bytes + data.len() > self.limit {
            self.overflowed = true;
            self.chunks.clear();
            return;
        }
        self.bytes += data.len();
        self.chunks.push(data.clone());
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use yardmaster_core::body;

    use super::*;

    async fn read_all(body: ReplayBody) -> (Vec<u8>, Option<HeaderMap>) {
        let collected = body.collect().await.unwrap();
        let trailers = collected.trailers().cloned();
        (collected.to_bytes().to_vec(), trailers)
    }

    fn source(chunks: &[&'static str]) -> Body {
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = chunks
            .iter()
            .map(|c| Ok(Frame::data(Bytes::from_static(c.as_bytes()))))
            .collect();
        http_body_util::StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync()
    }

    #[tokio::test]
    async fn a_retry_sees_the_same_body() {
        let replay = Replay::new(source(&["ab", "cd", "ef"]), 100);
        assert_eq!(read_all(replay.body()).await.0, b"abcdef");
        assert!(replay.is_replayable());
        assert_eq!(read_all(replay.body()).await.0, b"abcdef");
    }

    #[tokio::test]
    async fn a_body_past_the_limit_is_not_replayable() {
        let replay = Replay::new(source(&["abcd", "efgh"]), 6);
        assert_eq!(read_all(replay.body()).await.0, b"abcdefgh");
        assert!(!replay.is_replayable());
    }

    #[tokio::test]
    async fn knows_its_end_as_soon_as_the_last_data_is_read() {
        let replay = Replay::new(body::full("abc"), 100);
        let mut first = replay.body();
        assert_eq!(
            first.frame().await.unwrap().unwrap().into_data().unwrap(),
            "abc"
        );
        assert!(
            first.is_end_stream(),
            "the last DATA frame can carry END_STREAM"
        );
        let mut second = replay.body();
        assert!(!second.is_end_stream());
        assert_eq!(
            second.frame().await.unwrap().unwrap().into_data().unwrap(),
            "abc"
        );
        assert!(second.is_end_stream());
    }

    #[tokio::test]
    async fn a_superseded_attempt_reads_an_error() {
        let replay = Replay::new(source(&["ab"]), 100);
        let mut first = replay.body();
        let _second = replay.body();
        let frame = first.frame().await.unwrap();
        assert!(frame.is_err());
    }
}
