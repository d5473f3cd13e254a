//! The `fanout` action: each gRPC call goes to every healthy endpoint of a cluster at once.
//!
//! The request is read whole (it is sent several times, and with `subscribe` again to
//! endpoints that join later), bounded by `max_message_bytes`. Replies are either merged
//! message by message into one stream ([`merge`]) or the first successful one wins
//! ([`first_reply`]).

mod first_reply;
mod frame_body;
mod merge;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Request, Response};
use http_body_util::BodyExt;
use prometheus_client::metrics::counter::Counter;
use tokio::time::Instant;
use yardmaster_cluster::{Cluster, ClusterSet};
use yardmaster_config::{FanoutConfig, FanoutReplies};
use yardmaster_core::{grpc, Body, Cause, GrpcCode};

use super::request_head::RequestHead;
use crate::error_response::ProxyError;
use crate::forwarded::Downstream;
use crate::metrics::TargetLabels;
use crate::snapshot_error::SnapshotError;
use crate::{ProxyBody, ProxyMetrics};

/// Trailing metadata of a merged reply: one value per endpoint whose part failed,
/// `<address> <STATUS>`.
pub(crate) const FAILED_HEADER: &str = "x-yardmaster-fanout-failed";

/// A resolved `fanout` action.
#[derive(Debug)]
pub(crate) struct Fanout {
    pub(crate) cluster: Arc<Cluster>,
    replies: FanoutReplies,
    subscribe: bool,
    timeout: Option<Duration>,
    max_message_bytes: usize,
    counters: EndpointCounters,
}

/// Outcomes of the per-endpoint parts of fan-out calls.
#[derive(Clone, Debug)]
struct EndpointCounters {
    ok: Counter,
    failed: Counter,
    left: Counter,
    cancelled: Counter,
}

/// Why a fan-out call is answered by the gateway.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FanoutError {
    #[error("fan-out routes carry gRPC calls only")]
    NotGrpc,
    #[error("cluster {cluster:?} has no healthy endpoint to fan out to")]
    NoEndpoint { cluster: String },
    #[error("request of more than {max} bytes; fan-out holds the whole request")]
    TooLarge { max: usize },
    #[error("reading the request failed: {0}")]
    Downstream(String),
    /// Every endpoint failed; the first failure's status, and a summary.
    #[error("{message}")]
    AllFailed { code: GrpcCode, message: String },
}

impl FanoutError {
    fn cause(&self) -> Cause {
        match self {
            FanoutError::NotGrpc => Cause::NotGrpc,
            FanoutError::NoEndpoint { .. } => Cause::NoEndpoint,
            FanoutError::TooLarge { .. } => Cause::MessageTooLarge,
            FanoutError::Downstream(_) => Cause::DownstreamError,
            FanoutError::AllFailed { code, .. } => Cause::AllFailed(*code),
        }
    }
}

impl From<FanoutError> for ProxyError {
    fn from(error: FanoutError) -> ProxyError {
        ProxyError::Action {
            cause: error.cause(),
            message: error.to_string(),
        }
    }
}

impl Fanout {
    /// Resolves the validated `config` of route `route` against the snapshot's clusters.
    pub(crate) fn new(
        listener: &str,
        route: &str,
        config: &FanoutConfig,
        clusters: &ClusterSet,
        metrics: &ProxyMetrics,
    ) -> Result<Fanout, SnapshotError> {
        let cluster =
            clusters
                .get(&config.cluster)
                .ok_or_else(|| SnapshotError::UnknownCluster {
                    listener: listener.to_owned(),
                    route: route.to_owned(),
                    cluster: config.cluster.clone(),
                })?;
        let counter = |outcome: &str| {
            let labels = TargetLabels {
                listener: listener.to_owned(),
                route: route.to_owned(),
                target: config.cluster.clone(),
                outcome: outcome.to_owned(),
            };
            metrics.fanout_calls.get_or_create(&labels).clone()
        };
        Ok(Fanout {
            cluster: cluster.clone(),
            replies: config.replies,
            subscribe: config.subscribe,
            timeout: config.timeout,
            max_message_bytes: config.max_message_bytes,
            counters: EndpointCounters {
                ok: counter("ok"),
                failed: counter("failed"),
                left: counter("left"),
                cancelled: counter("cancelled"),
            },
        })
    }
}

/// Sends the call to every healthy endpoint of the cluster and answers with the merged
/// replies, or the first successful one.
pub(crate) async fn fanout(
    action: &Arc<Fanout>,
    req: Request<Body>,
    downstream: &Downstream,
    is_grpc: bool,
    deadline: Option<Instant>,
) -> Result<Response<ProxyBody>, ProxyError> {
    if !is_grpc {
        return Err(FanoutError::NotGrpc.into());
    }
    let deadline = super::call_deadline(deadline, action.timeout);
    let (parts, body) = req.into_parts();
    let head = Arc::new(RequestHead::new(parts, downstream));
    let read = read_request(body, action.max_message_bytes);
    let request = match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, read)
            .await
            .map_err(|_| ProxyError::DeadlineExceeded {
                cluster: action.cluster.name().to_string(),
            })??,
        None => read.await?,
    };
    // Subscribe before looking at the endpoints, so no change between the two is missed.
    let changes = action.cluster.watch_endpoints();
    let endpoints = action.cluster.endpoints().eligible().to_vec();
    if endpoints.is_empty() {
        return Err(FanoutError::NoEndpoint {
            cluster: action.cluster.name().to_string(),
        }
        .into());
    }
    let call = Call {
        fanout: action.clone(),
        head,
        request,
        deadline,
    };
    match action.replies {
        FanoutReplies::First => first_reply::call(call, endpoints).await,
        FanoutReplies::Merge => merge::call(call, endpoints, changes).await,
    }
}

/// What every endpoint's part of one call shares.
#[derive(Clone, Debug)]
struct Call {
    fanout: Arc<Fanout>,
    head: Arc<RequestHead>,
    /// The whole request body, framed messages as the client sent them.
    request: Bytes,
    deadline: Option<Instant>,
}

impl Call {
    fn request(&self) -> Request<yardmaster_core::Body> {
        let body = yardmaster_core::body::full(self.request.clone());
        self.head.request(body, self.deadline, None)
    }
}

/// Reads the whole downstream body, refusing more than `max` bytes.
async fn read_request(mut body: Body, max: usize) -> Result<Bytes, FanoutError> {
    let mut request = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| FanoutError::Downstream(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if request.len().saturating_add(data.len()) > max {
                return Err(FanoutError::TooLarge { max });
            }
            request.extend_from_slice(&data);
        }
    }
    Ok(request.freeze())
}

/// How one endpoint's part of a call ended.
#[derive(Debug)]
enum Outcome {
    Ok,
    Failed(GrpcCode, String),
}

impl Outcome {
    /// A failure the gateway tells: the code of `cause`.
    fn failed(cause: Cause, message: impl Into<String>) -> Outcome {
        Outcome::Failed(cause.status().grpc, message.into())
    }

    /// The outcome told by a `grpc-status` (and `grpc-message`) in `headers`, if any.
    fn from_status(headers: &http::HeaderMap) -> Option<Outcome> {
        let code = GrpcCode::from_headers(headers)?;
        if code == GrpcCode::Ok {
            return Some(Outcome::Ok);
        }
        let message = headers
            .get(grpc::MESSAGE_HEADER)
            .map(grpc::decode_message)
            .unwrap_or_default();
        Some(Outcome::Failed(code, message))
    }
}
