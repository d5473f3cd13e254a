//! Call counters of an [`EchoService`](crate::EchoService), shared by all its clones, and the
//! drop guard that detects calls abandoned by the downstream.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::watch;

/// Counters of one echo upstream; cheap to clone, every clone sees the same numbers.
#[derive(Clone, Debug)]
pub struct EchoStats {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    calls: AtomicU64,
    // A `watch` rather than an atomic so `wait_cancelled` can sleep until the count moves
    // instead of polling. Only cancellations touch it, so the hot path stays lock-free.
    cancelled: watch::Sender<u64>,
}

impl EchoStats {
    pub(crate) fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                calls: AtomicU64::new(0),
                cancelled: watch::Sender::new(0),
            }),
        }
    }

    /// Number of calls started, of any shape, including failed and cancelled ones.
    pub fn calls(&self) -> u64 {
        self.shared.calls.load(Ordering::Relaxed)
    }

    /// Number of calls that ended because the downstream went away: the handler or the
    /// reply stream was dropped before it finished, or the request stream broke.
    pub fn cancelled(&self) -> u64 {
        *self.shared.cancelled.borrow()
    }

    /// Resolves once at least `n` cancellations have been counted (at once if they already
    /// have). Never times out: wrap it in `tokio::time::timeout` in tests.
    pub async fn wait_cancelled(&self, n: u64) {
        let mut seen = self.shared.cancelled.subscribe();
        // The sender lives in `self`, so `wait_for` cannot fail; the returned borrow is
        // released at once.
        let _ = seen.wait_for(|cancelled| *cancelled >= n).await;
    }

    /// Counts a new call; the returned guard counts it as cancelled unless it is finished.
    pub(crate) fn start_call(&self) -> CallGuard {
        self.shared.calls.fetch_add(1, Ordering::Relaxed);
        CallGuard {
            stats: self.clone(),
            is_finished: false,
        }
    }
}

/// Lives as long as one call's work (handler future or reply stream). Dropping it before
/// [`CallGuard::finish`] means the downstream abandoned the call.
#[derive(Debug)]
pub(crate) struct CallGuard {
    stats: EchoStats,
    is_finished: bool,
}

impl CallGuard {
    /// Marks the call as completed (successfully or with a scripted failure).
    pub(crate) fn finish(&mut self) {
        self.is_finished = true;
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if !self.is_finished {
            self.stats
                .shared
                .cancelled
                .send_modify(|cancelled| *cancelled += 1);
        }
    }
}
