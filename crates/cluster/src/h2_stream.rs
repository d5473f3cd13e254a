//! One upstream HTTP/2 stream, driven from the caller's own task: the request body is
//! pumped into the stream while the response head is awaited and afterwards while the
//! response body is read, so a call spawns nothing and crosses no channel.

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use h2::{Reason, RecvStream, SendStream};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request};
use http_body::{Body as HttpBody, Frame, SizeHint};
use yardmaster_core::{Body, BoxError};

/// An HTTP/2 failure on a pooled upstream connection or stream: the h2 error as its
/// source, worded as hyper words it ("http2 error", "error reading a body from
/// connection"), so messages stay the same whichever client produced them.
#[derive(Debug)]
pub struct Http2Error {
    reading_body: bool,
    source: h2::Error,
}

impl Http2Error {
    pub(crate) fn new(source: h2::Error) -> Http2Error {
        Http2Error {
            reading_body: false,
            source,
        }
    }

    fn reading_body(source: h2::Error) -> Http2Error {
        Http2Error {
            reading_body: true,
            source,
        }
    }
}

impl fmt::Display for Http2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.reading_body {
            "error reading a body from connection"
        } else {
            "http2 error"
        })
    }
}

impl std::error::Error for Http2Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Headers that mean something only on an HTTP/1.1 connection (RFC 9110 section 7.6.1).
const CONNECTION_HEADERS: [HeaderName; 4] = [
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Splits a request into the head h2 sends and its body, as hyper's HTTP/2 client does:
/// connection-specific headers removed, `content-length` added when the body's length is
/// known. The flag says whether the head alone ends the stream.
pub(crate) fn split_request(req: Request<Body>) -> (Request<()>, Body, bool) {
    let (mut head, body) = req.into_parts();
    strip_connection_headers(&mut head.headers);
    if let Some(len) = body.size_hint().exact() {
        let has_payload_semantics = !matches!(
            head.method,
            Method::GET | Method::HEAD | Method::DELETE | Method::CONNECT
        );
        if len != 0 || has_payload_semantics {
            head.headers
                .entry(header::CONTENT_LENGTH)
                .or_insert_with(|| HeaderValue::from(len));
        }
    }
    let end_of_stream = body.is_end_stream();
    (Request::from_parts(head, ()), body, end_of_stream)
}

fn strip_connection_headers(headers: &mut HeaderMap) {
    for name in &CONNECTION_HEADERS {
        headers.remove(name);
    }
    if headers.get(header::TE).is_some_and(|te| te != "trailers") {
        headers.remove(header::TE);
    }
    if let Some(connection) = headers.remove(header::CONNECTION) {
        if let Ok(names) = connection.to_str() {
            for name in names.split(',') {
                headers.remove(name.trim());
            }
        }
    }
}

/// Moves a request body into its stream, within the stream's flow-control window.
/// Polled by whoever drives the call; dropping it (with the rest of the call) lets h2
/// reset an unfinished stream with CANCEL.
pub(crate) struct RequestPump {
    body: Body,
    tx: SendStream<Bytes>,
    /// A chunk waiting for send capacity, and whether it ends the body.
    waiting: Option<(Bytes, bool)>,
    /// Whether a non-empty chunk went out already: the first one does not wait for capacity.
    sent_data: bool,
}

impl fmt::Debug for RequestPump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestPump").finish_non_exhaustive()
    }
}

impl RequestPump {
    pub(crate) fn new(body: Body, tx: SendStream<Bytes>) -> RequestPump {
        RequestPump {
            body,
            tx,
            waiting: None,
            sent_data: false,
        }
    }

    /// Ready once there is nothing more to do: the body was sent, or it failed (and the
    /// stream was reset), or the upstream reset the stream. Failures only end the pump:
    /// the response side sees the reset.
    pub(crate) fn poll_pump(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.poll_send(cx) {
            Poll::Ready(Err(error)) => {
                tracing::debug!(%error, "upstream request body not sent");
                Poll::Ready(())
            }
            Poll::Ready(Ok(())) => Poll::Ready(()),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        loop {
            // Registered while waiting for a chunk or for capacity, so a reset wakes us.
            if let Poll::Ready(reason) = self.tx.poll_reset(cx) {
                let reason = reason?;
                return Poll::Ready(Err(format!("upstream reset the stream: {reason}").into()));
            }
            if let Some((chunk, end_of_stream)) = self.waiting.take() {
                while self.tx.capacity() == 0 {
                    match self.tx.poll_capacity(cx) {
                        Poll::Pending => {
                            self.waiting = Some((chunk, end_of_stream));
                            return Poll::Pending;
                        }
                        Poll::Ready(Some(Ok(0))) => {}
                        Poll::Ready(Some(Ok(_))) => break,
                        Poll::Ready(Some(Err(error))) => return Poll::Ready(Err(error.into())),
                        Poll::Ready(None) => {
                            return Poll::Ready(Err("send capacity closed".into()));
                        }
                    }
                }
                // h2 buffers what exceeds the capacity and sends it as the window opens.
                self.tx.send_data(chunk, end_of_stream)?;
                if end_of_stream {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(chunk) => {
                        let end_of_stream = self.body.is_end_stream();
                        // An empty chunk needs no capacity, and neither does waiting help
                        // for the last one: it is in memory already and nothing follows
                        // it, so h2 may as well buffer it until the window opens. The
                        // first one does not wait either (h2 then holds at most that one
                        // chunk beyond the window): waiting would mean a round trip through
                        // the connection task, which writes the request's HEADERS alone in
                        // the meantime. So a unary request leaves in one write.
                        if chunk.is_empty() || end_of_stream || !self.sent_data {
                            self.sent_data |= !chunk.is_empty();
                            self.tx.send_data(chunk, end_of_stream)?;
                            if end_of_stream {
                                return Poll::Ready(Ok(()));
                            }
                            continue;
                        }
                        // Claim a minimal share of the window, not the whole chunk: a
                        // large claim pins connection capacity other streams need.
                        self.tx.reserve_capacity(1);
                        self.waiting = Some((chunk, end_of_stream));
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            self.tx.reserve_capacity(0);
                            self.tx.send_trailers(trailers)?;
                            return Poll::Ready(Ok(()));
                        }
                    }
                },
                Some(Err(error)) => {
                    let reason = h2_reason(&*error).unwrap_or(Reason::INTERNAL_ERROR);
                    self.tx.send_reset(reason);
                    return Poll::Ready(Err(error));
                }
                None => {
                    self.tx.send_data(Bytes::new(), true)?;
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }
}

/// Drives `pump` (if still running) along with `fut`, until `fut` is ready.
pub(crate) async fn with_pump<F: std::future::Future + Unpin>(
    mut fut: F,
    pump: &mut Option<RequestPump>,
) -> F::Output {
    std::future::poll_fn(|cx| {
        if let Some(running) = pump.as_mut() {
            if running.poll_pump(cx).is_ready() {
                *pump = None;
            }
        }
        Pin::new(&mut fut).poll(cx)
    })
    .await
}

/// A response body read straight from its HTTP/2 stream; it keeps pumping the request
/// body while the call lasts. Received data is handed back to the flow-control window
/// as it is handed on.
pub(crate) struct H2Body {
    recv: RecvStream,
    pump: Option<RequestPump>,
    /// Bytes still expected per `content-length`, when the upstream sent one.
    remaining: Option<u64>,
    data_done: bool,
}

impl fmt::Debug for H2Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("H2Body")
            .field("remaining", &self.remaining)
            .field("data_done", &self.data_done)
            .finish_non_exhaustive()
    }
}

impl H2Body {
    pub(crate) fn new(recv: RecvStream, pump: Option<RequestPump>, headers: &HeaderMap) -> H2Body {
        let remaining = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        H2Body {
            recv,
            pump,
            remaining,
            data_done: false,
        }
    }
}

impl HttpBody for H2Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(pump) = this.pump.as_mut() {
            if pump.poll_pump(cx).is_ready() {
                this.pump = None;
            }
        }
        if !this.data_done {
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    if let Some(remaining) = this.remaining.as_mut() {
                        *remaining = remaining.saturating_sub(data.len() as u64);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                // RST_STREAM(NO_ERROR) is an early response (RFC 9113 section 8.1): the
                // body stops without failing.
                Some(Err(error)) if error.reason() == Some(Reason::NO_ERROR) => {
                    return Poll::Ready(None);
                }
                Some(Err(error)) => {
                    return Poll::Ready(Some(Err(Box::new(Http2Error::reading_body(error)))));
                }
                None => this.data_done = true,
            }
        }
        match ready!(this.recv.poll_trailers(cx)) {
            Ok(trailers) => Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t)))),
            Err(error) if error.reason() == Some(Reason::NO_ERROR) => Poll::Ready(None),
            Err(error) => Poll::Ready(Some(Err(Box::new(Http2Error::new(error))))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.remaining
            .map_or_else(SizeHint::default, SizeHint::with_exact)
    }
}

/// The HTTP/2 error code somewhere in an error and its causes.
pub(crate) fn h2_reason(error: &(dyn std::error::Error + 'static)) -> Option<Reason> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            return h2.reason();
        }
        current = e.source();
    }
    None
}
