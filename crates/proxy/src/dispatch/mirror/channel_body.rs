//! The request body of one copy of a mirrored call: the messages that passed the copy
//! target's filter, fed by the call's splitter through a bounded channel.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame};
use tokio::sync::mpsc;
use yardmaster_core::BoxError;

/// The sending half, held by the call's splitter.
#[derive(Debug)]
pub(crate) struct ChannelSender {
    tx: mpsc::Sender<Bytes>,
    finished: Arc<AtomicBool>,
}

/// The body a copy's request carries. Ends cleanly when the downstream request ended;
/// fails (which resets the upstream stream) when the splitter stopped early.
#[derive(Debug)]
pub(crate) struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
    finished: Arc<AtomicBool>,
}

/// Why a target's request body stopped before the downstream request ended.
#[derive(Debug, thiserror::Error)]
#[error("the downstream request stopped before its end")]
struct Aborted;

/// A channel of `capacity` framed messages.
pub(crate) fn channel(capacity: usize) -> (ChannelSender, ChannelBody) {
    let (tx, rx) = mpsc::channel(capacity);
    let finished = Arc::new(AtomicBool::new(false));
    let sender = ChannelSender {
        tx,
        finished: finished.clone(),
    };
    (sender, ChannelBody { rx, finished })
}

impl ChannelSender {
    /// Queues `message` if there is room; `Err(true)` when full, `Err(false)` when gone.
    pub(crate) fn try_send(&self, message: Bytes) -> Result<(), bool> {
        self.tx.try_send(message).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => true,
            mpsc::error::TrySendError::Closed(_) => false,
        })
    }

    /// Ends the body cleanly once the queued messages are read.
    pub(crate) fn finish(self) {
        self.finished.store(true, Ordering::Release);
    }
}

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(message)) => Poll::Ready(Some(Ok(Frame::data(message)))),
            Poll::Ready(None) if self.finished.load(Ordering::Acquire) => Poll::Ready(None),
            Poll::Ready(None) => Poll::Ready(Some(Err(Box::new(Aborted)))),
        }
    }
}
