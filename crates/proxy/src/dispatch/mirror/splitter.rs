//! The responder's request body of one mirrored call. Each time the responder's upstream
//! stream asks for more, it reads the next downstream message, hands it to every other
//! target whose filter passes it (never waiting) and returns it if the responder's filter
//! passes it. No task and no channel stand between the client and the responder: the
//! responder's flow control is the client's backpressure, as on a plain forwarded call.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame};
use tokio::time::Instant;
use yardmaster_config::MessageType;
use yardmaster_core::grpc_frame::Message;

use super::channel_body::{self, ChannelSender};
use super::message_reader::MessageReader;
use super::{copy, Mirror, MirrorError, COPY_QUEUE, MIRROR_HEADER};
use crate::dispatch::request_head::RequestHead;
use crate::response_body::FailureCell;

/// The state of one call's message distribution.
///
/// Dropped before the downstream request ended (the responder's call is over, failed or
/// past its deadline), it drops every copy's sender unfinished, which resets the copies.
#[derive(Debug)]
pub(super) struct Splitter {
    pub(super) mirror: Arc<Mirror>,
    pub(super) head: Arc<RequestHead>,
    /// The call's gRPC path, `/package.Service/Method`.
    pub(super) path: String,
    /// The type of every message when it is the call's (the method, or no extractor);
    /// `None` when each message is typed on its own.
    pub(super) call_type: Option<MessageType>,
    pub(super) responder: usize,
    pub(super) reader: MessageReader,
    /// The first message, when choosing the responder needed it read already.
    pub(super) first: Option<Message>,
    /// Per target, the copy stream of this call (grown on first use).
    pub(super) streams: Vec<CopyStream>,
    pub(super) deadline: Option<Instant>,
    /// Where a failure of the request stream is left for the client's response.
    pub(super) failure: FailureCell,
    pub(super) is_done: bool,
}

/// A non-responding target's part in one call.
#[derive(Debug, Default)]
pub(super) enum CopyStream {
    /// No message for it yet.
    #[default]
    Idle,
    Open(ChannelSender),
    /// Not sampled, or its queue was full when the call's first message for it came.
    Skipped,
}

impl HttpBody for Splitter {
    type Data = Bytes;
    type Error = MirrorError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, MirrorError>>> {
        let this = self.get_mut();
        if this.is_done {
            return Poll::Ready(None);
        }
        loop {
            let next = match this.first.take() {
                Some(message) => Ok(Some(message)),
                None => ready!(this.reader.poll_next(cx)),
            };
            let delivered = match next {
                Ok(Some(message)) => this.deliver(message),
                Ok(None) => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Err(error) => Err(error),
            };
            match delivered {
                Ok(Some(framed)) => return Poll::Ready(Some(Ok(Frame::data(framed)))),
                // Not for the responder: read on.
                Ok(None) => {}
                Err(error) => {
                    tracing::debug!(%error, "mirrored request stream failed");
                    let _ = this.failure.set((error.cause(), error.to_string()));
                    // Dropped unfinished, the copies are reset.
                    this.streams.clear();
                    this.is_done = true;
                    return Poll::Ready(Some(Err(error)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.is_done
    }
}

impl Splitter {
    /// The downstream request ended: every copy's stream ends cleanly.
    fn finish(&mut self) {
        self.is_done = true;
        for stream in self.streams.drain(..) {
            if let CopyStream::Open(tx) = stream {
                tx.finish();
            }
        }
    }

    /// Hands one message to every other target that takes its type (never waiting), and
    /// returns it if the responder takes it.
    fn deliver(&mut self, message: Message) -> Result<Option<Bytes>, MirrorError> {
        let mirror = self.mirror.clone();
        let ty = match (&self.call_type, &mirror.extractor) {
            (Some(ty), _) => ty.clone(),
            (None, Some(extractor)) => {
                extractor.type_of(&self.path, message.payload(), message.is_compressed())?
            }
            (None, None) => MessageType::Number(0),
        };
        let framed = message.framed();
        for i in 0..mirror.targets.len() {
            if i != self.responder && mirror.selection.passes(i, &ty) {
                self.copy(&mirror, i, framed);
            }
        }
        Ok(mirror
            .selection
            .passes(self.responder, &ty)
            .then(|| framed.clone()))
    }

    /// Queues `framed` for target `i`, opening its copy on the first message for it.
    fn copy(&mut self, mirror: &Mirror, i: usize, framed: &Bytes) {
        let Some(target) = mirror.targets.get(i) else {
            return;
        };
        if self.streams.len() <= i {
            self.streams.resize_with(i + 1, CopyStream::default);
        }
        if matches!(self.streams.get(i), Some(CopyStream::Idle)) {
            let opened = self.open(mirror, i);
            if let Some(stream) = self.streams.get_mut(i) {
                *stream = opened;
            }
        }
        let Some(CopyStream::Open(tx)) = self.streams.get(i) else {
            return;
        };
        // Closed means the copy already ended (failed or timed out); it was counted then.
        if let Err(true) = tx.try_send(framed.clone()) {
            target.counters.messages_dropped.inc();
        }
    }

    /// Starts the copy of this call to target `i`, if sampled and a slot is free.
    fn open(&self, mirror: &Mirror, i: usize) -> CopyStream {
        let Some(target) = mirror.targets.get(i) else {
            return CopyStream::Skipped;
        };
        if target.sample_percent < 100.0 && fastrand::f64() * 100.0 >= target.sample_percent {
            return CopyStream::Skipped;
        }
        let Ok(permit) = target.slots.clone().try_acquire_owned() else {
            target.counters.dropped.inc();
            return CopyStream::Skipped;
        };
        let copy_deadline = Instant::now() + mirror.copy_timeout;
        let deadline = self
            .deadline
            .map_or(copy_deadline, |d| d.min(copy_deadline));
        let (tx, body) = channel_body::channel(COPY_QUEUE);
        let req = self.head.request(
            yardmaster_core::body::boxed(body),
            Some(deadline),
            Some((MIRROR_HEADER, &mirror.route)),
        );
        copy::spawn(
            mirror.copies.handle(),
            target.cluster.clone(),
            target.counters.clone(),
            req,
            self.head.client,
            deadline,
            permit,
        );
        CopyStream::Open(tx)
    }
}
