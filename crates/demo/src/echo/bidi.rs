//! [`BidiReplies`]: the reply stream of `Echo/Bidi`, one reply per request, in order.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_util::Stream;
use http::HeaderMap;
use tonic::{Status, Streaming};

use super::reply_delay::ReplyDelay;
use super::{delay_duration, echo_reply, reply_payload, scripted_failure};
use crate::pb::{EchoReply, EchoRequest};
use crate::stats::CallGuard;

/// Replies of one `Bidi` call. Each request gets one reply after its own `delay_ms`. The
/// first request with a `fail_code` arms the failure: the stream ends with that status as
/// soon as `fail_after` replies have been sent in total (at once if they already have).
///
/// The call is finished when the request stream ends or the failure is sent; dropping this
/// stream earlier, or the request stream breaking, counts the call as cancelled in
/// [`EchoStats`](crate::EchoStats).
#[derive(Debug)]
pub struct BidiReplies {
    requests: Streaming<EchoRequest>,
    served_by: Arc<str>,
    /// Kept for the `x-trailer-*` keys of a failure armed by a later request.
    request_headers: HeaderMap,
    sent: u32,
    /// The armed failure and the number of replies to send before it.
    failure: Option<(Status, u32)>,
    /// A reply waiting out its request's `delay_ms`.
    pending: Option<EchoReply>,
    delay: ReplyDelay,
    is_done: bool,
    guard: CallGuard,
}

impl BidiReplies {
    pub(crate) fn new(
        served_by: Arc<str>,
        requests: Streaming<EchoRequest>,
        request_headers: HeaderMap,
        guard: CallGuard,
    ) -> Self {
        Self {
            requests,
            served_by,
            request_headers,
            sent: 0,
            failure: None,
            pending: None,
            delay: ReplyDelay::default(),
            is_done: false,
            guard,
        }
    }

    /// Arms the failure if `request` scripts one and none is armed yet.
    fn arm_failure(&mut self, request: &mut EchoRequest) {
        if request.fail_code != 0 && self.failure.is_none() {
            let status = scripted_failure(request, &self.request_headers);
            self.failure = Some((status, request.fail_after));
        }
    }

    /// Whether the armed failure's time has come.
    fn is_failure_due(&self) -> bool {
        matches!(&self.failure, Some((_, fail_after)) if self.sent >= *fail_after)
    }

    /// Takes the armed failure if its time has come.
    fn due_failure(&mut self) -> Option<Status> {
        if self.is_failure_due() {
            self.failure.take().map(|(status, _)| status)
        } else {
            None
        }
    }

    fn finish(&mut self) {
        self.is_done = true;
        self.guard.finish();
    }
}

impl Stream for BidiReplies {
    type Item = Result<EchoReply, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.is_done {
                return Poll::Ready(None);
            }
            if let Some(status) = this.due_failure() {
                this.finish();
                return Poll::Ready(Some(Err(status)));
            }
            if this.pending.is_some() {
                ready!(this.delay.poll_elapsed(cx));
                this.sent = this.sent.saturating_add(1);
                return Poll::Ready(this.pending.take().map(Ok));
            }
            let mut request = match ready!(Pin::new(&mut this.requests).poll_next(cx)) {
                Some(Ok(request)) => request,
                Some(Err(status)) => {
                    // The request stream broke: the guard stays unfinished, so the call
                    // counts as cancelled.
                    this.is_done = true;
                    return Poll::Ready(Some(Err(status)));
                }
                None => {
                    this.finish();
                    return Poll::Ready(None);
                }
            };
            this.arm_failure(&mut request);
            if this.is_failure_due() {
                continue;
            }
            let payload = reply_payload(&mut request);
            let reply = echo_reply(&this.served_by, request.message, payload, this.sent);
            if request.delay_ms > 0 {
                this.delay.start(delay_duration(request.delay_ms));
                this.pending = Some(reply);
                continue;
            }
            this.sent = this.sent.saturating_add(1);
            return Poll::Ready(Some(Ok(reply)));
        }
    }
}
