//! The run's results: every [`Sample`] collected in a [`Summary`], reduced to medians per
//! (scenario, target) [`Row`], judged against the targets ([`verdict`]) and written
//! as the markdown of `bench/RESULTS.md` ([`markdown`]).

use std::fmt::{self, Write as _};

use crate::h2load::H2loadResult;
use crate::load::{Latency, LoadReport};
use crate::machine::Machine;
use crate::scenario::Scenario;
use crate::settings::Settings;
use crate::target::Kind;

const MIB: f64 = 1024.0 * 1024.0;
/// Yardmaster's idle resident memory must stay under this.
const IDLE_RSS_TARGET_BYTES: u64 = 20 * 1024 * 1024;
/// Yardmaster's streaming throughput must reach this share of direct.
const STREAM_SHARE_OF_DIRECT_TARGET: f64 = 0.9;
/// Mirroring to two targets may add at most this share to the primary's p50 (issue 4).
const MIRROR_P50_SLOWDOWN_TARGET: f64 = 0.10;
/// Gateway memory per idle bridge client (issue 5).
const BRIDGE_BYTES_PER_CLIENT_TARGET: f64 = 16.0 * 1024.0;
/// "Close to a plain TCP proxy's" frame throughput (issue 5), read as this share of
/// HAProxy's in `mode tcp`.
const BRIDGE_FRAMES_SHARE_OF_HAPROXY_TARGET: f64 = 0.9;

/// One load run against one target.
#[derive(Clone, Debug)]
pub(crate) struct Sample {
    pub(crate) scenario: Scenario,
    pub(crate) kind: Kind,
    pub(crate) report: LoadReport,
    /// CPU seconds the proxy used during the measured window; `None` for direct.
    pub(crate) proxy_cpu_secs: Option<f64>,
    /// CPU seconds the upstreams (the bench process) used during the window.
    pub(crate) upstream_cpu_secs: Option<f64>,
    /// `bridge-idle`: the proxy's resident memory after start, before any client.
    pub(crate) idle_rss_bytes: Option<u64>,
    /// The proxy's resident memory at the end of the window (`bridge-idle`: with every
    /// client held).
    pub(crate) held_rss_bytes: Option<u64>,
}

impl Sample {
    /// `bridge-idle`: the growth of the proxy's RSS per client held.
    pub(crate) fn bytes_per_client(&self) -> Option<f64> {
        bytes_per_client(
            self.idle_rss_bytes?,
            self.held_rss_bytes?,
            self.report.operations,
        )
    }
}

/// (RSS with the clients − RSS without) ÷ clients; `None` without clients. Memory that
/// shrank counts as zero.
pub(crate) fn bytes_per_client(idle_bytes: u64, held_bytes: u64, clients: u64) -> Option<f64> {
    (clients > 0).then(|| held_bytes.saturating_sub(idle_bytes) as f64 / clients as f64)
}

/// Everything a run found, in the order it found it.
#[derive(Debug)]
pub(crate) struct Summary {
    pub(crate) settings: Settings,
    pub(crate) scenarios: Vec<Scenario>,
    pub(crate) machine: Machine,
    /// Load averages when the run ended.
    pub(crate) load_after: Option<String>,
    /// The targets measured, in interleaving order.
    pub(crate) kinds: Vec<Kind>,
    /// (program, version line) of every program involved.
    pub(crate) versions: Vec<(String, String)>,
    /// Resident memory of each proxy after start, before any load.
    pub(crate) idle_rss: Vec<(Kind, u64)>,
    /// Peak resident memory of each proxy during each scenario.
    pub(crate) peak_rss: Vec<(Scenario, Kind, u64)>,
    pub(crate) samples: Vec<Sample>,
    pub(crate) h2load: Vec<H2loadResult>,
    /// Things the reader should know (a proxy not installed).
    pub(crate) notes: Vec<String>,
    /// Things that went wrong outside the samples (a proxy failed to start or died).
    pub(crate) failures: Vec<String>,
}

/// The medians of one (scenario, target) point over its repetitions.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub(crate) kind: Kind,
    /// Throughput of each repetition, in run order.
    pub(crate) rates: Vec<f64>,
    pub(crate) rate: f64,
    /// Median of each percentile; `None` when no repetition timed its operations.
    pub(crate) latency: Option<Latency>,
    pub(crate) operations: u64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    pub(crate) proxy_cpu_secs: Option<f64>,
    pub(crate) proxy_cpu_us_per_op: Option<f64>,
    pub(crate) upstream_cpu_us_per_op: Option<f64>,
    pub(crate) peak_rss_bytes: Option<u64>,
    /// `bridge-idle`: medians of the RSS before and with the clients, and per client.
    pub(crate) idle_rss_bytes: Option<f64>,
    pub(crate) held_rss_bytes: Option<f64>,
    pub(crate) bytes_per_client: Option<f64>,
    /// `bridge-idle`: bytes per client of each repetition, in run order.
    pub(crate) per_client_runs: Vec<f64>,
}

impl Summary {
    /// An empty summary of a run about to start.
    pub(crate) fn new(settings: Settings, scenarios: Vec<Scenario>, machine: Machine) -> Summary {
        Summary {
            settings,
            scenarios,
            machine,
            load_after: None,
            kinds: Vec::new(),
            versions: Vec::new(),
            idle_rss: Vec::new(),
            peak_rss: Vec::new(),
            samples: Vec::new(),
            h2load: Vec::new(),
            notes: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// The medians of `kind` in `scenario`; `None` when it was not measured.
    pub(crate) fn row(&self, scenario: Scenario, kind: Kind) -> Option<Row> {
        let samples: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| s.scenario == scenario && s.kind == kind)
            .collect();
        if samples.is_empty() {
            return None;
        }
        let rates: Vec<f64> = samples.iter().map(|s| s.report.rate()).collect();
        let latencies: Vec<Latency> = samples.iter().filter_map(|s| s.report.latency).collect();
        let latency = (!latencies.is_empty()).then(|| Latency {
            p50_us: median(latencies.iter().map(|l| l.p50_us)).unwrap_or_default(),
            p90_us: median(latencies.iter().map(|l| l.p90_us)).unwrap_or_default(),
            p99_us: median(latencies.iter().map(|l| l.p99_us)).unwrap_or_default(),
            max_us: median(latencies.iter().map(|l| l.max_us)).unwrap_or_default(),
        });
        let per_op_us = |cpu: Option<f64>, sample: &Sample| {
            let operations = sample.report.operations;
            cpu.filter(|_| operations > 0)
                .map(|secs| secs * 1e6 / operations as f64)
        };
        Some(Row {
            kind,
            rate: median(rates.iter().copied()).unwrap_or_default(),
            rates,
            latency,
            operations: samples.iter().map(|s| s.report.operations).sum(),
            errors: samples.iter().map(|s| s.report.errors).sum(),
            first_error: samples.iter().find_map(|s| s.report.first_error.clone()),
            proxy_cpu_secs: median(samples.iter().filter_map(|s| s.proxy_cpu_secs)),
            proxy_cpu_us_per_op: median(
                samples
                    .iter()
                    .filter_map(|s| per_op_us(s.proxy_cpu_secs, s)),
            ),
            upstream_cpu_us_per_op: median(
                samples
                    .iter()
                    .filter_map(|s| per_op_us(s.upstream_cpu_secs, s)),
            ),
            peak_rss_bytes: self
                .peak_rss
                .iter()
                .find(|(s, k, _)| *s == scenario && *k == kind)
                .map(|&(_, _, bytes)| bytes),
            idle_rss_bytes: median(
                samples
                    .iter()
                    .filter_map(|s| s.idle_rss_bytes.map(|b| b as f64)),
            ),
            held_rss_bytes: median(
                samples
                    .iter()
                    .filter_map(|s| s.held_rss_bytes.map(|b| b as f64)),
            ),
            bytes_per_client: median(samples.iter().filter_map(|s| s.bytes_per_client())),
            per_client_runs: samples
                .iter()
                .filter_map(|s| s.bytes_per_client())
                .collect(),
        })
    }

    /// The rows of `scenario`, one per measured target, in interleaving order.
    pub(crate) fn rows(&self, scenario: Scenario) -> Vec<Row> {
        self.kinds
            .iter()
            .filter_map(|&kind| self.row(scenario, kind))
            .collect()
    }

    /// Every reason the run is not a pass: a target that failed to start or died, a
    /// wrong or failed answer, a point where no operation completed at all.
    pub(crate) fn all_failures(&self) -> Vec<String> {
        let mut failures = self.failures.clone();
        for &scenario in &self.scenarios {
            for row in self.rows(scenario) {
                let point = format!("{} via {}", scenario.name(), row.kind.label());
                if row.errors > 0 {
                    failures.push(format!(
                        "{point}: {} errors, first: {}",
                        row.errors,
                        row.first_error.as_deref().unwrap_or("(not recorded)")
                    ));
                } else if row.operations == 0 {
                    failures.push(format!("{point}: no operation completed"));
                }
            }
        }
        failures
    }

    fn idle_rss_of(&self, kind: Kind) -> Option<u64> {
        self.idle_rss
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|&(_, bytes)| bytes)
    }
}

/// Median of `values` (mean of the middle two for an even count); `None` when empty.
pub(crate) fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut values: Vec<f64> = values.into_iter().collect();
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => None,
        len if len % 2 == 1 => values.get(middle).copied(),
        _ => Some((values.get(middle - 1)? + values.get(middle)?) / 2.0),
    }
}

/// Whether one of the data-path targets holds in this run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Met,
    Missed,
    /// Not measured in this run (a peer not installed, a scenario not run).
    Unknown,
}

/// One target of the issue, judged on this run's medians.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Check {
    pub(crate) goal: String,
    pub(crate) outcome: Outcome,
    pub(crate) detail: String,
}

impl Check {
    fn judge(goal: String, figures: Option<(bool, String)>) -> Check {
        match figures {
            Some((holds, detail)) => Check {
                goal,
                outcome: if holds { Outcome::Met } else { Outcome::Missed },
                detail,
            },
            None => Check {
                goal,
                outcome: Outcome::Unknown,
                detail: "not measured in this run".to_owned(),
            },
        }
    }
}

/// The targets for Yardmaster, judged on this run (a verdict, never a test).
pub(crate) fn verdict(summary: &Summary) -> Vec<Check> {
    let unary = |kind| summary.row(Scenario::Unary, kind);
    let ym = unary(Kind::Yardmaster);
    let mut checks = Vec::new();
    for peer in [Kind::Nginx, Kind::Haproxy] {
        let theirs = unary(peer);
        let both = ym.as_ref().zip(theirs.as_ref());
        checks.push(Check::judge(
            format!("unary throughput ≥ {}'s", peer.label()),
            both.map(|(ym, peer)| {
                (
                    ym.rate >= peer.rate,
                    format!("{} vs {} calls/s", rate(ym.rate), rate(peer.rate)),
                )
            }),
        ));
        checks.push(Check::judge(
            format!("unary p99 latency ≤ {}'s", peer.label()),
            both.and_then(|(ym, peer)| {
                let (ours, theirs) = (ym.latency?.p99_us, peer.latency?.p99_us);
                Some((ours <= theirs, format!("{} vs {} µs", us(ours), us(theirs))))
            }),
        ));
    }
    let nginx = unary(Kind::Nginx);
    checks.push(Check::judge(
        "unary CPU per call ≤ nginx's".to_owned(),
        ym.as_ref().zip(nginx.as_ref()).and_then(|(ym, nginx)| {
            let (ours, theirs) = (ym.proxy_cpu_us_per_op?, nginx.proxy_cpu_us_per_op?);
            Some((ours <= theirs, format!("{} vs {} µs", us(ours), us(theirs))))
        }),
    ));
    let mut stream = share_check(
        "streaming throughput",
        "direct",
        STREAM_SHARE_OF_DIRECT_TARGET,
        summary.row(Scenario::Stream, Kind::Yardmaster),
        summary.row(Scenario::Stream, Kind::Direct),
        "msgs/s",
    );
    if let (Some(relay), Some(direct)) = (
        summary.row(Scenario::Stream, Kind::HaproxyRelay),
        summary.row(Scenario::Stream, Kind::Direct),
    ) {
        if direct.rate > 0.0 {
            stream.detail.push_str(&format!(
                "; a byte relay (HAProxy `mode tcp`, no HTTP/2): {:.0} %",
                relay.rate / direct.rate * 100.0
            ));
        }
    }
    checks.push(stream);
    checks.push(mirror_check(summary));
    checks.push(Check::judge(
        format!(
            "bridge: ≤ {:.0} KiB of gateway memory per idle client",
            BRIDGE_BYTES_PER_CLIENT_TARGET / 1024.0
        ),
        summary
            .row(Scenario::BridgeIdle, Kind::Yardmaster)
            .and_then(|row| {
                let per_client = row.bytes_per_client?;
                Some((
                    per_client <= BRIDGE_BYTES_PER_CLIENT_TARGET,
                    format!(
                        "{:.1} KiB per client ({} clients held)",
                        per_client / 1024.0,
                        row.operations / row.rates.len().max(1) as u64
                    ),
                ))
            }),
    ));
    checks.push(share_check(
        "bridge frames/s",
        "HAProxy's (`mode tcp`)",
        BRIDGE_FRAMES_SHARE_OF_HAPROXY_TARGET,
        summary.row(Scenario::BridgeFrames, Kind::Yardmaster),
        summary.row(Scenario::BridgeFrames, Kind::Haproxy),
        "frames/s",
    ));
    checks.push(Check::judge(
        format!("idle RSS < {:.0} MiB", IDLE_RSS_TARGET_BYTES as f64 / MIB),
        summary
            .idle_rss_of(Kind::Yardmaster)
            .map(|bytes| (bytes < IDLE_RSS_TARGET_BYTES, format!("{} MiB", mib(bytes)))),
    ));
    checks
}

/// `what` of Yardmaster (`ours`) at least `target` (a share) of `base`'s (named `of`).
fn share_check(
    what: &str,
    of: &str,
    target: f64,
    ours: Option<Row>,
    base: Option<Row>,
    unit: &str,
) -> Check {
    Check::judge(
        format!("{what} ≥ {:.0} % of {of}", target * 100.0),
        ours.zip(base)
            .filter(|(_, base)| base.rate > 0.0)
            .map(|(ours, base)| {
                let share = ours.rate / base.rate;
                (
                    share >= target,
                    format!(
                        "{:.0} % ({} vs {} {unit})",
                        share * 100.0,
                        rate(ours.rate),
                        rate(base.rate)
                    ),
                )
            }),
    )
}

/// Issue 4: mirroring every call to two more targets keeps the primary's p50 within 10 %
/// of the same calls through a plain `forward` route. Judged with the copy targets at the
/// lowest CPU priority, as if on other hosts: the goal is about what the gateway's
/// mirroring costs the primary, not what two more upstreams on the same two cores cost.
/// The figure with copy targets sharing the cores is reported next to it.
fn mirror_check(summary: &Summary) -> Check {
    let plain = summary.row(Scenario::Mirror, Kind::Yardmaster);
    let mirrored = summary.row(Scenario::Mirror, Kind::YardmasterMirror);
    let shared = summary.row(Scenario::Mirror, Kind::YardmasterMirrorShared);
    Check::judge(
        format!(
            "mirror ×2: primary p50 within {:.0} % of no mirroring",
            MIRROR_P50_SLOWDOWN_TARGET * 100.0
        ),
        plain.zip(mirrored).and_then(|(plain, mirrored)| {
            let (ours, base) = (mirrored.latency?, plain.latency?);
            (base.p50_us > 0.0).then(|| {
                let slowdown = |p50_us: f64| (p50_us / base.p50_us - 1.0) * 100.0;
                let mut detail = format!(
                    "copy targets as if on other hosts: p50 {} vs {} µs ({:+.0} %), \
                     p99 {} vs {} µs",
                    us(ours.p50_us),
                    us(base.p50_us),
                    slowdown(ours.p50_us),
                    us(ours.p99_us),
                    us(base.p99_us)
                );
                if let Some(shared) = shared.and_then(|row| row.latency) {
                    detail.push_str(&format!(
                        "; copy targets sharing the cores: p50 {} µs ({:+.0} %)",
                        us(shared.p50_us),
                        slowdown(shared.p50_us)
                    ));
                }
                (
                    ours.p50_us / base.p50_us - 1.0 <= MIRROR_P50_SLOWDOWN_TARGET,
                    detail,
                )
            })
        }),
    )
}

/// The report as markdown.
pub(crate) fn markdown(summary: &Summary) -> String {
    let mut out = String::new();
    // Writing to a `String` cannot fail.
    if write_report(&mut out, summary).is_err() {
        out.push_str("\n(report formatting failed)\n");
    }
    out
}

fn write_report(out: &mut String, summary: &Summary) -> fmt::Result {
    let settings = summary.settings;
    writeln!(out, "# Yardmaster benchmark results")?;
    writeln!(out)?;
    writeln!(
        out,
        "Written by `cargo run --release -p yardmaster-bench{}` on {}. Medians of {} \
         repetition(s) of {} s windows after {} s of warm-up; targets interleaved (direct, \
         Yardmaster, nginx, HAProxy, repeated). See `bench/README.md` for what each scenario \
         measures.",
        if settings.quick { " -- --quick" } else { "" },
        summary.machine.started,
        settings.repeats,
        settings.duration_secs,
        settings.warmup_secs,
    )?;
    writeln!(out)?;
    write_machine(out, summary)?;
    write_verdict(out, summary)?;
    for &scenario in &summary.scenarios {
        write_scenario(out, summary, scenario)?;
    }
    write_memory(out, summary)?;
    write_h2load(out, summary)?;
    write_notes(out, summary)
}

fn write_machine(out: &mut String, summary: &Summary) -> fmt::Result {
    let machine = &summary.machine;
    writeln!(out, "## Machine")?;
    writeln!(out)?;
    let cores = if machine.online_cpus > 0 && machine.online_cpus != machine.cores {
        format!("{} usable of {} online", machine.cores, machine.online_cpus)
    } else {
        machine.cores.to_string()
    };
    writeln!(out, "- CPU: {}, {cores} cores", machine.cpu_model)?;
    if let Some(bytes) = machine.memory_bytes {
        writeln!(out, "- Memory: {:.1} GiB", bytes as f64 / MIB / 1024.0)?;
    }
    writeln!(out, "- Kernel: Linux {}", machine.kernel)?;
    writeln!(
        out,
        "- Load average (1, 5, 15 min): {} at the start, {} at the end. The load generator, \
         the proxy and the upstreams share these cores, so anything else running skews \
         every figure.",
        machine.load_before,
        summary.load_after.as_deref().unwrap_or("unknown")
    )?;
    writeln!(out, "- {}", machine.rustc)?;
    for (program, version) in &summary.versions {
        writeln!(out, "- {program}: {version}")?;
    }
    writeln!(
        out,
        "- Load shape: {} HTTP/2 connections, {} calls in flight (HTTP/1.1: {} connections)",
        summary.settings.connections, summary.settings.concurrency, summary.settings.concurrency
    )?;
    writeln!(out)
}

fn write_verdict(out: &mut String, summary: &Summary) -> fmt::Result {
    let checks = verdict(summary);
    if checks.iter().all(|c| c.outcome == Outcome::Unknown) {
        return Ok(());
    }
    writeln!(out, "## Targets (issues 4, 5 and 6)")?;
    writeln!(out)?;
    writeln!(out, "| target | this run | figures |")?;
    writeln!(out, "| --- | --- | --- |")?;
    for check in checks {
        let outcome = match check.outcome {
            Outcome::Met => "met",
            Outcome::Missed => "**missed**",
            Outcome::Unknown => "unknown",
        };
        writeln!(out, "| {} | {outcome} | {} |", check.goal, check.detail)?;
    }
    writeln!(out)
}

fn write_scenario(out: &mut String, summary: &Summary, scenario: Scenario) -> fmt::Result {
    let settings = summary.settings;
    let rows = summary.rows(scenario);
    writeln!(out, "## {}", scenario.name())?;
    writeln!(out)?;
    writeln!(out, "{}.", scenario.describe(settings))?;
    writeln!(out)?;
    if rows.is_empty() {
        return writeln!(out, "Not measured.\n");
    }
    if scenario == Scenario::BridgeIdle {
        return write_bridge_idle(out, &rows, settings.bridge_clients);
    }
    let per = scenario.per();
    write!(out, "| target | {} |", scenario.unit())?;
    for row in &rows {
        write!(out, " ÷ {} |", row.kind.label())?;
    }
    writeln!(
        out,
        " p50 µs | p90 µs | p99 µs | max µs | errors | proxy CPU s | proxy CPU µs/{per} | \
         upstream CPU µs/{per} | proxy peak RSS MiB | each run |"
    )?;
    writeln!(out, "|{}", " --- |".repeat(rows.len() + 12))?;
    for row in &rows {
        write!(out, "| {} | {} |", row.kind.label(), rate(row.rate))?;
        for other in &rows {
            if other.kind == row.kind {
                write!(out, " — |")?;
            } else {
                write!(out, " {} |", ratio(row.rate, other.rate))?;
            }
        }
        let latency =
            |pick: fn(&Latency) -> f64| row.latency.as_ref().map_or("—".into(), |l| us(pick(l)));
        writeln!(
            out,
            " {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            latency(|l| l.p50_us),
            latency(|l| l.p90_us),
            latency(|l| l.p99_us),
            latency(|l| l.max_us),
            row.errors,
            row.proxy_cpu_secs.map_or("—".into(), |s| format!("{s:.2}")),
            row.proxy_cpu_us_per_op.map_or("—".into(), us),
            row.upstream_cpu_us_per_op.map_or("—".into(), us),
            row.peak_rss_bytes.map_or("—".into(), mib),
            row.rates
                .iter()
                .map(|&r| rate(r))
                .collect::<Vec<_>>()
                .join(" "),
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "`÷ X`: this row's {} divided by X's. CPU is user + system time from `/proc` over \
         the measured window; upstream CPU is the bench process serving the upstreams.",
        scenario.unit()
    )?;
    writeln!(out)
}

fn write_bridge_idle(out: &mut String, rows: &[Row], clients: usize) -> fmt::Result {
    writeln!(
        out,
        "| target | clients asked | clients held | idle RSS MiB | RSS with clients MiB | \
         KiB per client | errors | proxy CPU s | each run KiB per client |"
    )?;
    writeln!(out, "|{}", " --- |".repeat(9))?;
    for row in rows {
        let held = row.operations / row.rates.len().max(1) as u64;
        writeln!(
            out,
            "| {} | {clients} | {held} | {} | {} | {} | {} | {} | {} |",
            row.kind.label(),
            row.idle_rss_bytes.map_or("—".into(), |b| mib(b as u64)),
            row.held_rss_bytes.map_or("—".into(), |b| mib(b as u64)),
            row.bytes_per_client
                .map_or("—".into(), |b| format!("{:.1}", b / 1024.0)),
            row.errors,
            row.proxy_cpu_secs.map_or("—".into(), |s| format!("{s:.2}")),
            row.per_client_runs
                .iter()
                .map(|b| format!("{:.1}", b / 1024.0))
                .collect::<Vec<_>>()
                .join(" "),
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "KiB per client: (RSS at the end of the window − RSS after start) ÷ clients held, \
         median over the repetitions; clients held is the mean over them."
    )?;
    writeln!(out)
}

fn write_memory(out: &mut String, summary: &Summary) -> fmt::Result {
    if summary.idle_rss.is_empty() {
        return Ok(());
    }
    writeln!(out, "## Idle memory")?;
    writeln!(out)?;
    writeln!(
        out,
        "Resident memory after start, before any load (nginx: master and workers summed)."
    )?;
    writeln!(out)?;
    writeln!(out, "| proxy | idle RSS MiB |")?;
    writeln!(out, "| --- | --- |")?;
    for &(kind, bytes) in &summary.idle_rss {
        writeln!(out, "| {} | {} |", kind.label(), mib(bytes))?;
    }
    writeln!(out)
}

fn write_h2load(out: &mut String, summary: &Summary) -> fmt::Result {
    if summary.h2load.is_empty() {
        return Ok(());
    }
    writeln!(out, "## h2load cross-check (unary)")?;
    writeln!(out)?;
    writeln!(
        out,
        "The same 100 B unary calls from h2load (nghttp2), same connections and streams; \
         h2load counts HTTP 2xx, not `grpc-status`."
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "| target | h2load calls/s | harness calls/s | h2load ÷ harness | succeeded | failed | h2load mean latency |"
    )?;
    writeln!(out, "| --- | --- | --- | --- | --- | --- | --- |")?;
    for result in &summary.h2load {
        let harness = summary
            .row(Scenario::Unary, result.kind)
            .map(|row| row.rate);
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            result.kind.label(),
            rate(result.rate),
            harness.map_or("—".into(), rate),
            harness.map_or("—".into(), |h| ratio(result.rate, h)),
            result.succeeded,
            result.failed,
            result.mean_latency,
        )?;
    }
    writeln!(out)
}

fn write_notes(out: &mut String, summary: &Summary) -> fmt::Result {
    let failures = summary.all_failures();
    if summary.notes.is_empty() && failures.is_empty() {
        return Ok(());
    }
    writeln!(out, "## Notes")?;
    writeln!(out)?;
    for note in &summary.notes {
        writeln!(out, "- {note}")?;
    }
    for failure in &failures {
        // Continuation lines (a proxy's log) stay inside the list item.
        writeln!(out, "- FAILED: {}", failure.replace('\n', "\n  "))?;
    }
    writeln!(out)
}

/// `1.81M`, `41.2k`, `950`.
fn rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.2}M", per_sec / 1e6)
    } else if per_sec >= 1e3 {
        format!("{:.1}k", per_sec / 1e3)
    } else {
        format!("{per_sec:.0}")
    }
}

/// Whole microseconds from 100 up, one decimal below.
fn us(micros: f64) -> String {
    if micros >= 100.0 {
        format!("{micros:.0}")
    } else {
        format!("{micros:.1}")
    }
}

fn ratio(numerator: f64, denominator: f64) -> String {
    if denominator > 0.0 {
        format!("{:.2}", numerator / denominator)
    } else {
        "—".to_owned()
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / MIB)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            quick: false,
            repeats: 3,
            warmup_secs: 1.0,
            duration_secs: 5.0,
            connections: 4,
            concurrency: 64,
            rate: 2000.0,
            bridge_clients: 10_000,
        }
    }

    /// `operations` in a 1 s window, with `cpu_us` of proxy CPU per operation.
    fn sample(scenario: Scenario, kind: Kind, operations: u64, p99_us: f64, cpu_us: f64) -> Sample {
        Sample {
            scenario,
            kind,
            report: LoadReport {
                operations,
                errors: 0,
                elapsed_secs: 1.0,
                latency: Some(Latency {
                    p50_us: p99_us / 4.0,
                    p90_us: p99_us / 2.0,
                    p99_us,
                    max_us: p99_us * 2.0,
                }),
                first_error: None,
            },
            proxy_cpu_secs: (kind != Kind::Direct).then_some(operations as f64 * cpu_us * 1e-6),
            upstream_cpu_secs: Some(operations as f64 * 5e-6),
            idle_rss_bytes: None,
            held_rss_bytes: None,
        }
    }

    /// Direct at 70k, Yardmaster at 50k (10 µs CPU per call), nginx at 25k (29 µs), three
    /// repetitions each, unary.
    fn summary() -> Summary {
        let mut summary = Summary::new(settings(), vec![Scenario::Unary], Machine::default());
        summary.kinds = vec![Kind::Direct, Kind::Yardmaster, Kind::Nginx];
        for (kind, rates, p99, cpu_us) in [
            (Kind::Direct, [69_000, 70_000, 71_000], 900.0, 0.0),
            (Kind::Yardmaster, [52_000, 48_000, 50_000], 1500.0, 10.0),
            (Kind::Nginx, [25_000, 26_000, 24_000], 4000.0, 29.0),
        ] {
            for ops in rates {
                summary
                    .samples
                    .push(sample(Scenario::Unary, kind, ops, p99, cpu_us));
            }
        }
        summary.idle_rss = vec![(Kind::Yardmaster, 8 * 1024 * 1024), (Kind::Nginx, 12 << 20)];
        summary
    }

    #[test]
    fn median_of_odd_even_and_empty_sets() {
        assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median([4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median([7.5]), Some(7.5));
        assert_eq!(median(std::iter::empty()), None);
    }

    #[test]
    fn row_takes_medians_over_repetitions() {
        let summary = summary();
        let row = summary.row(Scenario::Unary, Kind::Yardmaster).unwrap();
        assert_eq!(row.rates, vec![52_000.0, 48_000.0, 50_000.0]);
        assert_eq!(row.rate, 50_000.0);
        assert_eq!(row.operations, 150_000);
        assert_eq!(row.errors, 0);
        let latency = row.latency.unwrap();
        assert_eq!(latency.p99_us, 1500.0);
        assert_eq!(latency.p50_us, 375.0);
        assert_eq!(latency.max_us, 3000.0);
        // 10 µs of proxy CPU and 5 µs of upstream CPU per operation in every repetition.
        assert!((row.proxy_cpu_us_per_op.unwrap() - 10.0).abs() < 1e-9);
        assert!((row.upstream_cpu_us_per_op.unwrap() - 5.0).abs() < 1e-9);
        assert!((row.proxy_cpu_secs.unwrap() - 0.5).abs() < 1e-9);
        assert_eq!(
            summary
                .row(Scenario::Unary, Kind::Direct)
                .unwrap()
                .proxy_cpu_secs,
            None
        );
        assert!(summary.row(Scenario::Stream, Kind::Direct).is_none());
    }

    #[test]
    fn a_clean_run_has_no_failures_and_errors_or_silence_are_failures() {
        let mut summary = summary();
        assert_eq!(summary.all_failures(), Vec::<String>::new());

        summary.samples[4].report.errors = 2;
        summary.samples[4].report.first_error = Some("Unavailable: boom".to_owned());
        for sample in summary.samples.iter_mut().filter(|s| s.kind == Kind::Nginx) {
            sample.report.operations = 0;
        }
        summary
            .failures
            .push("HAProxy failed to start: x".to_owned());
        assert_eq!(
            summary.all_failures(),
            vec![
                "HAProxy failed to start: x".to_owned(),
                "unary via Yardmaster: 2 errors, first: Unavailable: boom".to_owned(),
                "unary via nginx: no operation completed".to_owned(),
            ]
        );
    }

    #[test]
    fn verdict_compares_yardmaster_with_peers_and_marks_missing_ones_unknown() {
        let checks = verdict(&summary());
        let outcome = |goal: &str| {
            checks
                .iter()
                .find(|c| c.goal == goal)
                .map(|c| (c.outcome, c.detail.clone()))
                .unwrap()
        };
        assert_eq!(
            outcome("unary throughput ≥ nginx's"),
            (Outcome::Met, "50.0k vs 25.0k calls/s".to_owned())
        );
        assert_eq!(
            outcome("unary p99 latency ≤ nginx's"),
            (Outcome::Met, "1500 vs 4000 µs".to_owned())
        );
        assert_eq!(outcome("unary throughput ≥ HAProxy's").0, Outcome::Unknown);
        assert_eq!(
            outcome("unary CPU per call ≤ nginx's"),
            (Outcome::Met, "10.0 vs 29.0 µs".to_owned())
        );
        assert_eq!(
            outcome("streaming throughput ≥ 90 % of direct").0,
            Outcome::Unknown
        );
        assert_eq!(
            outcome("idle RSS < 20 MiB"),
            (Outcome::Met, "8.0 MiB".to_owned())
        );
    }

    #[test]
    fn verdict_reports_a_missed_target() {
        let mut summary = summary();
        summary.idle_rss = vec![(Kind::Yardmaster, 25 << 20)];
        for sample in summary.samples.iter_mut().filter(|s| s.kind == Kind::Nginx) {
            // Three times the calls for three times the CPU: still 29 µs per call.
            sample.report.operations *= 3;
            sample.proxy_cpu_secs = sample.proxy_cpu_secs.map(|secs| secs * 3.0);
        }
        let checks = verdict(&summary);
        let missed: Vec<&str> = checks
            .iter()
            .filter(|c| c.outcome == Outcome::Missed)
            .map(|c| c.goal.as_str())
            .collect();
        assert_eq!(
            missed,
            vec!["unary throughput ≥ nginx's", "idle RSS < 20 MiB"]
        );
    }

    #[test]
    fn markdown_has_a_row_per_target_with_ratios_and_medians() {
        let mut summary = summary();
        summary
            .versions
            .push(("nginx".into(), "nginx version: nginx/1.22.1".into()));
        summary.machine.cpu_model = "AMD EPYC".into();
        summary.machine.cores = 2;
        summary.load_after = Some("1.50 0.80 0.30".into());
        summary
            .peak_rss
            .push((Scenario::Unary, Kind::Yardmaster, 10 << 20));
        let text = markdown(&summary);
        assert!(text.contains("- CPU: AMD EPYC, 2 cores\n"), "{text}");
        assert!(
            text.contains("- nginx: nginx version: nginx/1.22.1\n"),
            "{text}"
        );
        assert!(text.contains("at the end"), "{text}");
        assert!(text.contains("1.50 0.80 0.30"), "{text}");
        assert!(
            text.contains("| target | calls/s | ÷ direct | ÷ Yardmaster | ÷ nginx | p50 µs |"),
            "{text}"
        );
        // Header, separator and one row per target: 3 + 12 columns each.
        let table: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("| target | calls/s"))
            .take_while(|l| l.starts_with('|'))
            .collect();
        assert_eq!(table.len(), 5, "{text}");
        assert!(
            table.iter().all(|l| l.matches(" |").count() == 15),
            "{text}"
        );
        assert_eq!(
            table[3],
            "| Yardmaster | 50.0k | 0.71 | — | 2.00 | 375 | 750 | 1500 | 3000 | 0 | 0.50 | 10.0 | \
             5.0 | 10.0 | 52.0k 48.0k 50.0k |"
        );
        assert!(text.contains("| unary throughput ≥ nginx's | met | 50.0k vs 25.0k calls/s |"));
        assert!(text.contains("| Yardmaster | 8.0 |"), "{text}");
        assert!(!text.contains("FAILED"), "{text}");
    }

    #[test]
    fn markdown_lists_notes_and_failures() {
        let mut summary = summary();
        summary.notes.push("HAProxy is not installed".into());
        summary.samples[0].report.errors = 1;
        summary.samples[0].report.first_error = Some("refused".into());
        let text = markdown(&summary);
        assert!(
            text.contains("## Notes\n\n- HAProxy is not installed\n"),
            "{text}"
        );
        assert!(
            text.contains("- FAILED: unary via direct: 1 errors, first: refused\n"),
            "{text}"
        );
    }

    #[test]
    fn bytes_per_client_is_rss_growth_divided_by_clients() {
        assert_eq!(
            bytes_per_client(100 << 20, 200 << 20, 10_240),
            Some(10_240.0)
        );
        assert_eq!(bytes_per_client(200 << 20, 100 << 20, 10), Some(0.0));
        assert_eq!(bytes_per_client(1, 2, 0), None);
    }

    /// Plain forward at p50 1000 µs; mirrored at `mirrored_p50_us`, with copy targets
    /// sharing the cores at 1500 µs. Bridge: 10,000 clients growing RSS from 10 MiB by
    /// `per_client` bytes each, three repetitions.
    fn summary_with_mirror_and_bridge(mirrored_p50_us: f64, per_client: u64) -> Summary {
        let mut summary = Summary::new(
            settings(),
            vec![Scenario::Mirror, Scenario::BridgeIdle],
            Machine::default(),
        );
        summary.kinds = vec![
            Kind::Yardmaster,
            Kind::YardmasterMirror,
            Kind::YardmasterMirrorShared,
        ];
        for (kind, p50) in [
            (Kind::Yardmaster, 1000.0),
            (Kind::YardmasterMirror, mirrored_p50_us),
            (Kind::YardmasterMirrorShared, 1500.0),
        ] {
            let mut sample = sample(Scenario::Mirror, kind, 40_000, p50 * 4.0, 10.0);
            if let Some(latency) = sample.report.latency.as_mut() {
                latency.p50_us = p50;
            }
            summary.samples.push(sample);
        }
        for _ in 0..3 {
            let mut sample = sample(Scenario::BridgeIdle, Kind::Yardmaster, 10_000, 1.0, 0.0);
            sample.idle_rss_bytes = Some(10 << 20);
            sample.held_rss_bytes = Some((10 << 20) + 10_000 * per_client);
            summary.samples.push(sample);
        }
        summary
    }

    #[test]
    fn verdict_judges_mirror_slowdown_and_bridge_memory_per_client() {
        let checks = verdict(&summary_with_mirror_and_bridge(1080.0, 12 * 1024));
        let find = |prefix: &str| {
            checks
                .iter()
                .find(|c| c.goal.starts_with(prefix))
                .map(|c| (c.outcome, c.detail.clone()))
                .unwrap()
        };
        assert_eq!(
            find("mirror ×2: primary p50 within 10 %"),
            (
                Outcome::Met,
                "copy targets as if on other hosts: p50 1080 vs 1000 µs (+8 %), p99 4320 vs \
                 4000 µs; copy targets sharing the cores: p50 1500 µs (+50 %)"
                    .to_owned()
            )
        );
        assert_eq!(
            find("bridge: ≤ 16 KiB"),
            (
                Outcome::Met,
                "12.0 KiB per client (10000 clients held)".to_owned()
            )
        );
        assert_eq!(find("bridge frames/s").0, Outcome::Unknown);

        let checks = verdict(&summary_with_mirror_and_bridge(1150.0, 20 * 1024));
        let missed: Vec<&str> = checks
            .iter()
            .filter(|c| c.outcome == Outcome::Missed)
            .map(|c| c.goal.as_str())
            .collect();
        assert_eq!(
            missed,
            vec![
                "mirror ×2: primary p50 within 10 % of no mirroring",
                "bridge: ≤ 16 KiB of gateway memory per idle client"
            ]
        );
    }

    #[test]
    fn bridge_idle_section_shows_memory_per_client() {
        let text = markdown(&summary_with_mirror_and_bridge(1000.0, 8 * 1024));
        assert!(
            text.contains(
                "| Yardmaster | 10000 | 10000 | 10.0 | 88.1 | 8.0 | 0 | 0.00 | 8.0 8.0 8.0 |"
            ),
            "{text}"
        );
        assert!(
            text.contains("| Yardmaster mirror ×2 | 40.0k | 1.00 | — |"),
            "{text}"
        );
    }

    #[test]
    fn streaming_verdict_shows_the_byte_relay_next_to_ours() {
        let mut summary = Summary::new(settings(), vec![Scenario::Stream], Machine::default());
        summary.kinds = vec![Kind::Direct, Kind::Yardmaster, Kind::HaproxyRelay];
        for (kind, rate) in [
            (Kind::Direct, 1_000_000),
            (Kind::Yardmaster, 500_000),
            (Kind::HaproxyRelay, 600_000),
        ] {
            let mut sample = sample(Scenario::Stream, kind, rate, 1.0, 1.0);
            sample.report.latency = None;
            summary.samples.push(sample);
        }
        let checks = verdict(&summary);
        let stream = checks
            .iter()
            .find(|c| c.goal.starts_with("streaming throughput"))
            .unwrap();
        assert_eq!(stream.outcome, Outcome::Missed);
        assert_eq!(
            stream.detail,
            "50 % (500.0k vs 1.00M msgs/s); a byte relay (HAProxy `mode tcp`, no HTTP/2): 60 %"
        );
        let text = markdown(&summary);
        assert!(
            text.contains("| HAProxy byte relay (mode tcp) | 600.0k | 0.60 |"),
            "{text}"
        );
    }

    #[test]
    fn numbers_are_formatted_for_reading() {
        assert_eq!(rate(1_812_345.0), "1.81M");
        assert_eq!(rate(41_234.4), "41.2k");
        assert_eq!(rate(950.4), "950");
        assert_eq!(us(1234.6), "1235");
        assert_eq!(us(12.34), "12.3");
        assert_eq!(ratio(1.0, 4.0), "0.25");
        assert_eq!(ratio(1.0, 0.0), "—");
        assert_eq!(mib(3 << 19), "1.5");
    }
}
