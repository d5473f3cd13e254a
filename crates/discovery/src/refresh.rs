//! How often a polled source looks again: the answer's own lifetime (a DNS TTL), kept
//! within bounds the operator sets.

use std::time::{Duration, Instant};

/// The shortest and longest wait between two refreshes of a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshBounds {
    /// Never sooner than this, however short the TTL (a TTL of 0 would otherwise mean a
    /// query in a loop).
    pub min: Duration,
    /// Never later than this, however long the TTL, so a changed record is noticed within
    /// this bound even when a name server hands out long TTLs.
    pub max: Duration,
}

impl RefreshBounds {
    /// The wait until an answer valid until `valid_until` should be refreshed.
    pub(crate) fn wait_until(&self, valid_until: Instant) -> Duration {
        valid_until
            .saturating_duration_since(Instant::now())
            .clamp(self.min, self.max.max(self.min))
    }

    /// The wait after a failed refresh: the shortest, so the source recovers quickly.
    pub(crate) fn after_failure(&self) -> Duration {
        self.min
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ttl_is_kept_within_the_bounds() {
        let bounds = RefreshBounds {
            min: Duration::from_secs(1),
            max: Duration::from_secs(30),
        };
        let now = Instant::now();
        let wait = |ttl: u64| bounds.wait_until(now + Duration::from_secs(ttl));
        assert_eq!(wait(0), Duration::from_secs(1));
        assert!(wait(10) <= Duration::from_secs(10) && wait(10) > Duration::from_secs(9));
        assert_eq!(wait(3600), Duration::from_secs(30));
    }
}
