//! [`Summary`]: everything a run found, every [`Sample`] in the order it was taken,
//! reduced on demand to one [`Row`] of medians per (scenario, target).

#[cfg(test)]
pub(crate) mod fixture;

use crate::h2load::H2loadResult;
use crate::machine::Machine;
use crate::row::Row;
use crate::sample::Sample;
use crate::scenario::Scenario;
use crate::settings::Settings;
use crate::target::Kind;

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
        let peak_rss_bytes = self
            .peak_rss
            .iter()
            .find(|(s, k, _)| *s == scenario && *k == kind)
            .map(|&(_, _, bytes)| bytes);
        Some(Row::new(kind, &samples, peak_rss_bytes))
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

    /// The resident memory of `kind` after start, before any load.
    pub(crate) fn idle_rss_of(&self, kind: Kind) -> Option<u64> {
        self.idle_rss
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|&(_, bytes)| bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::summary;
    use super::*;

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
}
