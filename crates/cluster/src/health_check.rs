//! Active health checks: a task per cluster that probes every endpoint each interval
//! (gRPC `grpc.health.v1.Health/Check`, HTTP `GET`, or a TCP connect) and applies the
//! thresholds. Results change the endpoint set only when an endpoint's health changes.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, Request};
use http_body_util::BodyExt;
use tokio::net::TcpStream;
use yardmaster_config::{HealthCheckConfig, HealthCheckKind};
use yardmaster_core::grpc_frame::Message;
use yardmaster_core::{body, grpc, GrpcCode};

use crate::h2_pool::Lane;
use crate::health_state::Thresholds;
use crate::shared::ClusterShared;
use crate::Endpoint;

/// The gRPC health checking protocol's method.
const GRPC_HEALTH_PATH: &str = "/grpc.health.v1.Health/Check";

/// The largest health response read: health answers are a few bytes.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Runs until the cluster aborts it. The first round starts at once, and an endpoint that
/// joins (from discovery or the admin API) is checked as soon as it joins, so endpoints
/// that start unhealthy (`initial_state: unhealthy`) become ready as soon as they pass.
pub(crate) async fn run(shared: Arc<ClusterShared>, config: HealthCheckConfig) {
    let mut changes = shared.generation.subscribe();
    loop {
        check(&shared, &config, |_| true).await;
        let next_round = tokio::time::sleep(config.interval + jitter(config.jitter));
        tokio::pin!(next_round);
        loop {
            tokio::select! {
                () = &mut next_round => break,
                Ok(()) = changes.changed() => {
                    check(&shared, &config, |e| !e.health_is_known()).await;
                }
            }
        }
    }
}

/// Probes the endpoints that `which` selects, all at once, and applies the results.
async fn check(
    shared: &ClusterShared,
    config: &HealthCheckConfig,
    which: impl Fn(&Endpoint) -> bool,
) {
    let thresholds = Thresholds {
        healthy: config.healthy_threshold,
        unhealthy: config.unhealthy_threshold,
    };
    let set = shared.endpoints.load_full();
    let probes = set.endpoints().iter().filter(|e| which(e)).map(|endpoint| {
        let probe = probe(shared, endpoint, config);
        async move {
            let passed = tokio::time::timeout(config.timeout, probe)
                .await
                .unwrap_or(false);
            (endpoint, passed)
        }
    });
    let results = futures_util::future::join_all(probes).await;
    let mut changed = false;
    for (endpoint, passed) in results {
        changed |= record(shared, endpoint, passed, thresholds);
    }
    if changed {
        shared.refresh();
    }
}

fn jitter(max: Duration) -> Duration {
    let max_nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    if max_nanos == 0 {
        Duration::ZERO
    } else {
        Duration::from_nanos(fastrand::u64(..=max_nanos))
    }
}

/// Applies one result; true when the endpoint's health changed.
fn record(shared: &ClusterShared, endpoint: &Endpoint, passed: bool, t: Thresholds) -> bool {
    if !passed {
        endpoint.counters.health_checks_failed.inc();
    }
    let change = endpoint
        .health
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .record(passed, t);
    let Some(healthy) = change else {
        return false;
    };
    endpoint.set_healthy(healthy);
    if healthy {
        tracing::info!(cluster = %shared.name, endpoint = %endpoint.address(), "endpoint healthy");
    } else {
        tracing::warn!(cluster = %shared.name, endpoint = %endpoint.address(), "endpoint unhealthy");
    }
    true
}

async fn probe(shared: &ClusterShared, endpoint: &Endpoint, config: &HealthCheckConfig) -> bool {
    match config.kind {
        HealthCheckKind::Tcp => TcpStream::connect(endpoint.address()).await.is_ok(),
        HealthCheckKind::Grpc => grpc_probe(shared, endpoint, &config.service).await,
        HealthCheckKind::Http => {
            let path = config.path.as_deref().unwrap_or("/");
            let range = config.expected_status_min..=config.expected_status_max;
            http_probe(shared, endpoint, path)
                .await
                .is_some_and(|status| range.contains(&status))
        }
    }
}

async fn http_probe(shared: &ClusterShared, endpoint: &Endpoint, path: &str) -> Option<u16> {
    let req = Request::get(path).body(body::empty()).ok()?;
    let (response, _stream) = endpoint.send(&shared.name, req, Lane::Live).await.ok()?;
    let status = response.status().as_u16();
    // Read the body so an HTTP/1.1 connection can go back to the pool.
    http_body_util::Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .ok()?;
    Some(status)
}

async fn grpc_probe(shared: &ClusterShared, endpoint: &Endpoint, service: &str) -> bool {
    let req = grpc::request(
        http::Uri::from_static(GRPC_HEALTH_PATH),
        body::full(health_request(service)),
    );
    let Ok((response, _stream)) = endpoint.send(&shared.name, req, Lane::Live).await else {
        return false;
    };
    let (parts, body) = response.into_parts();
    if is_grpc_error(&parts.headers) {
        return false;
    }
    let Ok(collected) = http_body_util::Limited::new(body, MAX_RESPONSE_BYTES)
        .collect()
        .await
    else {
        return false;
    };
    let ok = collected.trailers().is_some_and(|t| !is_grpc_error(t)) && parts.status.is_success();
    ok && is_serving(&collected.to_bytes())
}

/// Whether a header block carries a non-OK (or no) `grpc-status`.
fn is_grpc_error(headers: &HeaderMap) -> bool {
    GrpcCode::from_headers(headers).is_some_and(|code| code != GrpcCode::Ok)
}

/// A gRPC frame holding `HealthCheckRequest { service }` (field 1, a string).
fn health_request(service: &str) -> Bytes {
    let mut message = BytesMut::new();
    if !service.is_empty() {
        message.put_u8(0x0a);
        put_varint(&mut message, service.len() as u64);
        message.put_slice(service.as_bytes());
    }
    // A service name is far shorter than a frame's limit.
    Message::new(&message).map_or_else(|_| Bytes::new(), |m| m.framed().clone())
}

fn put_varint(buf: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        buf.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

/// Whether a gRPC frame holds `HealthCheckResponse { status: SERVING }` (field 1 = 1).
fn is_serving(frame: &[u8]) -> bool {
    matches!(frame, [0, _, _, _, _, 0x08, 0x01, ..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_service_name_as_field_one() {
        assert_eq!(&health_request("")[..], [0, 0, 0, 0, 0]);
        assert_eq!(
            &health_request("a.B")[..],
            [0, 0, 0, 0, 5, 0x0a, 3, b'a', b'.', b'B']
        );
    }

    #[test]
    fn only_serving_passes() {
        assert!(is_serving(&[0, 0, 0, 0, 2, 0x08, 0x01]));
        assert!(!is_serving(&[0, 0, 0, 0, 2, 0x08, 0x02]));
        assert!(!is_serving(&[0, 0, 0, 0, 0]));
    }
}
