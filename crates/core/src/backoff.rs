//! Exponential backoff: the one shape every wait-and-try-again in the gateway uses
//! (retries, outlier ejections, reconnecting bridge streams and dispatcher channels).

use std::time::Duration;

/// Waits that double with each step, from `base` up to `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The wait of step 0.
    pub base: Duration,
    /// No wait is longer.
    pub max: Duration,
}

impl Backoff {
    /// The wait of step `step` (0 for the first): `base × 2^step`, at most `max`. Never
    /// overflows, whatever the step.
    pub fn ceiling(&self, step: u32) -> Duration {
        let factor = 1u32.checked_shl(step.min(16)).unwrap_or(u32::MAX);
        self.base
            .checked_mul(factor)
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// A wait for step `step` with full jitter: uniform in `0..=ceiling(step)`, so clients
    /// that failed together do not try again together.
    pub fn jittered(&self, step: u32) -> Duration {
        let nanos = u64::try_from(self.ceiling(step).as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(..=nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_maximum_and_never_overflows() {
        let backoff = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(5),
        };
        let waits: Vec<_> = (0..8).map(|s| backoff.ceiling(s).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_secs(5));
        for step in 0..10 {
            assert!(backoff.jittered(step) <= backoff.ceiling(step));
        }
    }
}
