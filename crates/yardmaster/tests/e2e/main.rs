//! End-to-end tests: the gateway in-process, real upstreams and real clients on loopback.

// Helpers outside `#[test]` functions set up and check test worlds: failing loudly is their
// job (clippy's `allow-*-in-tests` only covers the test functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin;
mod balancing;
mod bridge;
mod bridge_cluster;
mod cli;
mod demo;
mod discovery;
mod endpoint_control;
mod envelope;
mod fanout;
mod grpc_calls;
mod grpc_errors;
mod grpc_transparency;
mod health_checks;
mod http_proxy;
mod mirror;
mod python_client;
mod registry;
mod resilience;
mod smoke;
mod tls;
mod transcoding;
mod upstream_connections;
