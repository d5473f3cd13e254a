//! The run: build Yardmaster, start the upstreams and every available proxy, measure each
//! scenario against every target, interleaved and repeated, then report.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context as _};

use crate::h2load::{self, H2loadShape};
use crate::load::{LoadReport, MEASURING, STOPPED};
use crate::machine::{self, Machine};
use crate::process::Processes;
use crate::report::{self, Sample, Summary};
use crate::scenario::Scenario;
use crate::target::{find_program, version_line, Kind, Target};
use crate::upstream::Upstreams;

/// Slack on top of warm-up and window for a load process to connect, finish and report.
const LOAD_SLACK: Duration = Duration::from_secs(30);

/// Options of a benchmark run (the default command).
#[derive(clap::Args, Debug)]
pub(crate) struct RunArgs {
    /// Scenario to run: all, unary, unary-16k, stream, pingpong or http1.
    #[arg(long, default_value = "all", value_parser = parse_scenarios)]
    scenario: Scenarios,
    /// Smoke mode: 1 s windows, one repetition, no h2load, no RESULTS.md.
    #[arg(long)]
    quick: bool,
    /// Repetitions of each (scenario, target) point [default: 3, quick: 1].
    #[arg(long)]
    repeats: Option<usize>,
    /// Seconds in each measured window [default: 5, quick: 1].
    #[arg(long)]
    duration: Option<f64>,
    /// Seconds of load before each window [default: 1, quick: 0.3].
    #[arg(long)]
    warmup: Option<f64>,
    /// HTTP/2 connections per gRPC load run.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Calls in flight (HTTP/1.1: connections) per load run.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Where to write the markdown report [default: bench/RESULTS.md; quick: nowhere].
    #[arg(long)]
    output: Option<PathBuf>,
    /// Use the Yardmaster binary as built, without running `cargo build` first.
    #[arg(long)]
    no_build: bool,
    /// Skip the h2load cross-check.
    #[arg(long)]
    no_h2load: bool,
}

#[derive(Clone, Debug)]
struct Scenarios(Vec<Scenario>);

fn parse_scenarios(text: &str) -> Result<Scenarios, String> {
    if text == "all" {
        return Ok(Scenarios(Scenario::ALL.to_vec()));
    }
    Scenario::ALL
        .into_iter()
        .find(|s| s.name() == text)
        .map(|s| Scenarios(vec![s]))
        .ok_or_else(|| {
            let names: Vec<_> = Scenario::ALL.iter().map(|s| s.name()).collect();
            format!("expected all or one of {}", names.join(", "))
        })
}

/// The load shape and repetition of a run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    pub(crate) quick: bool,
    pub(crate) repeats: usize,
    pub(crate) warmup_secs: f64,
    pub(crate) duration_secs: f64,
    pub(crate) connections: usize,
    pub(crate) concurrency: usize,
}

impl Settings {
    fn new(args: &RunArgs) -> Settings {
        let (repeats, duration, warmup) = if args.quick {
            (1, 1.0, 0.3)
        } else {
            (3, 5.0, 1.0)
        };
        Settings {
            quick: args.quick,
            repeats: args.repeats.unwrap_or(repeats).max(1),
            warmup_secs: args.warmup.unwrap_or(warmup).max(0.0),
            duration_secs: args.duration.unwrap_or(duration).max(0.1),
            connections: args.connections.max(1),
            concurrency: args.concurrency.max(1),
        }
    }
}

/// Runs the benchmark; the exit code is failure when any target answered wrongly.
pub(crate) fn main(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::new(args);
    let yardmaster = yardmaster_binary(!args.no_build)?;
    if cfg!(debug_assertions) {
        shout(
            "this is a debug build of the bench: its load generator is slow; \
             use `cargo run --release -p yardmaster-bench`",
        );
    }
    let machine = Machine::detect();
    let cores = machine.cores;
    let upstreams = Upstreams::start()?;

    let mut summary = Summary::new(settings, args.scenario.0.clone(), machine);
    let mut targets = vec![Target::direct(&upstreams)];
    let ym = Target::yardmaster(&yardmaster, &upstreams)?;
    if let Some(proxy) = &ym.proxy {
        summary
            .versions
            .push(("Yardmaster".into(), proxy.version.clone()));
    }
    targets.push(ym);
    type Start = fn(&Upstreams, usize) -> anyhow::Result<Option<Target>>;
    let peers: [(Kind, &str, Start); 2] = [
        (Kind::Nginx, "nginx", Target::nginx),
        (Kind::Haproxy, "haproxy", Target::haproxy),
    ];
    for (kind, package, start) in peers {
        match start(&upstreams, cores) {
            Ok(Some(target)) => {
                if let Some(proxy) = &target.proxy {
                    summary
                        .versions
                        .push((kind.label().into(), proxy.version.clone()));
                }
                targets.push(target);
            }
            Ok(None) => {
                let note = format!(
                    "{} is not installed: measured without it \
                     (`apt-get install -y {package}`)",
                    kind.label()
                );
                shout(&note);
                summary.notes.push(note);
            }
            Err(error) => {
                let failure = format!("{} failed to start: {error:#}", kind.label());
                shout(&failure);
                summary.failures.push(failure);
            }
        }
    }
    summary.kinds = targets.iter().map(|t| t.kind).collect();
    // Every proxy is up and has not served a call yet.
    for target in &targets {
        if let Some(rss) = target.proxy.as_ref().and_then(|p| p.processes.rss_bytes()) {
            summary.idle_rss.push((target.kind, rss));
        }
    }

    for &scenario in &args.scenario.0 {
        measure_scenario(scenario, &targets, settings, &mut summary);
    }
    for target in &mut targets {
        if let Some(proxy) = target.proxy.as_mut() {
            if !proxy.is_running() {
                summary
                    .failures
                    .push(format!("{} exited during the run", target.kind.label()));
            }
        }
    }
    if !settings.quick && !args.no_h2load && args.scenario.0.contains(&Scenario::Unary) {
        cross_check(&targets, settings, &mut summary);
    }
    summary.load_after = machine::load_average();

    let markdown = report::markdown(&summary);
    writeln!(std::io::stdout(), "{markdown}").context("writing the report")?;
    let output = args.output.clone().or_else(|| {
        (!settings.quick).then(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("RESULTS.md"))
    });
    if let Some(path) = output {
        std::fs::write(&path, &markdown).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    let failures = summary.all_failures();
    for failure in &failures {
        eprintln!("FAILED: {failure}");
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Every repetition of one scenario, targets interleaved so that drift on the machine
/// (thermal, other tenants) spreads over all of them alike.
fn measure_scenario(
    scenario: Scenario,
    targets: &[Target],
    settings: Settings,
    summary: &mut Summary,
) {
    for target in targets {
        if let Some(proxy) = &target.proxy {
            proxy.processes.reset_peak();
        }
    }
    for repeat in 1..=settings.repeats {
        for target in targets {
            let sample = run_load(scenario, target, settings);
            eprintln!(
                "{:<10} {}/{} {:<10} {:>10.0} {:<14} p99 {:>8} µs  errors {}",
                scenario.name(),
                repeat,
                settings.repeats,
                target.kind.label(),
                sample.report.rate(),
                scenario.unit(),
                sample
                    .report
                    .latency
                    .map_or("-".to_owned(), |l| format!("{:.0}", l.p99_us)),
                sample.report.errors,
            );
            summary.samples.push(sample);
        }
    }
    for target in targets {
        if let Some(proxy) = &target.proxy {
            if let Some(peak) = proxy.processes.peak_rss_bytes() {
                summary.peak_rss.push((scenario, target.kind, peak));
            }
        }
    }
}

/// One load process against one target; the proxy's and the upstream's CPU time are
/// read when the load process announces the start and the end of its window.
fn run_load(scenario: Scenario, target: &Target, settings: Settings) -> Sample {
    let proxy = target.proxy.as_ref().map(|p| p.processes);
    let upstream = Processes::single(std::process::id());
    let mut sample = Sample {
        scenario,
        kind: target.kind,
        report: LoadReport::default(),
        proxy_cpu_secs: None,
        upstream_cpu_secs: None,
    };
    match load_process(scenario, target, settings, proxy, upstream, &mut sample) {
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
    target: &Target,
    settings: Settings,
    proxy: Option<Processes>,
    upstream: Processes,
    sample: &mut Sample,
) -> anyhow::Result<LoadReport> {
    let exe = std::env::current_exe().context("finding the bench binary")?;
    let mut child = Command::new(exe)
        .arg("load")
        .args(["--scenario", scenario.name()])
        .args(["--addr", &target.addr(scenario.is_grpc()).to_string()])
        .args(["--connections", &settings.connections.to_string()])
        .args(["--concurrency", &settings.concurrency.to_string()])
        .args(["--warmup-secs", &settings.warmup_secs.to_string()])
        .args(["--duration-secs", &settings.duration_secs.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the load process")?;
    let stdout = child.stdout.take().context("no stdout pipe")?;
    let (line_tx, lines) = mpsc::channel();
    // Ends when the load process closes stdout (it exits).
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let limit = Duration::from_secs_f64(settings.warmup_secs + settings.duration_secs) + LOAD_SLACK;
    let deadline = std::time::Instant::now() + limit;
    let next_line = || {
        lines
            .recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
            .map_err(|_| anyhow::anyhow!("no answer within {limit:?}"))
    };
    let result: anyhow::Result<LoadReport> = (|| {
        expect_line(next_line()?, MEASURING)?;
        let before = (proxy.and_then(|p| p.cpu_secs()), upstream.cpu_secs());
        expect_line(next_line()?, STOPPED)?;
        let after = (proxy.and_then(|p| p.cpu_secs()), upstream.cpu_secs());
        sample.proxy_cpu_secs = before.0.zip(after.0).map(|(b, a)| a - b);
        sample.upstream_cpu_secs = before.1.zip(after.1).map(|(b, a)| a - b);
        let report: LoadReport =
            serde_json::from_str(&next_line()?).context("reading the load report")?;
        Ok(report)
    })();
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

fn expect_line(line: String, expected: &str) -> anyhow::Result<()> {
    if line == expected {
        Ok(())
    } else {
        bail!("expected {expected:?} from the load process, got {line:?}")
    }
}

fn cross_check(targets: &[Target], settings: Settings, summary: &mut Summary) {
    let Some(binary) = find_program("h2load") else {
        let note = "h2load is not installed: no cross-check \
                    (`apt-get install -y nghttp2-client`)"
            .to_owned();
        shout(&note);
        summary.notes.push(note);
        return;
    };
    summary
        .versions
        .push(("h2load".into(), version_line(&binary, "--version", false)));
    let shape = H2loadShape {
        connections: settings.connections,
        concurrency: settings.concurrency,
        warmup_secs: settings.warmup_secs.ceil() as u64,
        duration_secs: settings.duration_secs.ceil().max(1.0) as u64,
    };
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => {
            summary
                .notes
                .push(format!("h2load cross-check skipped: {error}"));
            return;
        }
    };
    for target in targets {
        match h2load::run(&binary, dir.path(), target, shape) {
            Ok(result) => {
                eprintln!(
                    "h2load     {:<10} {:>10.0} calls/s",
                    target.kind.label(),
                    result.rate
                );
                summary.h2load.push(result);
            }
            Err(error) => summary
                .notes
                .push(format!("h2load against {}: {error:#}", target.kind.label())),
        }
    }
}

/// The release `yardmaster` binary in this binary's target directory
/// (`<target dir>/release/yardmaster`), built first unless `build` is false.
fn yardmaster_binary(build: bool) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("finding the bench binary")?;
    // This binary is `<target dir>/<profile>/yardmaster-bench`.
    let target_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("the bench binary is not in a cargo target directory")?;
    if build {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        eprintln!("building the release yardmaster binary ...");
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--quiet",
                "-p",
                "yardmaster",
                "--target-dir",
            ])
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .context("running cargo build")?;
        if !status.success() {
            bail!("cargo build --release -p yardmaster failed ({status})");
        }
    }
    let binary = target_dir.join("release").join("yardmaster");
    if !binary.is_file() {
        bail!(
            "{} not found: run `cargo build --release -p yardmaster` (with the same \
             CARGO_TARGET_DIR) first",
            binary.display()
        );
    }
    Ok(binary)
}

/// A message that must not scroll by unnoticed.
fn shout(message: &str) {
    eprintln!();
    eprintln!("!!! {message}");
    eprintln!();
}
