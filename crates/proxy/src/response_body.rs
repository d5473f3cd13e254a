//! The body of every response the gateway sends downstream.
//!
//! Streams the upstream body frame by frame, and for gRPC calls turns what would otherwise
//! be a stream reset (upstream reset, lost connection, expired deadline) into trailers
//! with the matching `grpc-status`, so the client always learns why its call ended. When
//! the response ends, or is dropped because the client went away, the call is counted and
//! logged once.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body as HttpBody, Frame, SizeHint};
use yardmaster_cluster::UpstreamBody;
use yardmaster_core::{grpc, Body, BoxError, Cause, GrpcCode};

use crate::call_record::CallRecord;
use crate::metrics::CallCode;

/// A response body: upstream bytes passed through, or a body the gateway made.
#[derive(Debug)]
pub struct ProxyBody {
    inner: Inner,
    grpc: bool,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    record: Option<CallRecord>,
    failure: Option<FailureCell>,
}

/// Where the request side of a call leaves why it failed, and the message, for the client
/// to see if the upstream response then fails (the gateway reset the upstream stream
/// because of it).
pub(crate) type FailureCell = Arc<OnceLock<(Cause, String)>>;

// Unboxed on purpose: `Upstream` is the body of every proxied call, and boxing it would add
// an allocation per call to save a few hundred bytes on the rare gateway-made answer.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Inner {
    Upstream(UpstreamBody),
    Local(Body),
    Done,
}

impl ProxyBody {
    /// A body the gateway made (errors, admin-like answers).
    pub(crate) fn local(body: Body) -> ProxyBody {
        ProxyBody {
            inner: Inner::Local(body),
            grpc: false,
            deadline: None,
            record: None,
            failure: None,
        }
    }

    /// The upstream's body; `grpc` makes failures end in status trailers.
    pub(crate) fn upstream(body: UpstreamBody, grpc: bool) -> ProxyBody {
        ProxyBody {
            inner: Inner::Upstream(body),
            grpc,
            deadline: None,
            record: None,
            failure: None,
        }
    }

    /// Ends the body with DEADLINE_EXCEEDED trailers at `deadline`.
    pub(crate) fn with_deadline(mut self, deadline: tokio::time::Instant) -> ProxyBody {
        self.deadline = Some(Box::pin(tokio::time::sleep_until(deadline)));
        self
    }

    /// If the upstream body fails after `failure` was set, ends with that status instead of
    /// the one mapped from the upstream error.
    pub(crate) fn with_failure(mut self, failure: FailureCell) -> ProxyBody {
        self.failure = Some(failure);
        self
    }

    /// Counts and logs the call when the body ends.
    pub(crate) fn with_record(mut self, record: CallRecord) -> ProxyBody {
        self.record = Some(record);
        self
    }

    fn finish(&mut self, code: Option<CallCode>) {
        self.inner = Inner::Done;
        self.deadline = None;
        if let Some(record) = self.record.take() {
            record.finish(code);
        }
    }

    /// Ends a gRPC body with the status trailers of `cause` instead of an error.
    fn fail(
        &mut self,
        cause: Cause,
        message: &str,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let code = cause.status().grpc;
        self.finish(Some(CallCode::Grpc(code)));
        let mut trailers = HeaderMap::with_capacity(2);
        grpc::insert_status(&mut trailers, code, message);
        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
    }
}

impl HttpBody for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(deadline) = this.deadline.as_mut() {
            if deadline.as_mut().poll(cx).is_ready() {
                return this.fail(Cause::DeadlineExceeded, "deadline exceeded at the gateway");
            }
        }
        let polled = match &mut this.inner {
            Inner::Upstream(body) => Pin::new(body).poll_frame(cx),
            Inner::Local(body) => Pin::new(body).poll_frame(cx),
            Inner::Done => return Poll::Ready(None),
        };
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    let code = GrpcCode::from_headers(trailers);
                    this.finish(code.map(CallCode::Grpc));
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) if this.grpc => {
                let failed_first = this.failure.as_ref().and_then(|f| f.get()).cloned();
                let (cause, message) = failed_first.unwrap_or_else(|| upstream_failure(&*error));
                this.fail(cause, &message)
            }
            Poll::Ready(Some(Err(error))) => {
                this.finish(None);
                Poll::Ready(Some(Err(error)))
            }
            Poll::Ready(None) => {
                this.finish(None);
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Upstream(body) => body.is_end_stream(),
            Inner::Local(body) => body.is_end_stream(),
            Inner::Done => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Upstream(body) => body.size_hint(),
            Inner::Local(body) => body.size_hint(),
            Inner::Done => SizeHint::with_exact(0),
        }
    }
}

impl Drop for ProxyBody {
    fn drop(&mut self) {
        // A body with nothing left (a trailers-only response, which hyper never polls)
        // ends with the status of its head; any other was cut short by the downstream.
        let cancelled = self.grpc && !self.is_end_stream();
        if let Some(record) = self.record.take() {
            let code = CallCode::Grpc(Cause::DownstreamError.status().grpc);
            record.finish(cancelled.then_some(code));
        }
    }
}

/// Why the upstream body failed, and the message the client gets.
fn upstream_failure(error: &(dyn std::error::Error + 'static)) -> (Cause, String) {
    let cause = UpstreamBody::failure_cause(error);
    let message = match cause {
        Cause::Reset(reason) => format!("upstream reset the stream: {}", h2::Reason::from(reason)),
        _ => format!("upstream connection lost mid-call: {error}"),
    };
    (cause, message)
}
