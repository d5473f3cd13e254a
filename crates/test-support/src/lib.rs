//! Test-only helpers: a gateway started in-process from a YAML string, upstreams and
//! clients, all on loopback with ports chosen by the kernel.
//!
//! Owns nothing of the product. Every helper binds `127.0.0.1:0` first and reads the
//! address back, so tests never race for ports or sleep until a server is ready. Helpers
//! panic on setup failure: they run only inside tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod gateway;
mod http_client;
mod kubernetes_api;
mod name_server;
mod raw_client;
mod raw_upstream;
mod route_yaml;
mod upstream;
mod websocket_upstream;

pub use gateway::TestGateway;
pub use http_client::{h2_send, http1_send, HttpReply};
pub use kubernetes_api::{endpoint_slice, TestKubernetesApi};
pub use name_server::{SrvRecord, TestNameServer};
pub use raw_client::{RawH2Client, RawResponse};
pub use raw_upstream::{grpc_frame, RawBody, RawGrpcUpstream};
pub use route_yaml::one_route_to;
pub use upstream::{
    echo_client, BlackholeUpstream, FreezableRelay, HttpUpstream, RefusingPort, TestUpstream,
};
pub use websocket_upstream::WebSocketUpstream;

/// How long a test waits for any event before calling it a hang. It guards against hangs
/// only; tests wait for events, never for time.
pub const HANG_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Polls `check` until it returns true, for state that can only be polled. Use sparingly:
/// prefer awaiting an event. Panics with `what` after 10 s.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Like [`eventually`], for state that only an async call can read (the admin API).
/// Use sparingly. Panics with `what` after 10 s.
pub async fn eventually_async<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !tokio::time::timeout_at(deadline, check())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
