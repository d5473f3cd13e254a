//! `replies: first`: every endpoint gets the call, the first successful reply goes to the
//! client, and the other calls are cancelled.

use std::sync::Arc;

use bytes::BytesMut;
use http::{HeaderMap, Response};
use http_body::Frame;
use http_body_util::BodyExt;
use tokio::task::JoinSet;
use yardmaster_cluster::{Endpoint, UpstreamBody};
use yardmaster_core::Cause;

use super::{Call, FanoutError, Outcome};
use crate::error_response::ProxyError;
use crate::{forwarded, ProxyBody};

/// A whole reply: head, body bytes and trailers.
struct Reply {
    parts: http::response::Parts,
    body: bytes::Bytes,
    trailers: Option<HeaderMap>,
}

/// Calls every endpoint; answers with the first reply whose status is OK. When all fail,
/// the first failure (in arrival order) is the answer.
pub(super) async fn call(
    call: Call,
    endpoints: Vec<Arc<Endpoint>>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let total = endpoints.len();
    // Owned here: returning (or the client going away) aborts the calls still running,
    // which resets their upstream streams.
    let mut calls = JoinSet::new();
    for endpoint in endpoints {
        let call = call.clone();
        calls.spawn(async move {
            let address = endpoint.address();
            let response = call.fanout.cluster.call_endpoint(&endpoint, call.request());
            let reply = match response.await {
                Ok(response) => read_reply(response, call.fanout.max_message_bytes).await,
                Err(error) => Err(Outcome::failed(error.cause(), error.to_string())),
            };
            (address, reply)
        });
    }
    let counters = &call.fanout.counters;
    let mut first_failure = None;
    let wait = async {
        while let Some(joined) = calls.join_next().await {
            let Ok((address, reply)) = joined else {
                continue;
            };
            match reply {
                Ok(reply) => return Some(reply),
                Err(Outcome::Failed(code, message)) => {
                    counters.failed.inc();
                    first_failure.get_or_insert((address, code, message));
                }
                Err(Outcome::Ok) => {}
            }
        }
        None
    };
    let winner = match call.deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, wait).await.map_err(|_| {
            ProxyError::DeadlineExceeded {
                cluster: call.fanout.cluster.name().to_string(),
            }
        })?,
        None => wait.await,
    };
    let Some(reply) = winner else {
        let (code, message) = match first_failure {
            Some((address, code, message)) => (
                code,
                format!("all {total} endpoints failed; {address}: {message}"),
            ),
            None => (
                Cause::MissingStatus.status().grpc,
                "no endpoint answered".to_owned(),
            ),
        };
        return Err(FanoutError::AllFailed { code, message }.into());
    };
    counters.ok.inc();
    for _ in 0..calls.len() {
        counters.cancelled.inc();
    }
    calls.abort_all();
    let mut parts = reply.parts;
    forwarded::prepare_response(&mut parts.headers, false, call.head.via.clone());
    let mut frames: Vec<Result<_, std::convert::Infallible>> = vec![Ok(Frame::data(reply.body))];
    frames.extend(reply.trailers.map(|t| Ok(Frame::trailers(t))));
    let body = http_body_util::StreamBody::new(futures_util::stream::iter(frames));
    let body = ProxyBody::local(yardmaster_core::body::boxed(body));
    Ok(Response::from_parts(parts, body))
}

/// Reads one endpoint's whole reply; `Err` unless its status is OK.
async fn read_reply(response: Response<UpstreamBody>, max: usize) -> Result<Reply, Outcome> {
    if let Some(outcome) = Outcome::from_status(response.headers()) {
        return match outcome {
            // Trailers-only OK: an empty reply.
            Outcome::Ok => {
                let (parts, _) = response.into_parts();
                Ok(Reply {
                    parts,
                    body: bytes::Bytes::new(),
                    trailers: None,
                })
            }
            failed => Err(failed),
        };
    }
    let (parts, mut body) = response.into_parts();
    let mut bytes = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| Outcome::failed(UpstreamBody::failure_cause(&*e), e.to_string()))?;
        match frame.into_data() {
            Ok(data) if bytes.len().saturating_add(data.len()) > max => {
                let message = format!("reply of more than {max} bytes");
                return Err(Outcome::failed(Cause::MessageTooLarge, message));
            }
            Ok(data) => bytes.extend_from_slice(&data),
            Err(frame) => {
                let Ok(trailers) = frame.into_trailers() else {
                    continue;
                };
                return match Outcome::from_status(&trailers) {
                    Some(Outcome::Ok) => Ok(Reply {
                        parts,
                        body: bytes.freeze(),
                        trailers: Some(trailers),
                    }),
                    Some(failed) => Err(failed),
                    None => Err(Outcome::failed(Cause::MissingStatus, "no grpc-status")),
                };
            }
        }
    }
    let message = "reply ended without trailers".to_owned();
    Err(Outcome::failed(Cause::MissingTrailers, message))
}
