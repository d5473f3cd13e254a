//! The parent's side of one load process: starts `yardmaster-bench load` against a
//! [`Point`], reads the proxy's and the upstreams' CPU time when the child announces the
//! start and the end of its window, and turns its report into a [`Sample`].

use std::io::{BufRead as _, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use crate::load::{LoadReport, MEASURING, STOPPED};
use crate::point::Point;
use crate::process::Processes;
use crate::sample::Sample;
use crate::scenario::Scenario;
use crate::settings::Settings;
use crate::target::Kind;

/// Slack on top of warm-up and window for a load process to connect, finish and report.
const LOAD_SLACK: Duration = Duration::from_secs(30);

/// One load process against one point with `concurrency` calls (or clients) in flight;
/// the proxy's and the upstream's CPU time are read when the load process announces the
/// start and the end of its window, the proxy's RSS at the end. A load process that fails
/// counts as one error of the sample; this blocks until it has exited.
pub(crate) fn run_load(
    scenario: Scenario,
    point: Point,
    concurrency: usize,
    settings: Settings,
) -> Sample {
    let upstream = Processes::single(std::process::id());
    let mut sample = Sample {
        scenario,
        kind: point.kind,
        report: LoadReport::default(),
        proxy_cpu_secs: None,
        upstream_cpu_secs: None,
        idle_rss_bytes: None,
        held_rss_bytes: None,
    };
    let settings = Settings {
        concurrency,
        ..settings
    };
    match load_process(scenario, point, settings, upstream, &mut sample) {
        Ok(report) => sample.report = report,
        Err(error) => {
            sample.report.errors += 1;
            sample.report.first_error = Some(format!("load process: {error:#}"));
        }
    }
    sample
}

fn load_process(
    scenario: Scenario,
    point: Point,
    settings: Settings,
    upstream: Processes,
    sample: &mut Sample,
) -> anyhow::Result<LoadReport> {
    let mut child = spawn(scenario, point, settings)?;
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let lines = read_lines(stdout);
    let limit = answer_limit(scenario, settings);
    let result = read_window(&lines, limit, point.proxy, upstream, sample);
    if result.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().context("waiting for the load process")?;
    let report = result?;
    if !status.success() {
        bail!("load process exited with {status}");
    }
    Ok(report)
}

/// This binary's hidden `load` subcommand, its stdout piped to the caller.
fn spawn(scenario: Scenario, point: Point, settings: Settings) -> anyhow::Result<Child> {
    let exe = std::env::current_exe().context("finding the bench binary")?;
    let mut command = Command::new(exe);
    command.arg("load");
    if matches!(scenario, Scenario::Mirror | Scenario::Fanout) {
        command.args(["--rate", &settings.rate.to_string()]);
    }
    if point.kind == Kind::YardmasterTranscode {
        command.arg("--json");
    }
    command
        .args(["--scenario", scenario.name()])
        .args(["--addr", &point.addr.to_string()])
        .args(["--connections", &settings.connections.to_string()])
        .args(["--concurrency", &settings.concurrency.to_string()])
        .args(["--warmup-secs", &settings.warmup_secs.to_string()])
        .args(["--duration-secs", &settings.duration_secs.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the load process")
}

/// The lines of `stdout`, read on a thread of their own so that each can be awaited with
/// a deadline.
fn read_lines(stdout: ChildStdout) -> Receiver<String> {
    let (line_tx, lines) = mpsc::channel();
    // Ends when the load process closes stdout (it exits).
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// How long the load process may take, from its start, to print its report.
fn answer_limit(scenario: Scenario, settings: Settings) -> Duration {
    // Connecting thousands of idle bridge clients comes before the warm-up.
    let connecting = if scenario == Scenario::BridgeIdle {
        Duration::from_millis(u64::try_from(settings.concurrency).unwrap_or(u64::MAX))
    } else {
        Duration::ZERO
    };
    Duration::from_secs_f64(settings.warmup_secs + settings.duration_secs) + LOAD_SLACK + connecting
}

/// Follows the load process through its window, sampling CPU at each announcement, and
/// reads its report; an error when it says something else or nothing within `limit`.
fn read_window(
    lines: &Receiver<String>,
    limit: Duration,
    proxy: Option<Processes>,
    upstream: Processes,
    sample: &mut Sample,
) -> anyhow::Result<LoadReport> {
    let deadline = Instant::now() + limit;
    let next_line = || {
        lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .map_err(|_| anyhow::anyhow!("no answer within {limit:?}"))
    };
    expect_line(next_line()?, MEASURING)?;
    let before = (proxy.and_then(|p| p.cpu_secs()), upstream.cpu_secs());
    expect_line(next_line()?, STOPPED)?;
    let after = (proxy.and_then(|p| p.cpu_secs()), upstream.cpu_secs());
    sample.held_rss_bytes = proxy.and_then(|p| p.rss_bytes());
    sample.proxy_cpu_secs = before.0.zip(after.0).map(|(b, a)| a - b);
    sample.upstream_cpu_secs = before.1.zip(after.1).map(|(b, a)| a - b);
    let report: LoadReport =
        serde_json::from_str(&next_line()?).context("reading the load report")?;
    Ok(report)
}

fn expect_line(line: String, expected: &str) -> anyhow::Result<()> {
    if line == expected {
        Ok(())
    } else {
        bail!("expected {expected:?} from the load process, got {line:?}")
    }
}
