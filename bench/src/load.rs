//! The load generator, run as its own process (`yardmaster-bench load ...`) so it never
//! shares a scheduler with the upstream or the proxy under test.
//!
//! It connects, runs the workers through a warm-up, announces `measuring` on stdout, counts
//! operations and latencies for the measured window, announces `stopped`, and prints one
//! JSON [`LoadReport`] line. The parent samples the proxy's CPU time when it reads each
//! announcement, so CPU figures cover exactly the measured window.

mod args;
mod bridge;
mod grpc;
mod http1;
mod json;
mod phase;
mod report;
mod tally;

use std::io::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::scenario::Scenario;
pub(crate) use args::LoadArgs;
use phase::Phase;
pub(crate) use report::{Latency, LoadReport};
use tally::Tally;

/// Stdout line announcing the start of the measured window.
pub(crate) const MEASURING: &str = "measuring";
/// Stdout line announcing its end.
pub(crate) const STOPPED: &str = "stopped";
/// How long workers may take to finish their last call once the window has closed; a
/// worker still busy after that counts as an error (a hung call).
const WORKER_EXIT_TIMEOUT: Duration = Duration::from_secs(10);

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
        _ if args.json => json::start(args, &phase, &mut workers).await,
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
    phase.start_measuring();
    announce(MEASURING)?;
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.duration_secs)).await;
    phase.stop();
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
