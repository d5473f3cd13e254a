//! A response body as the transport delivers it: an HTTP/2 stream or an HTTP/1.1 body,
//! before the call's accounting wraps it (`UpstreamBody`).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use yardmaster_core::BoxError;

use crate::h2_stream::H2Body;

/// A response body as the transport delivers it.
#[derive(Debug)]
pub(crate) enum ResponseStream {
    /// From a pooled HTTP/2 connection, read straight from its h2 stream.
    Http2(H2Body),
    /// From the HTTP/1.1 pool.
    Http1(Incoming),
}

impl HttpBody for ResponseStream {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ResponseStream::Http2(body) => Pin::new(body).poll_frame(cx),
            ResponseStream::Http1(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|f| f.map_err(BoxError::from))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseStream::Http2(body) => body.is_end_stream(),
            ResponseStream::Http1(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseStream::Http2(body) => body.size_hint(),
            ResponseStream::Http1(body) => body.size_hint(),
        }
    }
}
