//! The TCP bridge with real sockets on loopback: a bridge serving in-process, gRPC
//! upstreams, and raw TCP clients.

// Test helpers outside `#[test]` functions are not covered by clippy.toml's test
// allowances; a failed setup step should fail the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin_ops;
mod broadcast;
mod compat;
mod echo;
mod failover;
mod health;
mod limits;
mod support;
mod upstreams;
