//! A raw HTTP/2 (h2c) client that shows a response exactly as it came: head, every DATA
//! byte and the trailers, so a test can tell a trailers-only response from one with an
//! empty body and trailers.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use yardmaster_core::grpc;

/// One h2c connection; the connection task stops when the client is dropped.
pub struct RawH2Client {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
    task: tokio::task::JoinHandle<()>,
}

/// A response as the client saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawResponse {
    /// The HTTP status.
    pub status: StatusCode,
    /// The response headers (the first HEADERS frame).
    pub headers: HeaderMap,
    /// Every DATA byte, concatenated.
    pub data: Bytes,
    /// The trailers, when a trailing HEADERS frame came.
    pub trailers: Option<HeaderMap>,
}

impl RawResponse {
    /// Whether the status came in the only HEADERS frame, with no DATA and no trailers.
    pub fn is_trailers_only(&self) -> bool {
        self.data.is_empty()
            && self.trailers.is_none()
            && self.headers.contains_key(grpc::STATUS_HEADER)
    }

    /// `grpc-status` of a trailers-only response, else of the trailers.
    pub fn grpc_status(&self) -> Option<&str> {
        self.status_block()?.get(grpc::STATUS_HEADER)?.to_str().ok()
    }

    /// `grpc-message` (still percent-encoded) from wherever `grpc-status` is.
    pub fn grpc_message(&self) -> Option<&str> {
        self.status_block()?
            .get(grpc::MESSAGE_HEADER)?
            .to_str()
            .ok()
    }

    fn status_block(&self) -> Option<&HeaderMap> {
        if self.headers.contains_key(grpc::STATUS_HEADER) {
            Some(&self.headers)
        } else {
            self.trailers.as_ref()
        }
    }

    /// Drops the headers a hop adds by itself (`date` from each HTTP/2 server, `via` from
    /// the gateway), so a direct and a proxied response can be compared byte for byte.
    pub fn without_hop_headers(mut self) -> RawResponse {
        self.headers.remove(http::header::DATE);
        self.headers.remove(http::header::VIA);
        self
    }
}

impl RawH2Client {
    /// Connects with HTTP/2 prior knowledge.
    pub async fn connect(addr: SocketAddr) -> RawH2Client {
        let stream = TcpStream::connect(addr)
            .await
            .expect("connecting raw client");
        let (sender, connection) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(TokioIo::new(stream))
            .await
            .expect("HTTP/2 handshake");
        let task = tokio::spawn(async move {
            let _ = connection.await;
        });
        RawH2Client { addr, sender, task }
    }

    /// A gRPC POST to `path` (`/package.Service/Method`) with `content-type:
    /// application/grpc` and `te: trailers`, whose body is `body` exactly (framing
    /// included: see [`crate::grpc_frame`]).
    pub fn grpc_request(&self, path: &str, body: Bytes) -> Request<Full<Bytes>> {
        Request::post(format!("http://{}{path}", self.addr))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(Full::new(body))
            .expect("valid gRPC request")
    }

    /// Sends `req` and reads the whole response.
    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> RawResponse {
        let response = self.sender.send_request(req).await.expect("response head");
        let (parts, mut body) = response.into_parts();
        let mut data = BytesMut::new();
        let mut trailers = None;
        while let Some(frame) = body.frame().await {
            let frame = frame.expect("response body");
            match frame.into_data() {
                Ok(chunk) => data.extend_from_slice(&chunk),
                Err(frame) => trailers = frame.into_trailers().ok(),
            }
        }
        RawResponse {
            status: parts.status,
            headers: parts.headers,
            data: data.freeze(),
            trailers,
        }
    }
}

impl Drop for RawH2Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}
