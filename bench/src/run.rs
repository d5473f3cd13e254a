//! The run: build Yardmaster, start the upstreams and every available proxy, measure each
//! scenario against every target, interleaved and repeated, then report.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::cross_check::cross_check;
use crate::lineup::start_targets;
use crate::machine::{self, Machine};
use crate::measure::{measure_bridge_idle, measure_scenario};
use crate::point::points;
use crate::process::open_files_limit;
use crate::progress::shout;
use crate::report;
use crate::run_args::RunArgs;
use crate::scenario::Scenario;
use crate::summary::Summary;
use crate::target::Target;
use crate::upstream::Upstreams;
use crate::yardmaster_binary::yardmaster_binary;

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
    let mut targets = start_targets(&yardmaster, &upstreams, cores, &mut summary)?;

    for &scenario in args.scenarios() {
        if scenario == Scenario::BridgeIdle {
            measure_bridge_idle(&yardmaster, &upstreams, settings, &mut summary);
        } else {
            let points = points(scenario, &targets);
            measure_scenario(scenario, &points, settings, &mut summary);
        }
    }
    note_exited(&mut targets, &mut summary);
    if !settings.quick && !args.no_h2load && args.scenarios().contains(&Scenario::Unary) {
        cross_check(&targets, settings, &mut summary);
    }
    summary.load_after = machine::load_average();

    write_report(args, &summary)?;
    Ok(exit_code(&summary))
}

/// Records as a failure every proxy that is no longer running.
fn note_exited(targets: &mut [Target], summary: &mut Summary) {
    for target in targets {
        if let Some(proxy) = target.proxy.as_mut() {
            if !proxy.is_running() {
                summary
                    .failures
                    .push(format!("{} exited during the run", target.kind.label()));
            }
        }
    }
}

/// Prints the markdown report, and writes it to `--output` (by default `RESULTS.md`,
/// except in quick mode).
fn write_report(args: &RunArgs, summary: &Summary) -> anyhow::Result<()> {
    let markdown = report::markdown(summary);
    writeln!(std::io::stdout(), "{markdown}").context("writing the report")?;
    let output = args.output.clone().or_else(|| {
        (!summary.settings.quick).then(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("RESULTS.md"))
    });
    if let Some(path) = output {
        std::fs::write(&path, &markdown).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Failure, with each reason on stderr, when the run is not a pass.
fn exit_code(summary: &Summary) -> ExitCode {
    let failures = summary.all_failures();
    for failure in &failures {
        eprintln!("FAILED: {failure}");
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
