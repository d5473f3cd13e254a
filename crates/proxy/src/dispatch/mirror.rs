//! The `mirror` action: each call goes to every target whose filter passes its messages;
//! one target, the responder for the type of the first message, answers the client, and
//! the others get fire-and-forget copies through a bounded queue.
//!
//! The data flow of one call: the downstream body is cut into messages
//! ([`MessageReader`]) by the responder's request body (the [`Splitter`]), which hands
//! each message to every other target whose filter passes it without waiting (a full
//! queue drops the message and counts it) and passes it on to the responder, whose flow
//! control paces the client. Each copy is its own upstream call ([`copy`]), bounded by
//! the call's deadline and the route's `copy_timeout`.

mod channel_body;
mod copy;
mod copy_runtime;
mod message_reader;
mod message_type;
mod mirror_error;
mod selection;
mod splitter;

use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::{Request, Response};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use yardmaster_cluster::{Cluster, ClusterSet};
use yardmaster_config::{MessageType, MirrorConfig};
use yardmaster_core::Body;

use super::request_head::RequestHead;
use crate::error_response::ProxyError;
use crate::forwarded::{self, Downstream};
use crate::metrics::TargetLabels;
use crate::response_body::FailureCell;
use crate::snapshot_error::SnapshotError;
use crate::{ProxyBody, ProxyMetrics};

pub use copy_runtime::CopyRuntime;
use message_reader::MessageReader;
use message_type::Extractor;
pub(crate) use mirror_error::MirrorError;
use selection::Selection;
use splitter::Splitter;

/// Header added to every copy, so an upstream knows it got one; the value is the route.
pub(crate) const MIRROR_HEADER: HeaderName = HeaderName::from_static("x-yardmaster-mirror");

/// Messages queued towards one copy of a stream before further messages for it are
/// dropped: absorbs a burst without letting a slow target hold much memory.
const COPY_QUEUE: usize = 32;

/// A resolved `mirror` action.
#[derive(Debug)]
pub(crate) struct Mirror {
    /// The route's name, sent as the value of [`MIRROR_HEADER`].
    route: HeaderValue,
    extractor: Option<Extractor>,
    targets: Vec<MirrorTarget>,
    selection: Selection,
    timeout: Option<Duration>,
    copy_timeout: Duration,
    max_message_bytes: usize,
    /// Where copies run: shared by the snapshot's mirrored routes.
    copies: Arc<CopyRuntime>,
}

/// One target of a mirrored route.
#[derive(Debug)]
struct MirrorTarget {
    cluster: Arc<Cluster>,
    /// Percentage of calls copied when the target is not the responder.
    sample_percent: f64,
    /// Copy slots: a copy holds one while it runs.
    slots: Arc<Semaphore>,
    counters: CopyCounters,
}

/// Per-target counters, resolved once per snapshot so the data path only adds.
#[derive(Clone, Debug)]
struct CopyCounters {
    ok: Counter,
    failed: Counter,
    timeout: Counter,
    dropped: Counter,
    messages_dropped: Counter,
}

impl Mirror {
    /// Resolves the validated `config` of route `route` against the snapshot's clusters.
    pub(crate) fn new(
        listener: &str,
        route: &str,
        config: &MirrorConfig,
        clusters: &ClusterSet,
        metrics: &ProxyMetrics,
        copies: Arc<CopyRuntime>,
    ) -> Result<Mirror, SnapshotError> {
        let mut targets = Vec::with_capacity(config.targets.len());
        for target in &config.targets {
            let cluster =
                clusters
                    .get(&target.cluster)
                    .ok_or_else(|| SnapshotError::UnknownCluster {
                        listener: listener.to_owned(),
                        route: route.to_owned(),
                        cluster: target.cluster.clone(),
                    })?;
            targets.push(MirrorTarget {
                cluster: cluster.clone(),
                sample_percent: target.sample_percent,
                slots: Arc::new(Semaphore::new(target.queue_size)),
                counters: CopyCounters::new(metrics, listener, route, &target.cluster),
            });
        }
        let extractor = match &config.message_type {
            Some(message_type) => Some(Extractor::new(message_type).map_err(|message| {
                SnapshotError::MessageType {
                    listener: listener.to_owned(),
                    route: route.to_owned(),
                    message,
                }
            })?),
            None => None,
        };
        Ok(Mirror {
            route: HeaderValue::from_str(route).unwrap_or(HeaderValue::from_static("mirror")),
            extractor,
            targets,
            selection: Selection::new(config),
            timeout: config.timeout,
            copy_timeout: config.copy_timeout,
            max_message_bytes: config.max_message_bytes,
            copies,
        })
    }

    /// The default responder's cluster, for the route's metric labels.
    pub(crate) fn default_cluster(&self) -> Option<&Arc<Cluster>> {
        self.targets
            .get(self.selection.default_responder)
            .map(|t| &t.cluster)
    }
}

impl CopyCounters {
    fn new(metrics: &ProxyMetrics, listener: &str, route: &str, target: &str) -> CopyCounters {
        let labels = |outcome: &str| TargetLabels {
            listener: listener.to_owned(),
            route: route.to_owned(),
            target: target.to_owned(),
            outcome: outcome.to_owned(),
        };
        let copies = |outcome: &str| {
            metrics
                .mirror_copies
                .get_or_create(&labels(outcome))
                .clone()
        };
        CopyCounters {
            ok: copies("ok"),
            failed: copies("failed"),
            timeout: copies("timeout"),
            dropped: copies("dropped"),
            messages_dropped: metrics
                .mirror_messages
                .get_or_create(&labels("dropped"))
                .clone(),
        }
    }
}

/// Sends the call to the responder for its first message's type (the client gets that
/// reply) and copies its messages to the other targets whose filters pass them.
pub(crate) async fn mirror(
    action: &Arc<Mirror>,
    req: Request<Body>,
    downstream: &Downstream,
    is_grpc: bool,
    deadline: Option<Instant>,
) -> Result<Response<ProxyBody>, ProxyError> {
    if !is_grpc {
        return Err(MirrorError::NotGrpc.into());
    }
    let deadline = super::call_deadline(deadline, action.timeout);
    let (parts, body) = req.into_parts();
    let head = Arc::new(RequestHead::new(parts, downstream));
    let path = head.uri.path();
    let mut reader = MessageReader::new(body, action.max_message_bytes);

    // The responder is chosen by the first message's type; read it only if the type is in
    // the message, so a call whose type is its method starts without waiting for one.
    let (first, call_type) = match &action.extractor {
        Some(extractor) if extractor.needs_message() => {
            let first = read_first(&mut reader, deadline).await?;
            let ty = match &first {
                Some(m) => extractor
                    .type_of(path, m.payload(), m.is_compressed())
                    .map_err(MirrorError::from)?,
                None => MessageType::Number(0),
            };
            (first, ty)
        }
        Some(extractor) => {
            let ty = extractor.type_of(path, &[], false);
            (None, ty.map_err(MirrorError::from)?)
        }
        None => (None, MessageType::Number(0)),
    };
    let responder = action
        .selection
        .responder(&call_type)
        .ok_or_else(|| MirrorError::NoTarget(call_type.clone()))?;
    let target = action
        .targets
        .get(responder)
        .ok_or_else(|| MirrorError::NoTarget(call_type.clone()))?;

    let failure = FailureCell::default();
    let per_message = action
        .extractor
        .as_ref()
        .is_some_and(Extractor::needs_message);
    let splitter = Splitter {
        mirror: action.clone(),
        head: head.clone(),
        path: path.to_owned(),
        call_type: (!per_message).then_some(call_type),
        responder,
        reader,
        first,
        streams: Vec::new(),
        deadline,
        failure: failure.clone(),
        is_done: false,
    };
    let req = head.request(yardmaster_core::body::boxed(splitter), deadline, None);
    let call = target.cluster.call(req, head.client);
    let result = match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, call).await.map_err(|_| {
            ProxyError::DeadlineExceeded {
                cluster: target.cluster.name().to_string(),
            }
        })?,
        None => call.await,
    };
    let response = match result {
        Ok(response) => response,
        // The request stream failed first (an oversized message, say): that is the cause.
        Err(error) => {
            return Err(match failure.get() {
                Some((cause, message)) => MirrorError::Stream {
                    cause: *cause,
                    message: message.clone(),
                }
                .into(),
                None => error.into(),
            })
        }
    };
    let (mut parts, body) = response.into_parts();
    forwarded::prepare_response(&mut parts.headers, false, head.via.clone());
    let mut body = ProxyBody::upstream(body, true).with_failure(failure);
    if let Some(deadline) = deadline {
        body = body.with_deadline(deadline);
    }
    Ok(Response::from_parts(parts, body))
}

async fn read_first(
    reader: &mut MessageReader,
    deadline: Option<Instant>,
) -> Result<Option<yardmaster_core::grpc_frame::Message>, ProxyError> {
    let read = reader.next();
    let first = match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, read).await.map_err(|_| {
            ProxyError::DeadlineExceeded {
                cluster: "(waiting for the first request message)".to_owned(),
            }
        })?,
        None => read.await,
    };
    Ok(first?)
}
