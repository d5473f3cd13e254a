//! [`RunArgs`]: the command line of a benchmark run, its scenario list and the
//! [`Settings`] its flags resolve to.

use std::path::PathBuf;

use crate::scenario::Scenario;
use crate::settings::Settings;

/// Idle clients `bridge-idle` holds by default: the scale goal of issue 5.
const BRIDGE_CLIENTS: usize = 10_000;
/// The same in quick mode, which only checks that the bridge holds and echoes.
const QUICK_BRIDGE_CLIENTS: usize = 500;

/// Options of a benchmark run (the default command).
#[derive(clap::Args, Debug)]
pub(crate) struct RunArgs {
    /// Scenarios to run, comma-separated: all, unary, unary-16k, stream, pingpong, http1,
    /// mirror, fanout, bridge-idle, bridge-frames, transcode, or bridge (both bridge
    /// scenarios).
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
    /// Calls in flight (HTTP/1.1 and bridge frames: connections) per load run.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Calls per second offered in `mirror` and `fanout`: a fixed rate, so that both routes
    /// are compared at the same load rather than each at its own saturation.
    #[arg(long, default_value_t = 2000.0)]
    rate: f64,
    /// Idle TCP clients the bridge holds in `bridge-idle` [default: 10000, quick: 500].
    #[arg(long)]
    bridge_clients: Option<usize>,
    /// Where to write the markdown report [default: bench/RESULTS.md; quick: nowhere].
    #[arg(long)]
    pub(crate) output: Option<PathBuf>,
    /// Use the Yardmaster binary as built, without running `cargo build` first.
    #[arg(long)]
    pub(crate) no_build: bool,
    /// Skip the h2load cross-check.
    #[arg(long)]
    pub(crate) no_h2load: bool,
}

#[derive(Clone, Debug)]
struct Scenarios(Vec<Scenario>);

impl RunArgs {
    /// The scenarios asked for, each once, in report order.
    pub(crate) fn scenarios(&self) -> &[Scenario] {
        &self.scenario.0
    }

    /// The flags with their defaults (which depend on `--quick`) filled in and each
    /// raised to its least sensible value.
    pub(crate) fn settings(&self) -> Settings {
        let (repeats, duration, warmup) = if self.quick {
            (1, 1.0, 0.3)
        } else {
            (3, 5.0, 1.0)
        };
        Settings {
            quick: self.quick,
            repeats: self.repeats.unwrap_or(repeats).max(1),
            warmup_secs: self.warmup.unwrap_or(warmup).max(0.0),
            duration_secs: self.duration.unwrap_or(duration).max(0.1),
            connections: self.connections.max(1),
            concurrency: self.concurrency.max(1),
            rate: self.rate.max(1.0),
            bridge_clients: self
                .bridge_clients
                .unwrap_or(if self.quick {
                    QUICK_BRIDGE_CLIENTS
                } else {
                    BRIDGE_CLIENTS
                })
                .max(1),
        }
    }
}

fn parse_scenarios(text: &str) -> Result<Scenarios, String> {
    let mut scenarios = Vec::new();
    for name in text.split(',').map(str::trim) {
        let named: Vec<Scenario> = match name {
            "all" => Scenario::ALL.to_vec(),
            "bridge" => vec![Scenario::BridgeIdle, Scenario::BridgeFrames],
            _ => {
                let one = Scenario::ALL.into_iter().find(|s| s.name() == name);
                vec![one.ok_or_else(|| {
                    let names: Vec<_> = Scenario::ALL.iter().map(|s| s.name()).collect();
                    format!(
                        "{name:?}: expected all, bridge or one of {}",
                        names.join(", ")
                    )
                })?]
            }
        };
        for scenario in named {
            if !scenarios.contains(&scenario) {
                scenarios.push(scenario);
            }
        }
    }
    // In report order, whatever the order on the command line.
    scenarios.sort_by_key(|s| Scenario::ALL.iter().position(|a| a == s));
    Ok(Scenarios(scenarios))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn settings(flags: &[&str]) -> Settings {
        let args = ["yardmaster-bench"].iter().chain(flags).copied();
        Cli::try_parse_from(args).unwrap().run.settings()
    }

    #[test]
    fn scenario_lists_expand_bridge_and_keep_report_order() {
        let names = |text: &str| -> Vec<&str> {
            parse_scenarios(text)
                .unwrap()
                .0
                .iter()
                .map(|s| s.name())
                .collect()
        };
        assert_eq!(names("mirror"), vec!["mirror"]);
        assert_eq!(names("bridge"), vec!["bridge-idle", "bridge-frames"]);
        assert_eq!(
            names("bridge-frames,fanout,mirror,fanout"),
            vec!["mirror", "fanout", "bridge-frames"]
        );
        assert_eq!(names("all").len(), Scenario::ALL.len());
        assert!(parse_scenarios("mirrors").is_err());
    }

    #[test]
    fn defaults_depend_on_quick_and_every_figure_has_a_floor() {
        assert_eq!(settings(&[]), Settings::full());
        let quick = Settings {
            quick: true,
            repeats: 1,
            warmup_secs: 0.3,
            duration_secs: 1.0,
            bridge_clients: 500,
            ..Settings::full()
        };
        assert_eq!(settings(&["--quick"]), quick);
        let floored = settings(&["--repeats", "0", "--duration", "0", "--concurrency", "0"]);
        assert_eq!(
            (floored.repeats, floored.duration_secs, floored.concurrency),
            (1, 0.1, 1)
        );
    }
}
