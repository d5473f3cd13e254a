//! [`LoadReport`]: what one load run measured, printed by the load process as one JSON
//! line and read back by the parent.

use serde::{Deserialize, Serialize};

/// What one load run measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct LoadReport {
    /// Operations completed correctly inside the measured window.
    pub(crate) operations: u64,
    /// Failed or wrong operations, in the warm-up or the window.
    pub(crate) errors: u64,
    /// Length of the measured window, seconds.
    pub(crate) elapsed_secs: f64,
    /// Latency of the window's operations; `None` where operations are stream messages.
    pub(crate) latency: Option<Latency>,
    /// The first error seen, for the report.
    pub(crate) first_error: Option<String>,
}

/// Latency percentiles of a run, microseconds.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Latency {
    pub(crate) p50_us: f64,
    pub(crate) p90_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) max_us: f64,
}

impl LoadReport {
    /// Operations per second in the measured window.
    pub(crate) fn rate(&self) -> f64 {
        if self.elapsed_secs > 0.0 {
            self.operations as f64 / self.elapsed_secs
        } else {
            0.0
        }
    }
}
