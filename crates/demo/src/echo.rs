//! [`EchoService`]: the scriptable `yardmaster.demo.v1.Echo` upstream. Every behaviour
//! (delays, failures, stream lengths, reply sizes) is driven by the request itself.

mod bidi;
mod reply_delay;
mod server_stream;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use tonic::metadata::MetadataMap;
use tonic::{Code, Request, Response, Status, Streaming};

pub use self::bidi::BidiReplies;
pub use self::server_stream::ServerStreamReplies;
use crate::pb::echo_server::Echo;
use crate::pb::{EchoReply, EchoRequest};
use crate::stats::EchoStats;

/// Request metadata keys with this prefix are copied into the response headers.
const ECHO_PREFIX: &str = "x-echo-";
/// Request metadata keys with this prefix are copied into the trailers of a scripted failure.
const TRAILER_PREFIX: &str = "x-trailer-";

/// Replies up to this size share one static pattern buffer instead of allocating.
const PATTERN_BYTES: usize = 64 * 1024;
/// Byte `i` of every `reply_bytes` payload is `i % 256`; the length is a multiple of 256 so
/// larger payloads continue the same pattern.
static PATTERN: [u8; PATTERN_BYTES] = pattern();

const fn pattern() -> [u8; PATTERN_BYTES] {
    let mut bytes = [0; PATTERN_BYTES];
    let mut i = 0;
    while i < PATTERN_BYTES {
        bytes[i] = i as u8;
        i += 1;
    }
    bytes
}

/// The scriptable Echo service. Cheap to clone: clones share the name and the
/// [`EchoStats`].
///
/// Scripting, per call shape (see `proto/yardmaster/demo/v1/echo.proto`):
/// - `Unary`: waits `delay_ms`, then fails with `fail_code` or echoes the request.
/// - `ServerStream`: `count` replies (0 means 1), each after `delay_ms`. With `fail_code`
///   set it sends exactly `fail_after` replies instead, then fails.
/// - `ClientStream`: each request's `delay_ms` is waited when it arrives, a request with
///   `fail_code` fails the call at once; otherwise the reply joins all messages with ","
///   and carries the last request's payload (or `reply_bytes`) and `received`.
/// - `Bidi`: one reply per request, in order, each after its request's `delay_ms`. The
///   first request with `fail_code` arms the failure: the call fails as soon as
///   `fail_after` replies have been sent in total.
///
/// Metadata: request keys starting with `x-echo-` (ASCII and `-bin`, every value, in order)
/// are copied into the response headers; on a scripted failure, keys starting with
/// `x-trailer-` are copied into the trailers that carry the status.
#[derive(Clone, Debug)]
pub struct EchoService {
    name: Arc<str>,
    stats: EchoStats,
}

impl EchoService {
    /// A service that reports `name` in every reply's `served_by`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: Arc::from(name.into()),
            stats: EchoStats::new(),
        }
    }

    /// The name given to [`EchoService::new`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The call counters shared by this service and all its clones.
    pub fn stats(&self) -> EchoStats {
        self.stats.clone()
    }
}

#[tonic::async_trait]
impl Echo for EchoService {
    async fn unary(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let mut guard = self.stats.start_call();
        let (metadata, _, mut request) = request.into_parts();
        let headers = metadata.into_headers();
        pause(request.delay_ms).await;
        guard.finish();
        if request.fail_code != 0 {
            return Err(scripted_failure(&mut request, &headers));
        }
        let payload = reply_payload(&mut request);
        let reply = echo_reply(&self.name, std::mem::take(&mut request.message), payload, 0);
        Ok(respond(reply, &headers))
    }

    type ServerStreamStream = ServerStreamReplies;

    async fn server_stream(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<ServerStreamReplies>, Status> {
        let guard = self.stats.start_call();
        let (metadata, _, request) = request.into_parts();
        let headers = metadata.into_headers();
        let echoed = copy_prefixed(&headers, ECHO_PREFIX);
        let replies = ServerStreamReplies::new(Arc::clone(&self.name), request, headers, guard);
        Ok(respond_with_headers(replies, echoed))
    }

    async fn client_stream(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoReply>, Status> {
        let mut guard = self.stats.start_call();
        let (metadata, _, mut requests) = request.into_parts();
        let headers = metadata.into_headers();
        let mut joined = String::new();
        let mut received = 0_u32;
        let mut payload = Bytes::new();
        // A broken request stream returns early with the guard unfinished: the downstream
        // went away, which counts as a cancellation.
        while let Some(mut request) = requests.message().await? {
            pause(request.delay_ms).await;
            if request.fail_code != 0 {
                guard.finish();
                return Err(scripted_failure(&mut request, &headers));
            }
            if received == 0 {
                joined = std::mem::take(&mut request.message);
            } else {
                joined.push(',');
                joined.push_str(&request.message);
            }
            received = received.saturating_add(1);
            payload = reply_payload(&mut request);
        }
        guard.finish();
        let mut reply = echo_reply(&self.name, joined, payload, 0);
        reply.received = received;
        Ok(respond(reply, &headers))
    }

    type BidiStream = BidiReplies;

    async fn bidi(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<BidiReplies>, Status> {
        let guard = self.stats.start_call();
        let (metadata, _, requests) = request.into_parts();
        let headers = metadata.into_headers();
        let echoed = copy_prefixed(&headers, ECHO_PREFIX);
        let replies = BidiReplies::new(Arc::clone(&self.name), requests, headers, guard);
        Ok(respond_with_headers(replies, echoed))
    }
}

/// Waits `delay_ms` milliseconds; returns at once for 0 without touching the timer.
async fn pause(delay_ms: u32) {
    if delay_ms > 0 {
        tokio::time::sleep(delay_duration(delay_ms)).await;
    }
}

fn delay_duration(delay_ms: u32) -> Duration {
    Duration::from_millis(u64::from(delay_ms))
}

fn echo_reply(served_by: &str, message: String, payload: Bytes, index: u32) -> EchoReply {
    EchoReply {
        message,
        payload,
        served_by: served_by.to_owned(),
        index,
        received: 0,
    }
}

/// The payload a request asks for: `reply_bytes` of pattern, or its own payload (taken,
/// not copied).
fn reply_payload(request: &mut EchoRequest) -> Bytes {
    match request.reply_bytes {
        0 => std::mem::take(&mut request.payload),
        len => pattern_payload(usize::try_from(len).unwrap_or(usize::MAX)),
    }
}

/// `len` bytes of the repeating pattern; static (no allocation) up to [`PATTERN_BYTES`].
fn pattern_payload(len: usize) -> Bytes {
    if let Some(prefix) = PATTERN.get(..len) {
        return Bytes::from_static(prefix);
    }
    let mut payload = Vec::with_capacity(len);
    while payload.len() < len {
        let chunk = (len - payload.len()).min(PATTERN_BYTES);
        payload.extend_from_slice(PATTERN.get(..chunk).unwrap_or_default());
    }
    Bytes::from(payload)
}

/// The `Status` a request scripts with `fail_code`/`fail_message`, carrying the request's
/// `x-trailer-*` metadata (tonic sends `Status` metadata in the trailers).
fn scripted_failure(request: &mut EchoRequest, request_headers: &HeaderMap) -> Status {
    let trailers = MetadataMap::from_headers(copy_prefixed(request_headers, TRAILER_PREFIX));
    Status::with_metadata(
        Code::from(request.fail_code),
        std::mem::take(&mut request.fail_message),
        trailers,
    )
}

/// Every header whose name starts with `prefix`, all values, in the request's order.
/// Allocates nothing when no name matches.
fn copy_prefixed(headers: &HeaderMap, prefix: &str) -> HeaderMap {
    let mut copied = HeaderMap::new();
    for (name, value) in headers {
        if name.as_str().starts_with(prefix) {
            copied.append(name.clone(), value.clone());
        }
    }
    copied
}

fn respond<T>(message: T, request_headers: &HeaderMap) -> Response<T> {
    respond_with_headers(message, copy_prefixed(request_headers, ECHO_PREFIX))
}

fn respond_with_headers<T>(message: T, headers: HeaderMap) -> Response<T> {
    let mut response = Response::new(message);
    *response.metadata_mut() = MetadataMap::from_headers(headers);
    response
}
