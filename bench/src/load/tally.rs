//! [`Tally`]: what one worker counted, merged into the run's [`LoadReport`].

use tokio::time::Instant;

use super::phase::Phase;
use super::report::{Latency, LoadReport};

/// Operations, errors and latency samples of one worker (or of all, once merged).
#[derive(Debug, Default)]
pub(crate) struct Tally {
    operations: u64,
    errors: u64,
    /// Latency of every timed operation in the window, nanoseconds. A sorted `Vec` gives
    /// exact percentiles; a 5 s window at 100k calls/s is 4 MB of samples.
    latencies_ns: Vec<u64>,
    first_error: Option<String>,
}

impl Tally {
    /// Records one timed operation that started at `started`. Returns whether the worker
    /// should go on (false once the window has closed; that operation is not counted).
    pub(crate) fn record(
        &mut self,
        phase: &Phase,
        started: Instant,
        outcome: Result<(), String>,
    ) -> bool {
        if phase.is_stopped() {
            return false;
        }
        match outcome {
            Ok(()) if phase.is_measuring() => {
                self.operations += 1;
                let nanos = started.elapsed().as_nanos();
                self.latencies_ns
                    .push(u64::try_from(nanos).unwrap_or(u64::MAX));
            }
            Ok(()) => {}
            Err(error) => self.fail(error),
        }
        true
    }

    /// Records one stream message (not timed). Returns whether the worker should go on.
    pub(crate) fn record_message(&mut self, phase: &Phase, outcome: Result<(), String>) -> bool {
        if phase.is_stopped() {
            return false;
        }
        match outcome {
            Ok(()) if phase.is_measuring() => self.operations += 1,
            Ok(()) => {}
            Err(error) => self.fail(error),
        }
        true
    }

    /// Counts one untimed operation, whatever the phase (an idle client held to the end).
    pub(crate) fn add_operation(&mut self) {
        self.operations += 1;
    }

    /// Counts an error, whatever the phase.
    pub(crate) fn fail(&mut self, error: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(error);
        }
    }

    pub(crate) fn merge(&mut self, other: Tally) {
        self.operations += other.operations;
        self.errors += other.errors;
        self.latencies_ns.extend(other.latencies_ns);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    pub(crate) fn into_report(mut self, elapsed_secs: f64) -> LoadReport {
        self.latencies_ns.sort_unstable();
        let latency = (!self.latencies_ns.is_empty()).then(|| Latency {
            p50_us: percentile_us(&self.latencies_ns, 50.0),
            p90_us: percentile_us(&self.latencies_ns, 90.0),
            p99_us: percentile_us(&self.latencies_ns, 99.0),
            max_us: percentile_us(&self.latencies_ns, 100.0),
        });
        LoadReport {
            operations: self.operations,
            errors: self.errors,
            elapsed_secs,
            latency,
            first_error: self.first_error,
        }
    }
}

/// Nearest-rank percentile of sorted nanosecond samples, in microseconds.
fn percentile_us(sorted_ns: &[u64], percent: f64) -> f64 {
    let rank = (percent / 100.0 * sorted_ns.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted_ns.len()) - 1;
    sorted_ns.get(index).map_or(0.0, |&ns| ns as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_of_one_to_hundred() {
        let samples: Vec<u64> = (1..=100).map(|us| us * 1000).collect();
        assert_eq!(percentile_us(&samples, 50.0), 50.0);
        assert_eq!(percentile_us(&samples, 99.0), 99.0);
        assert_eq!(percentile_us(&samples, 100.0), 100.0);
        assert_eq!(percentile_us(&[7000], 50.0), 7.0);
    }
}
