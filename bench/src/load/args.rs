//! [`LoadArgs`]: what the parent tells a load process (the hidden `load` subcommand),
//! and the bound every worker puts on connecting to the target.

use std::net::SocketAddr;
use std::time::Duration;

use crate::scenario::Scenario;

/// Bound on connecting to a target and on its protocol handshake.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Arguments of the hidden `load` subcommand, filled in by the parent process.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct LoadArgs {
    /// The workload.
    #[arg(long, value_enum)]
    pub(crate) scenario: Scenario,
    /// The target's address (h2c for gRPC scenarios, HTTP/1.1 for `http1`).
    #[arg(long)]
    pub(crate) addr: SocketAddr,
    /// HTTP/2 connections for gRPC scenarios.
    #[arg(long)]
    pub(crate) connections: usize,
    /// Operations in flight (and connections, for `http1` and the bridge scenarios).
    #[arg(long)]
    pub(crate) concurrency: usize,
    /// Calls per second spread over the calls in flight (unary scenarios); without it each
    /// call starts as soon as the one before it ended.
    #[arg(long)]
    pub(crate) rate: Option<f64>,
    /// Seconds of load before the measured window.
    #[arg(long)]
    pub(crate) warmup_secs: f64,
    /// Seconds in the measured window.
    #[arg(long)]
    pub(crate) duration_secs: f64,
    /// The unary calls go as HTTP/JSON to a `transcode` route instead of as gRPC.
    #[arg(long)]
    pub(crate) json: bool,
}
