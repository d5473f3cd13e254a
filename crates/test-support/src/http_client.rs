//! One-shot HTTP clients over a fresh connection each: HTTP/1.1 and HTTP/2 with prior
//! knowledge, reading the whole response.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use http::header::HOST;
use http::{HeaderMap, HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;

/// A response read to its end.
#[derive(Clone, Debug)]
pub struct HttpReply {
    /// The HTTP status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
    /// HTTP/2 trailers, when any came.
    pub trailers: Option<HeaderMap>,
}

impl HttpReply {
    /// The body as UTF-8 text.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("response body is UTF-8")
    }

    /// Every value of header `name`, as text, in order.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().expect("header value is text"))
            .collect()
    }
}

/// Sends `req` over a new HTTP/1.1 connection to `addr`. An origin-form URI (`/path`) is
/// sent as is, with `Host: <addr>` unless the request sets `Host`.
pub async fn http1_send(addr: SocketAddr, mut req: Request<Full<Bytes>>) -> HttpReply {
    if !req.headers().contains_key(HOST) {
        let host = HeaderValue::from_str(&addr.to_string()).expect("address as Host");
        req.headers_mut().insert(HOST, host);
    }
    let stream = TcpStream::connect(addr)
        .await
        .expect("connecting HTTP/1.1 client");
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake");
    let task = tokio::spawn(connection);
    let response = sender.send_request(req).await.expect("HTTP/1.1 response");
    let reply = read_reply(response).await;
    task.abort();
    reply
}

/// Sends `req` over a new HTTP/2 (prior knowledge) connection to `addr`. An origin-form
/// URI becomes `http://<Host or addr><path>`, the `Host` header turning into `:authority`.
pub async fn h2_send(addr: SocketAddr, mut req: Request<Full<Bytes>>) -> HttpReply {
    if req.uri().authority().is_none() {
        let authority = match req.headers_mut().remove(HOST) {
            Some(host) => host.to_str().expect("Host is text").to_owned(),
            None => addr.to_string(),
        };
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
        *req.uri_mut() = Uri::try_from(format!("http://{authority}{path}")).expect("valid URI");
    }
    let stream = TcpStream::connect(addr)
        .await
        .expect("connecting HTTP/2 client");
    let (mut sender, connection) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/2 handshake");
    let task = tokio::spawn(connection);
    let response = sender.send_request(req).await.expect("HTTP/2 response");
    let reply = read_reply(response).await;
    task.abort();
    reply
}

async fn read_reply(response: http::Response<Incoming>) -> HttpReply {
    let (parts, mut body) = response.into_parts();
    let mut data = BytesMut::new();
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        match frame.expect("response body").into_data() {
            Ok(chunk) => data.extend_from_slice(&chunk),
            Err(frame) => trailers = frame.into_trailers().ok(),
        }
    }
    HttpReply {
        status: parts.status,
        headers: parts.headers,
        body: data.freeze(),
        trailers,
    }
}
