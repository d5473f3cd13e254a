//! `replies: merge`: every endpoint's reply messages in one stream, which ends when all
//! endpoints have ended. Per-endpoint failures do not end it; they are reported in the
//! trailing metadata ([`FAILED_HEADER`]) and counted. With `subscribe`, endpoints that
//! become healthy mid-call join it and endpoints that leave are cut from it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response};
use http_body::Frame;
use http_body_util::BodyExt;
use tokio::sync::{mpsc, oneshot, watch};
use yardmaster_cluster::{Endpoint, EndpointTasks, UpstreamBody};
use yardmaster_core::grpc_frame::MessageDecoder;
use yardmaster_core::{grpc, Cause, GrpcCode};

use super::frame_body::FrameBody;
use super::{Call, FanoutError, Outcome, FAILED_HEADER};
use crate::error_response::ProxyError;
use crate::{forwarded, ProxyBody};

/// Whole messages queued towards the client: a little slack; then endpoints wait, and
/// HTTP/2 flow control slows them.
const CLIENT_QUEUE: usize = 16;

/// How the merged reply starts: with the first endpoint's response head, or, when every
/// endpoint failed before sending one, with the failure.
enum Start {
    Head(HeaderMap),
    Failed(GrpcCode, String),
}

/// The sender of [`Start`], taken by whichever endpoint (or the end of the call) is first.
type StartSender = Arc<Mutex<Option<oneshot::Sender<Start>>>>;

/// Starts the call on `endpoints` and resolves with the merged response once one endpoint
/// has sent its response head.
pub(super) async fn call(
    call: Call,
    endpoints: Vec<Arc<Endpoint>>,
    changes: watch::Receiver<u64>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let (tx, rx) = mpsc::channel(CLIENT_QUEUE);
    let (start_tx, start_rx) = oneshot::channel();
    let merge = Merge {
        call: call.clone(),
        tx,
        start: Arc::new(Mutex::new(Some(start_tx))),
        tasks: EndpointTasks::new(),
        failures: Vec::new(),
        succeeded: 0,
    };
    // Detached on purpose: it ends when every endpoint's part has ended, the client goes
    // away (its body, the receiver, is dropped) or the deadline passes; its endpoint calls
    // are in its own JoinSet and stop with it.
    tokio::spawn(merge.run(endpoints, changes));
    let start = match call.deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, start_rx)
            .await
            .map_err(|_| ProxyError::DeadlineExceeded {
                cluster: call.fanout.cluster.name().to_string(),
            })?,
        None => start_rx.await,
    };
    match start {
        Ok(Start::Head(mut headers)) => {
            forwarded::prepare_response(&mut headers, false, call.head.via.clone());
            let mut response =
                Response::new(ProxyBody::local(yardmaster_core::body::boxed(FrameBody {
                    rx,
                })));
            *response.headers_mut() = headers;
            Ok(response.map(|body| match call.deadline {
                Some(deadline) => body.with_deadline(deadline),
                None => body,
            }))
        }
        Ok(Start::Failed(code, message)) => Err(FanoutError::AllFailed { code, message }.into()),
        Err(_) => Err(FanoutError::AllFailed {
            code: Cause::MissingTrailers.status().grpc,
            message: "the fan-out ended without an answer".to_owned(),
        }
        .into()),
    }
}

/// The coordinator of one merged call.
struct Merge {
    call: Call,
    tx: mpsc::Sender<Frame<Bytes>>,
    start: StartSender,
    /// Each endpoint's part, following the cluster's healthy endpoints.
    tasks: EndpointTasks<Outcome>,
    failures: Vec<(SocketAddr, GrpcCode, String)>,
    succeeded: usize,
}

impl Merge {
    async fn run(mut self, endpoints: Vec<Arc<Endpoint>>, mut changes: watch::Receiver<u64>) {
        self.join(&endpoints);
        let deadline = self.call.deadline;
        let follow = self.call.fanout.subscribe;
        let merged = async {
            loop {
                tokio::select! {
                    joined = self.tasks.next() => match joined {
                        None => return true,
                        Some((address, Ok(outcome))) => self.record(address, outcome),
                        // A part that panicked has nothing to add to the reply.
                        Some((_, Err(_))) => {}
                    },
                    Ok(()) = changes.changed(), if follow => self.follow(),
                    () = self.tx.closed() => return false,
                }
            }
        };
        let ended = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, merged)
                .await
                .unwrap_or(false),
            None => merged.await,
        };
        if ended {
            self.finish().await;
        } else {
            let cancelled = self.tasks.running();
            for _ in 0..cancelled {
                self.call.fanout.counters.cancelled.inc();
            }
        }
    }

    /// Sends the call to each of `endpoints` that has not had it, streaming its reply
    /// messages to the client; with `subscribe`, also cuts the parts of endpoints that are
    /// no longer among `endpoints`.
    fn join(&mut self, endpoints: &[Arc<Endpoint>]) {
        let (call, tx, start) = (&self.call, &self.tx, &self.start);
        let cut = self.tasks.follow(endpoints, true, |endpoint| {
            let (call, tx, start) = (call.clone(), tx.clone(), start.clone());
            let endpoint = endpoint.clone();
            async move { stream_endpoint(&call, &endpoint, &tx, &start).await }
        });
        // Aborting a part drops its upstream call, which resets its stream: a clean cut.
        for _ in cut {
            self.call.fanout.counters.left.inc();
        }
    }

    fn record(&mut self, address: SocketAddr, outcome: Outcome) {
        let counters = &self.call.fanout.counters;
        match outcome {
            Outcome::Ok => {
                counters.ok.inc();
                self.succeeded += 1;
            }
            Outcome::Failed(code, message) => {
                counters.failed.inc();
                tracing::debug!(endpoint = %address, code = code.name(), %message, "fan-out endpoint failed");
                self.failures.push((address, code, message));
            }
        }
    }

    /// Re-reads the healthy endpoints: new ones join, those gone are cut.
    fn follow(&mut self) {
        let set = self.call.fanout.cluster.endpoints();
        self.join(set.eligible());
    }

    /// All parts ended: the status is OK if any endpoint succeeded (failures listed in the
    /// trailers), else the first failure.
    async fn finish(self) {
        let mut trailers = HeaderMap::new();
        for (address, code, _) in &self.failures {
            if let Ok(value) = HeaderValue::from_str(&format!("{address} {}", code.name())) {
                trailers.append(FAILED_HEADER, value);
            }
        }
        let failure = (self.succeeded == 0)
            .then(|| self.failures.first())
            .flatten()
            .map(|(address, code, message)| {
                let total = self.failures.len();
                (
                    *code,
                    format!("all {total} endpoints failed; {address}: {message}"),
                )
            });
        let head_pending = self.start.lock().ok().and_then(|mut s| s.take());
        if let Some(start) = head_pending {
            // Nobody sent a head: a failure is a trailers-only answer.
            if let Some((code, message)) = failure {
                let _ = start.send(Start::Failed(code, message));
                return;
            }
            let _ = start.send(Start::Head(grpc_head()));
        }
        let (code, message) = failure.unwrap_or((GrpcCode::Ok, String::new()));
        grpc::insert_status(&mut trailers, code, &message);
        let _ = self.tx.send(Frame::trailers(trailers)).await;
    }
}

/// Response headers of a merged reply that no endpoint sent a head for.
fn grpc_head() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(grpc::CONTENT_TYPE_PREFIX),
    );
    headers
}

/// One endpoint's part: sends the call, hands on its head (if first) and every whole
/// reply message; the status of its trailers is the outcome.
async fn stream_endpoint(
    call: &Call,
    endpoint: &Arc<Endpoint>,
    tx: &mpsc::Sender<Frame<Bytes>>,
    start: &StartSender,
) -> Outcome {
    let response = match call
        .fanout
        .cluster
        .call_endpoint(endpoint, call.request())
        .await
    {
        Ok(response) => response,
        Err(error) => return Outcome::failed(error.cause(), error.to_string()),
    };
    if let Some(outcome) = Outcome::from_status(response.headers()) {
        return outcome;
    }
    let (parts, mut body) = response.into_parts();
    if let Some(start) = start.lock().ok().and_then(|mut s| s.take()) {
        let _ = start.send(Start::Head(parts.headers));
    }
    // Messages are handed on whole, so those of different endpoints never interleave
    // inside one message.
    let mut decoder = MessageDecoder::new(call.fanout.max_message_bytes);
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) => {
                let cause = UpstreamBody::failure_cause(&*error);
                return Outcome::failed(cause, error.to_string());
            }
        };
        let frame = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => {
                let trailers = frame.into_trailers().unwrap_or_default();
                return Outcome::from_status(&trailers).unwrap_or_else(|| {
                    Outcome::failed(Cause::MissingStatus, "reply trailers without grpc-status")
                });
            }
        };
        decoder.push(&frame);
        loop {
            match decoder.next_message() {
                Ok(Some(message)) => {
                    if tx
                        .send(Frame::data(message.framed().clone()))
                        .await
                        .is_err()
                    {
                        return Outcome::failed(Cause::DownstreamError, "client went away");
                    }
                }
                Ok(None) => break,
                Err(error) => return Outcome::failed(error.cause(), error.to_string()),
            }
        }
    }
    Outcome::failed(Cause::MissingTrailers, "reply ended without trailers")
}
