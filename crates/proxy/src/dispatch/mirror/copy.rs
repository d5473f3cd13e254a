//! One fire-and-forget copy of a call to a non-responding target: sent, its reply read to
//! the end and thrown away, its outcome counted.

use std::net::IpAddr;
use std::sync::Arc;

use http::Request;
use http_body_util::BodyExt;
use tokio::runtime::Handle;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use yardmaster_cluster::Cluster;
use yardmaster_core::{Body, GrpcCode};

use super::CopyCounters;

/// Starts the copy on `runtime` (the low-priority copy threads). Detached on purpose: it
/// never outlives `deadline`, and it holds one of the target's `queue_size` slots
/// (`permit`) while it runs, so copies stay bounded.
pub(super) fn spawn(
    runtime: &Handle,
    cluster: Arc<Cluster>,
    counters: CopyCounters,
    req: Request<Body>,
    client: IpAddr,
    deadline: Instant,
    permit: OwnedSemaphorePermit,
) {
    runtime.spawn(async move {
        let outcome = tokio::time::timeout_at(deadline, send(&cluster, req, client)).await;
        match outcome {
            Ok(Ok(GrpcCode::Ok)) => counters.ok.inc(),
            Ok(Ok(code)) => {
                tracing::debug!(cluster = %cluster.name(), code = code.name(), "mirror copy failed");
                counters.failed.inc()
            }
            Ok(Err(error)) => {
                tracing::debug!(cluster = %cluster.name(), %error, "mirror copy failed");
                counters.failed.inc()
            }
            Err(_) => counters.timeout.inc(),
        };
        drop(permit);
    });
}

/// Sends the copy and reads its reply to the end; the call's gRPC status.
async fn send(
    cluster: &Cluster,
    req: Request<Body>,
    client: IpAddr,
) -> Result<GrpcCode, yardmaster_core::BoxError> {
    let response = cluster.call_in_background(req, client).await?;
    if let Some(code) = GrpcCode::from_headers(response.headers()) {
        return Ok(code);
    }
    if !response.status().is_success() {
        return Err(format!("HTTP status {}", response.status()).into());
    }
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        if let Ok(trailers) = frame?.into_trailers() {
            return Ok(GrpcCode::from_headers(&trailers).unwrap_or(GrpcCode::Unknown));
        }
    }
    Ok(GrpcCode::Unknown)
}
