//! The load generator, run as its own process (`yardmaster-bench load ...`) so it never
//! shares a scheduler with the upstream or the proxy under test.
//!
//! It connects, runs the workers through a warm-up, announces `measuring` on stdout, counts
//! operations and latencies for the measured window, announces `stopped`, and prints one
//! JSON [`LoadReport`] line. The parent samples the proxy's CPU time when it reads each
//! announcement, so CPU figures cover exactly the measured window.

mod bridge;
mod grpc;
mod http1;
mod tally;

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::scenario::Scenario;
pub(crate) use tally::{Latency, Tally};

/// Stdout line announcing the start of the measured window.
pub(crate) const MEASURING: &str = "measuring";
/// Stdout line announcing its end.
pub(crate) const STOPPED: &str = "stopped";
/// How long workers may take to finish their last call once the window has closed; a
/// worker still busy after that counts as an error (a hung call).
const WORKER_EXIT_TIMEOUT: Duration = Duration::from_secs(10);
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
}

/// What one load run measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct LoadReport {
    /// Operations completed correctly inside the measured window.
    pub(crate) operations: u64,
    /// Failed or wrong operations, in the warm-up or the window.
    pub(crate) errors: u64,
    /// Length of the measured window, seconds.
    pub(crate) elapsed_secs: f64,
    /// Latency of the window's operations; `None` where operations are stream messages.
    pub(crate) latency: Option<Latency>,
    /// The first error seen, for the report.
    pub(crate) first_error: Option<String>,
}

impl LoadReport {
    /// Operations per second in the measured window.
    pub(crate) fn rate(&self) -> f64 {
        if self.elapsed_secs > 0.0 {
            self.operations as f64 / self.elapsed_secs
        } else {
            0.0
        }
    }
}

/// Where the run is; workers read it after every operation.
#[derive(Clone, Debug, Default)]
pub(crate) struct Phase(Arc<AtomicU8>);

// 0, the default, is the warm-up.
const MEASURE: u8 = 1;
const STOP: u8 = 2;

impl Phase {
    fn set(&self, phase: u8) {
        self.0.store(phase, Ordering::Release);
    }

    pub(crate) fn is_measuring(&self) -> bool {
        self.0.load(Ordering::Acquire) == MEASURE
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Acquire) == STOP
    }
}

/// Entry point of `yardmaster-bench load`: runs one load and prints its report.
pub(crate) fn main(args: &LoadArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the load generator's runtime")?;
    let report = runtime.block_on(drive(args))?;
    let line = serde_json::to_string(&report).context("encoding the load report")?;
    announce(&line)
}

async fn drive(args: &LoadArgs) -> anyhow::Result<LoadReport> {
    let phase = Phase::default();
    let mut workers = JoinSet::new();
    let started = match args.scenario {
        Scenario::Http1 => http1::start(args, &phase, &mut workers).await,
        Scenario::BridgeIdle | Scenario::BridgeFrames => {
            bridge::start(args.scenario, args, &phase, &mut workers).await
        }
        scenario => grpc::start(scenario, args, &phase, &mut workers).await,
    };
    if let Err(error) = started {
        // The target cannot even be reached: a report with one error, not a crash, so the
        // parent marks the target and goes on with the others.
        announce(MEASURING)?;
        announce(STOPPED)?;
        return Ok(LoadReport {
            errors: 1,
            first_error: Some(error),
            ..LoadReport::default()
        });
    }
    tokio::time::sleep(Duration::from_secs_f64(args.warmup_secs)).await;
    phase.set(MEASURE);
    announce(MEASURING)?;
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.duration_secs)).await;
    phase.set(STOP);
    let elapsed = window.elapsed();
    announce(STOPPED)?;

    let mut total = Tally::default();
    let deadline = Instant::now() + WORKER_EXIT_TIMEOUT;
    while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, workers.join_next()).await {
        match joined {
            Ok(tally) => total.merge(tally),
            Err(error) => total.fail(format!("worker failed: {error}")),
        }
    }
    if !workers.is_empty() {
        let busy = workers.len();
        total.fail(format!(
            "{busy} workers still waiting on a call {WORKER_EXIT_TIMEOUT:?} after the window closed"
        ));
    }
    Ok(total.into_report(elapsed.as_secs_f64()))
}

fn announce(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .context("writing to the parent process")
}
