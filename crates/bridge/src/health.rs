//! gRPC health checks of bridge upstreams (`grpc.health.v1.Health/Check`), when the
//! bridge's cluster configures `health_check: {kind: grpc}`. An unhealthy upstream gets no
//! new clients; its clients stay while its stream is up.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};
use yardmaster_config::{HealthCheckConfig, HealthCheckKind, InitialHealth};

use crate::bridge::Shared;
use crate::upstream::Upstream;

/// `grpc.health.v1.HealthCheckRequest`; two messages of one field each are written out
/// here rather than generated.
#[derive(Clone, PartialEq, prost::Message)]
struct HealthCheckRequest {
    #[prost(string, tag = "1")]
    service: String,
}

/// `grpc.health.v1.HealthCheckResponse`.
#[derive(Clone, PartialEq, prost::Message)]
struct HealthCheckResponse {
    #[prost(int32, tag = "1")]
    status: i32,
}

/// `HealthCheckResponse.ServingStatus.SERVING`.
const SERVING: i32 = 1;

/// An upstream's health as its checks found it.
#[derive(Debug)]
pub(crate) struct Health {
    healthy: AtomicBool,
    /// Consecutive results that disagree with `healthy`.
    streak: AtomicU32,
}

impl Health {
    /// The state before the first check, per `initial_state` (healthy without checks).
    pub(crate) fn new(config: Option<&HealthCheckConfig>) -> Health {
        let healthy = config.is_none_or(|c| c.initial_state == InitialHealth::Healthy);
        Health {
            healthy: AtomicBool::new(healthy),
            streak: AtomicU32::new(0),
        }
    }

    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Records one result; returns whether the state flipped. Only the upstream's own
    /// task records, so plain loads and stores suffice.
    fn record(&self, passed: bool, config: &HealthCheckConfig) -> bool {
        if passed == self.is_healthy() {
            self.streak.store(0, Ordering::Relaxed);
            return false;
        }
        let streak = self.streak.load(Ordering::Relaxed).saturating_add(1);
        let threshold = if passed {
            config.healthy_threshold
        } else {
            config.unhealthy_threshold
        };
        if streak >= threshold {
            self.healthy.store(passed, Ordering::Release);
            self.streak.store(0, Ordering::Relaxed);
            true
        } else {
            self.streak.store(streak, Ordering::Relaxed);
            false
        }
    }
}

/// The cluster's health check, when bridges use it (`kind: grpc`).
pub(crate) fn grpc_check(config: Option<&HealthCheckConfig>) -> Option<HealthCheckConfig> {
    config.filter(|c| c.kind == HealthCheckKind::Grpc).cloned()
}

/// Checks the upstream every `interval` for as long as it is polled; never returns.
pub(crate) async fn watch(shared: &Shared, upstream: &Upstream) {
    let Some(config) = shared.health_check.as_ref() else {
        return std::future::pending().await;
    };
    // A connection of its own, reconnected by tonic as needed, so a check also fails when
    // the stream's connection is fine but the endpoint stopped serving.
    let channel = Endpoint::from_shared(format!("http://{}", upstream.address()))
        .map(|e| e.connect_timeout(config.timeout).connect_lazy());
    let Ok(channel) = channel else {
        return std::future::pending().await;
    };
    loop {
        let passed = check(channel.clone(), &config.service, config.timeout).await;
        if upstream.health().record(passed, config) {
            tracing::info!(bridge = %shared.name, upstream = %upstream.address(), healthy = passed, "bridge upstream health changed");
            shared.upstreams.notify();
        }
        tokio::time::sleep(config.interval).await;
    }
}

async fn check(channel: Channel, service: &str, timeout: Duration) -> bool {
    let mut grpc = tonic::client::Grpc::new(channel);
    let call = async {
        grpc.ready().await.ok()?;
        let codec = tonic_prost::ProstCodec::<HealthCheckRequest, HealthCheckResponse>::default();
        let path = PathAndQuery::from_static("/grpc.health.v1.Health/Check");
        let request = tonic::Request::new(HealthCheckRequest {
            service: service.to_owned(),
        });
        let response = grpc.unary(request, path, codec).await.ok()?;
        Some(response.into_inner().status == SERVING)
    };
    matches!(tokio::time::timeout(timeout, call).await, Ok(Some(true)))
}
