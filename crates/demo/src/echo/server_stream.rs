//! [`ServerStreamReplies`]: the reply stream of `Echo/ServerStream`.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use http::HeaderMap;
use tonic::Status;

use super::reply_delay::ReplyDelay;
use super::{delay_duration, echo_reply, reply_payload, scripted_failure};
use crate::pb::{EchoReply, EchoRequest};
use crate::stats::CallGuard;

/// Replies of one `ServerStream` call: `count` copies of the request (0 means 1), each
/// after `delay_ms`, or `fail_after` copies followed by the scripted failure.
///
/// Dropping it before the last item counts the call as cancelled in
/// [`EchoStats`](crate::EchoStats).
#[derive(Debug)]
pub struct ServerStreamReplies {
    served_by: Arc<str>,
    message: String,
    /// Shared by every reply: cloning `Bytes` copies no payload.
    payload: Bytes,
    period: Duration,
    delay: ReplyDelay,
    next_index: u32,
    /// Replies to send before the stream ends (with `failure`, if any).
    total: u32,
    failure: Option<Status>,
    is_done: bool,
    guard: CallGuard,
}

impl ServerStreamReplies {
    pub(crate) fn new(
        served_by: Arc<str>,
        mut request: EchoRequest,
        request_headers: HeaderMap,
        guard: CallGuard,
    ) -> Self {
        let (total, failure) = if request.fail_code != 0 {
            let failure = scripted_failure(&mut request, &request_headers);
            (request.fail_after, Some(failure))
        } else {
            (request.count.max(1), None)
        };
        Self {
            served_by,
            payload: reply_payload(&mut request),
            message: request.message,
            period: delay_duration(request.delay_ms),
            delay: ReplyDelay::default(),
            next_index: 0,
            total,
            failure,
            is_done: false,
            guard,
        }
    }
}

impl Stream for ServerStreamReplies {
    type Item = Result<EchoReply, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.is_done {
            return Poll::Ready(None);
        }
        if this.next_index >= this.total {
            // Only reached with a scripted failure (or `fail_after` 0): a successful stream
            // is done as soon as its last reply is out.
            this.is_done = true;
            this.guard.finish();
            return Poll::Ready(this.failure.take().map(Err));
        }
        if !this.period.is_zero() {
            if !this.delay.is_armed() {
                this.delay.start(this.period);
            }
            ready!(this.delay.poll_elapsed(cx));
        }
        let reply = echo_reply(
            &this.served_by,
            this.message.clone(),
            this.payload.clone(),
            this.next_index,
        );
        this.next_index += 1;
        if this.next_index == this.total && this.failure.is_none() {
            this.is_done = true;
            this.guard.finish();
        }
        Poll::Ready(Some(Ok(reply)))
    }
}
