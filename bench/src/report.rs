//! The report: a [`Summary`] written as the markdown of `bench/RESULTS.md`, section by
//! section (machine, verdict, one table per scenario, memory, h2load, notes).

#[cfg(test)]
mod tests;

use std::fmt::{self, Write as _};

use crate::figures::{mib, rate, ratio, us, MIB};
use crate::load::Latency;
use crate::row::Row;
use crate::scenario::Scenario;
use crate::summary::Summary;
use crate::verdict::{Outcome, Verdict};

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
    let verdict = Verdict::of(summary);
    if !verdict.has_figures() {
        return Ok(());
    }
    writeln!(out, "## Targets (issues 4, 5, 6 and 16)")?;
    writeln!(out)?;
    writeln!(out, "| target | this run | figures |")?;
    writeln!(out, "| --- | --- | --- |")?;
    for check in verdict.checks {
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
    write_scenario_header(out, scenario, &rows)?;
    for row in &rows {
        write_scenario_row(out, row, &rows)?;
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

/// The header and separator of a scenario's table: a `÷` column per row.
fn write_scenario_header(out: &mut String, scenario: Scenario, rows: &[Row]) -> fmt::Result {
    let per = scenario.per();
    write!(out, "| target | {} |", scenario.unit())?;
    for row in rows {
        write!(out, " ÷ {} |", row.kind.label())?;
    }
    writeln!(
        out,
        " p50 µs | p90 µs | p99 µs | max µs | errors | proxy CPU s | proxy CPU µs/{per} | \
         upstream CPU µs/{per} | proxy peak RSS MiB | each run |"
    )?;
    writeln!(out, "|{}", " --- |".repeat(rows.len() + 12))
}

/// One target's line of a scenario's table, with its ratio to each of `rows`.
fn write_scenario_row(out: &mut String, row: &Row, rows: &[Row]) -> fmt::Result {
    write!(out, "| {} | {} |", row.kind.label(), rate(row.rate))?;
    for other in rows {
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
    )
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
