//! The data path with real sockets on loopback: a listener served by an [`Edge`] on
//! worker threads, an HTTP/1.1 upstream and a client.
//!
//! [`Edge`]: yardmaster_proxy::Edge

// Test helpers outside `#[test]` functions are not covered by clippy.toml's test
// allowances; a failed setup step should fail the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod edge_layers;
mod support;
