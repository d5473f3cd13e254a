//! A raw HTTP/2 (h2c) upstream whose every response a test writes by hand, frame for frame:
//! trailers-only answers, repeated trailer keys, odd `grpc-message`s. For what the demo echo
//! service cannot script.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// An h2c upstream answering every request with `respond(request)`; the request body is not
/// read. Stops (every connection cut) when dropped.
pub struct RawGrpcUpstream {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl RawGrpcUpstream {
    /// Binds `127.0.0.1:0` and serves. `respond` runs once per request, on the connection's
    /// task; tests capture a channel in it to report what the upstream saw.
    pub async fn start<F>(respond: F) -> RawGrpcUpstream
    where
        F: Fn(Request<Incoming>) -> Response<RawBody> + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding upstream");
        let addr = listener.local_addr().expect("upstream address");
        let respond = Arc::new(respond);
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let respond = respond.clone();
                let service = service_fn(move |req| {
                    let response = respond(req);
                    async move { Ok::<_, Infallible>(response) }
                });
                let mut builder = http2::Builder::new(TokioExecutor::new());
                builder.timer(TokioTimer::new());
                let connection = builder.serve_connection(TokioIo::new(stream), service);
                connections.spawn(async move {
                    let _ = connection.await;
                });
            }
        });
        RawGrpcUpstream { addr, task }
    }

    /// The upstream's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for RawGrpcUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A response body given frame by frame. An empty one ends the stream with the HEADERS
/// frame, which makes a response with `grpc-status` in its headers trailers-only.
#[derive(Debug, Default)]
pub struct RawBody {
    frames: VecDeque<Frame<Bytes>>,
}

impl RawBody {
    /// No DATA and no trailers: the response is its HEADERS frame alone.
    pub fn empty() -> RawBody {
        RawBody::default()
    }

    /// `data` as one DATA frame each (use [`grpc_frame`] for gRPC messages), then
    /// `trailers`.
    pub fn new(data: impl IntoIterator<Item = Bytes>, trailers: HeaderMap) -> RawBody {
        let mut frames: VecDeque<_> = data.into_iter().map(Frame::data).collect();
        frames.push_back(Frame::trailers(trailers));
        RawBody { frames }
    }
}

impl RawBody {
    /// `data` as one DATA frame each, the last one ending the stream: no trailers, as a
    /// peer that stops in the middle of a call.
    pub fn without_trailers(data: impl IntoIterator<Item = Bytes>) -> RawBody {
        RawBody {
            frames: data.into_iter().map(Frame::data).collect(),
        }
    }
}

impl Body for RawBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.frames.pop_front().map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        if self.frames.is_empty() {
            SizeHint::with_exact(0)
        } else {
            SizeHint::default()
        }
    }
}

/// One gRPC length-prefixed message: flag 0 (uncompressed), big-endian length, `message`.
pub fn grpc_frame(message: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(5 + message.len());
    frame.put_u8(0);
    frame.put_u32(u32::try_from(message.len()).expect("message fits a gRPC frame"));
    frame.put_slice(message);
    frame.freeze()
}
