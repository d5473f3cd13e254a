//! [`Phase`]: where a load run is (warm-up, measured window, stopped), set by the driver
//! and read by every worker after each operation.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// Where the run is; workers read it after every operation.
#[derive(Clone, Debug, Default)]
pub(crate) struct Phase(Arc<AtomicU8>);

// 0, the default, is the warm-up.
const MEASURE: u8 = 1;
const STOP: u8 = 2;

impl Phase {
    /// Ends the warm-up: from now on, operations count.
    pub(crate) fn start_measuring(&self) {
        self.set(MEASURE);
    }

    /// Ends the measured window: workers finish their operation and return.
    pub(crate) fn stop(&self) {
        self.set(STOP);
    }

    fn set(&self, phase: u8) {
        self.0.store(phase, Ordering::Release);
    }

    pub(crate) fn is_measuring(&self) -> bool {
        self.0.load(Ordering::Acquire) == MEASURE
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Acquire) == STOP
    }
}
