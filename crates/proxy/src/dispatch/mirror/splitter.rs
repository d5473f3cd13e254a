//! The task of one mirrored call that hands each downstream message to every target whose
//! filter passes it: the responder waits for room, copies never make the client wait.

use std::sync::Arc;

use bytes::Bytes;
use tokio::time::Instant;
use yardmaster_config::MessageType;
use yardmaster_core::grpc_frame::Message;

use super::channel_body::{self, ChannelSender};
use super::message_reader::MessageReader;
use super::{copy, Mirror, MirrorError, COPY_QUEUE, MIRROR_HEADER};
use crate::dispatch::request_head::RequestHead;
use crate::response_body::FailureCell;

/// The state of one call's message distribution.
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
    pub(super) responder_tx: Option<ChannelSender>,
    /// Per target, the copy stream of this call (grown on first use).
    pub(super) streams: Vec<CopyStream>,
    pub(super) deadline: Option<Instant>,
    /// Where a failure of the request stream is left for the client's response.
    pub(super) failure: FailureCell,
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

/// Why the distribution stopped before the downstream request ended.
enum Stop {
    /// The responder's request is gone: its call is over.
    ResponderGone,
    Failed(MirrorError),
}

impl From<MirrorError> for Stop {
    fn from(error: MirrorError) -> Stop {
        Stop::Failed(error)
    }
}

impl Splitter {
    /// Distributes `first` (if already read) and every further message until the request
    /// ends (every target's stream then ends cleanly), fails, the responder's request goes
    /// away or the deadline passes (every target's stream is then reset).
    pub(super) async fn run(mut self, mut reader: MessageReader, first: Option<Message>) {
        let deadline = self.deadline;
        let pump = self.pump(&mut reader, first);
        let result = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, pump)
                .await
                .unwrap_or(Err(Stop::ResponderGone)),
            None => pump.await,
        };
        match result {
            Ok(()) => {
                if let Some(tx) = self.responder_tx.take() {
                    tx.finish();
                }
                for stream in self.streams.drain(..) {
                    if let CopyStream::Open(tx) = stream {
                        tx.finish();
                    }
                }
            }
            Err(Stop::Failed(error)) => {
                tracing::debug!(%error, "mirrored request stream failed");
                let _ = self.failure.set((error.grpc_code(), error.to_string()));
            }
            // Dropping the senders unfinished resets every target's stream.
            Err(Stop::ResponderGone) => {}
        }
    }

    async fn pump(
        &mut self,
        reader: &mut MessageReader,
        first: Option<Message>,
    ) -> Result<(), Stop> {
        if let Some(message) = first {
            self.deliver(message).await?;
        }
        loop {
            let next = match &self.responder_tx {
                Some(tx) => tokio::select! {
                    biased;
                    () = tx.closed() => return Err(Stop::ResponderGone),
                    next = reader.next() => next?,
                },
                None => reader.next().await?,
            };
            match next {
                Some(message) => self.deliver(message).await?,
                None => return Ok(()),
            }
        }
    }

    /// Hands one message to every target that takes its type: copies first (never
    /// waiting), then the responder (waiting for room).
    async fn deliver(&mut self, message: Message) -> Result<(), Stop> {
        let mirror = self.mirror.clone();
        let ty = match (&self.call_type, &mirror.extractor) {
            (Some(ty), _) => ty.clone(),
            (None, Some(extractor)) => extractor
                .type_of(&self.path, message.payload(), message.is_compressed())
                .map_err(MirrorError::from)?,
            (None, None) => MessageType::Number(0),
        };
        let framed = message.framed();
        for i in 0..mirror.targets.len() {
            if i != self.responder && mirror.selection.passes(i, &ty) {
                self.copy(&mirror, i, framed);
            }
        }
        if mirror.selection.passes(self.responder, &ty) {
            if let Some(tx) = &self.responder_tx {
                if !tx.send(framed.clone()).await {
                    return Err(Stop::ResponderGone);
                }
            }
        }
        Ok(())
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
