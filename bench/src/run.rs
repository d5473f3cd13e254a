//! The run: build Yardmaster, start the upstreams and every available proxy, measure each
//! scenario against every target, interleaved and repeated, then report.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context as _};

use crate::h2load::{self, H2loadShape};
use crate::load::{LoadReport, MEASURING, STOPPED};
use crate::machine::{self, Machine};
use crate::process::{open_files_limit, Processes};
use crate::report;
use crate::run_args::RunArgs;
use crate::sample::Sample;
use crate::scenario::Scenario;
use crate::settings::Settings;
use crate::summary::Summary;
use crate::target::{find_program, version_line, Kind, Target};
use crate::upstream::Upstreams;

/// Slack on top of warm-up and window for a load process to connect, finish and report.
const LOAD_SLACK: Duration = Duration::from_secs(30);

/// Runs the benchmark; the exit code is failure when any target answered wrongly.
pub(crate) fn main(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let mut settings = args.settings();
    let fd_note = settings.fit_open_files(open_files_limit());
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

    let mut summary = Summary::new(settings, args.scenarios().to_vec(), machine);
    if let Some(note) = fd_note {
        shout(&note);
        summary.notes.push(note);
    }
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
    // Yardmaster's mirror and fan-out routes, reported as targets of their own.
    summary.kinds.extend([
        Kind::YardmasterMirror,
        Kind::YardmasterMirrorShared,
        Kind::YardmasterFanout,
        Kind::HaproxyRelay,
    ]);
    // Every proxy is up and has not served a call yet.
    for target in &targets {
        if let Some(rss) = target.proxy.as_ref().and_then(|p| p.processes.rss_bytes()) {
            summary.idle_rss.push((target.kind, rss));
        }
    }

    for &scenario in args.scenarios() {
        if scenario == Scenario::BridgeIdle {
            measure_bridge_idle(&yardmaster, &upstreams, settings, &mut summary);
        } else {
            measure_scenario(
                scenario,
                &points(scenario, &targets),
                settings,
                &mut summary,
            );
        }
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
    if !settings.quick && !args.no_h2load && args.scenarios().contains(&Scenario::Unary) {
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

/// Where one (scenario, target) point sends its load, and whose CPU and memory it reads.
#[derive(Clone, Copy, Debug)]
struct Point {
    kind: Kind,
    addr: SocketAddr,
    /// The proxy's processes; `None` for direct.
    proxy: Option<Processes>,
}

/// The points of `scenario`: every target for the plain scenarios, and for `stream` also
/// HAProxy as a byte relay; Yardmaster's plain `forward` route next to its `mirror` or
/// `fanout` route (nginx and HAProxy do neither); every target with a raw TCP address
/// for `bridge-frames` (direct is the TCP echo server).
fn points(scenario: Scenario, targets: &[Target]) -> Vec<Point> {
    let point = |kind, addr, target: &Target| Point {
        kind,
        addr,
        proxy: target.proxy.as_ref().map(|p| p.processes),
    };
    let mut points = Vec::new();
    for target in targets {
        match scenario {
            Scenario::Mirror => {
                if let (Some(mirror), Some(shared)) = (target.mirror, target.mirror_shared) {
                    points.push(point(Kind::Yardmaster, target.grpc, target));
                    points.push(point(Kind::YardmasterMirror, mirror, target));
                    points.push(point(Kind::YardmasterMirrorShared, shared, target));
                }
            }
            Scenario::Fanout => {
                if let Some(addr) = target.fanout {
                    points.push(point(Kind::Yardmaster, target.grpc, target));
                    points.push(point(Kind::YardmasterFanout, addr, target));
                }
            }
            Scenario::BridgeIdle | Scenario::BridgeFrames => {
                if let Some(addr) = target.tcp {
                    points.push(point(target.kind, addr, target));
                }
            }
            Scenario::Http1 => points.push(point(target.kind, target.http, target)),
            Scenario::Stream => {
                points.push(point(target.kind, target.grpc, target));
                if let Some(relay) = target.relay {
                    points.push(point(Kind::HaproxyRelay, relay, target));
                }
            }
            Scenario::Unary | Scenario::Unary16k | Scenario::Pingpong => {
                points.push(point(target.kind, target.grpc, target));
            }
        }
    }
    points
}

/// Every repetition of one scenario, targets interleaved so that drift on the machine
/// (thermal, other tenants) spreads over all of them alike.
fn measure_scenario(
    scenario: Scenario,
    points: &[Point],
    settings: Settings,
    summary: &mut Summary,
) {
    for point in points {
        if let Some(proxy) = point.proxy {
            proxy.reset_peak();
        }
    }
    for repeat in 1..=settings.repeats {
        for &point in points {
            let sample = run_load(scenario, point, settings.concurrency, settings);
            log_sample(&sample, repeat, settings);
            summary.samples.push(sample);
        }
    }
    for point in points {
        if let Some(peak) = point.proxy.and_then(|p| p.peak_rss_bytes()) {
            summary.peak_rss.push((scenario, point.kind, peak));
        }
    }
}

/// `bridge-idle`: per repetition a fresh Yardmaster (so memory freed by earlier scenarios
/// cannot hide the clients' cost), its RSS read after start and again at the end of a
/// window in which `bridge_clients` clients sit idle on its bridge.
fn measure_bridge_idle(
    binary: &Path,
    upstreams: &Upstreams,
    settings: Settings,
    summary: &mut Summary,
) {
    let scenario = Scenario::BridgeIdle;
    for repeat in 1..=settings.repeats {
        let target = match Target::yardmaster(binary, upstreams) {
            Ok(target) => target,
            Err(error) => {
                summary.failures.push(format!(
                    "{}: Yardmaster failed to start: {error:#}",
                    scenario.name()
                ));
                return;
            }
        };
        let Some(point) = points(scenario, std::slice::from_ref(&target)).pop() else {
            summary
                .failures
                .push(format!("{}: Yardmaster has no bridge", scenario.name()));
            return;
        };
        let idle = point.proxy.and_then(|p| p.rss_bytes());
        let mut sample = run_load(scenario, point, settings.bridge_clients, settings);
        sample.idle_rss_bytes = idle;
        log_sample(&sample, repeat, settings);
        if let Some(peak) = point.proxy.and_then(|p| p.peak_rss_bytes()) {
            summary.peak_rss.retain(|&(s, _, _)| s != scenario);
            summary.peak_rss.push((scenario, point.kind, peak));
        }
        summary.samples.push(sample);
        drop(target);
    }
}

fn log_sample(sample: &Sample, repeat: usize, settings: Settings) {
    let scenario = sample.scenario;
    eprintln!(
        "{:<13} {}/{} {:<21} {:>10.0} {:<14} p50 {:>8} p99 {:>8} µs  errors {}",
        scenario.name(),
        repeat,
        settings.repeats,
        sample.kind.label(),
        if scenario == Scenario::BridgeIdle {
            sample.report.operations as f64
        } else {
            sample.report.rate()
        },
        scenario.unit(),
        sample
            .report
            .latency
            .map_or("-".to_owned(), |l| format!("{:.0}", l.p50_us)),
        sample
            .report
            .latency
            .map_or("-".to_owned(), |l| format!("{:.0}", l.p99_us)),
        sample.report.errors,
    );
    if let Some(per_client) = sample.bytes_per_client() {
        eprintln!(
            "{:<13} gateway memory {:.1} KiB per idle client",
            scenario.name(),
            per_client / 1024.0
        );
    }
}

/// One load process against one point with `concurrency` calls (or clients) in flight;
/// the proxy's and the upstream's CPU time are read when the load process announces the
/// start and the end of its window, the proxy's RSS at the end.
fn run_load(scenario: Scenario, point: Point, concurrency: usize, settings: Settings) -> Sample {
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
    let proxy = point.proxy;
    let exe = std::env::current_exe().context("finding the bench binary")?;
    let mut command = Command::new(exe);
    command.arg("load");
    if matches!(scenario, Scenario::Mirror | Scenario::Fanout) {
        command.args(["--rate", &settings.rate.to_string()]);
    }
    let mut child = command
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
    // Connecting thousands of idle bridge clients comes before the warm-up.
    let connecting = if scenario == Scenario::BridgeIdle {
        Duration::from_millis(u64::try_from(settings.concurrency).unwrap_or(u64::MAX))
    } else {
        Duration::ZERO
    };
    let limit = Duration::from_secs_f64(settings.warmup_secs + settings.duration_secs)
        + LOAD_SLACK
        + connecting;
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
        sample.held_rss_bytes = proxy.and_then(|p| p.rss_bytes());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::Upstreams;

    fn yardmaster_target() -> Target {
        let addr = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        Target {
            kind: Kind::Yardmaster,
            grpc: addr(9001),
            http: addr(9002),
            mirror: Some(addr(9003)),
            mirror_shared: Some(addr(9006)),
            fanout: Some(addr(9004)),
            tcp: Some(addr(9005)),
            relay: None,
            proxy: None,
        }
    }

    #[test]
    fn mirror_and_fanout_compare_yardmaster_routes_and_frames_go_to_tcp_addresses() {
        let upstreams = Upstreams::addresses(
            "127.0.0.1:7001".parse().unwrap(),
            "127.0.0.1:7002".parse().unwrap(),
        );
        let targets = [Target::direct(&upstreams), yardmaster_target()];
        let shape = |scenario| -> Vec<(Kind, u16)> {
            points(scenario, &targets)
                .iter()
                .map(|p| (p.kind, p.addr.port()))
                .collect()
        };
        assert_eq!(
            shape(Scenario::Mirror),
            vec![
                (Kind::Yardmaster, 9001),
                (Kind::YardmasterMirror, 9003),
                (Kind::YardmasterMirrorShared, 9006)
            ]
        );
        assert_eq!(
            shape(Scenario::Fanout),
            vec![(Kind::Yardmaster, 9001), (Kind::YardmasterFanout, 9004)]
        );
        assert_eq!(
            shape(Scenario::BridgeFrames),
            vec![(Kind::Direct, 7022), (Kind::Yardmaster, 9005)]
        );
        assert_eq!(
            shape(Scenario::Http1),
            vec![(Kind::Direct, 7002), (Kind::Yardmaster, 9002)]
        );
        assert_eq!(
            shape(Scenario::Unary),
            vec![(Kind::Direct, 7001), (Kind::Yardmaster, 9001)]
        );
    }

    #[test]
    fn stream_adds_the_byte_relay_of_a_target_that_has_one() {
        let upstreams = Upstreams::addresses(
            "127.0.0.1:7001".parse().unwrap(),
            "127.0.0.1:7002".parse().unwrap(),
        );
        let haproxy = Target {
            kind: Kind::Haproxy,
            relay: Some(SocketAddr::from(([127, 0, 0, 1], 9107))),
            ..yardmaster_target()
        };
        let targets = [Target::direct(&upstreams), yardmaster_target(), haproxy];
        let stream: Vec<(Kind, u16)> = points(Scenario::Stream, &targets)
            .iter()
            .map(|p| (p.kind, p.addr.port()))
            .collect();
        assert_eq!(
            stream,
            vec![
                (Kind::Direct, 7001),
                (Kind::Yardmaster, 9001),
                (Kind::Haproxy, 9001),
                (Kind::HaproxyRelay, 9107)
            ]
        );
        let unary = points(Scenario::Unary, &targets);
        assert!(unary.iter().all(|p| p.kind != Kind::HaproxyRelay));
    }
}
