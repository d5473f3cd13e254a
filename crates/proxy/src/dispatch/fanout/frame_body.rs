//! The client's body of a merged fan-out reply: frames (whole messages, then trailers)
//! fed by the call's coordinator through a bounded channel.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame};
use tokio::sync::mpsc;
use yardmaster_core::BoxError;

/// Ends when the coordinator drops its sender, after the trailers.
#[derive(Debug)]
pub(super) struct FrameBody {
    pub(super) rx: mpsc::Receiver<Frame<Bytes>>,
}

impl HttpBody for FrameBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx.poll_recv(cx).map(|frame| frame.map(Ok))
    }
}
