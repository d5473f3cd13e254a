//! The body of an upstream response as the cluster hands it out: the upstream's frames,
//! plus the accounting that must last exactly as long as the call.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use yardmaster_core::{BoxError, Cause};

use crate::circuit_breaker::Permit;
use crate::h2_pool::StreamGuard;
use crate::response_stream::ResponseStream;
use crate::Endpoint;

/// An upstream response body. While it lives, its call counts as in flight on its
/// endpoint (for `least_request`, draining and the admin API), holds its HTTP/2 stream
/// slot and its circuit breaker permit. With a stream idle timeout, a body that sends
/// nothing for that long ends with a [`StreamIdleError`].
#[derive(Debug)]
pub struct UpstreamBody {
    inner: ResponseStream,
    idle: Option<Idle>,
    guard: CallGuard,
}

#[derive(Debug)]
struct Idle {
    timeout: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
    cluster: Arc<str>,
    endpoint: SocketAddr,
}

/// Accounting of one call on one endpoint, released on drop. The stream slot and the
/// permit are only held, never read: dropping them is what releases them.
#[derive(Debug)]
pub(crate) struct CallGuard {
    pub(crate) endpoint: Arc<Endpoint>,
    pub(crate) _stream: Option<StreamGuard>,
    pub(crate) permit: Option<Permit>,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.endpoint.end_call();
    }
}

/// The upstream sent nothing on a response stream for the stream idle timeout.
#[derive(Debug)]
pub struct StreamIdleError {
    cluster: Arc<str>,
    endpoint: SocketAddr,
    timeout: Duration,
}

impl fmt::Display for StreamIdleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cluster {:?}: {} sent nothing for {:?} (stream_idle_timeout)",
            self.cluster, self.endpoint, self.timeout
        )
    }
}

impl std::error::Error for StreamIdleError {}

impl UpstreamBody {
    pub(crate) fn new(
        inner: ResponseStream,
        guard: CallGuard,
        idle_timeout: Option<Duration>,
        cluster: &Arc<str>,
    ) -> UpstreamBody {
        let endpoint = guard.endpoint.address();
        UpstreamBody {
            inner,
            idle: idle_timeout.map(|timeout| Idle {
                timeout,
                sleep: Box::pin(tokio::time::sleep(timeout)),
                cluster: cluster.clone(),
                endpoint,
            }),
            guard,
        }
    }

    /// Why a frame of an upstream body failed: the HTTP/2 error code that ended the stream,
    /// else a lost connection (which includes a [`StreamIdleError`]).
    pub fn failure_cause(error: &(dyn std::error::Error + 'static)) -> Cause {
        crate::error::transport_cause(error)
    }

    /// Holds the call's circuit breaker permit until the body ends.
    pub(crate) fn with_permit(mut self, permit: Option<Permit>) -> UpstreamBody {
        self.guard.permit = permit;
        self
    }
}

impl HttpBody for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                if let Some(idle) = this.idle.as_mut() {
                    let next = tokio::time::Instant::now() + idle.timeout;
                    idle.sleep.as_mut().reset(next);
                }
                Poll::Ready(frame)
            }
            Poll::Pending => {
                let Some(idle) = this.idle.as_mut() else {
                    return Poll::Pending;
                };
                if idle.sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let error = StreamIdleError {
                    cluster: idle.cluster.clone(),
                    endpoint: idle.endpoint,
                    timeout: idle.timeout,
                };
                this.idle = None;
                Poll::Ready(Some(Err(Box::new(error))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
