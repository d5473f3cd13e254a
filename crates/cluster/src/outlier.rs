//! Passive outlier detection: how long an ejection lasts and whether one is allowed.

use std::time::Duration;

use yardmaster_config::OutlierDetectionConfig;
use yardmaster_core::Backoff;

/// The outlier detection settings of a cluster, in the units the data path uses.
#[derive(Clone, Debug)]
pub(crate) struct OutlierPolicy {
    pub(crate) consecutive_failures: u32,
    base_ejection: Duration,
    max_ejection: Duration,
    max_ejected_percent: u32,
}

impl OutlierPolicy {
    pub(crate) fn new(config: &OutlierDetectionConfig) -> OutlierPolicy {
        OutlierPolicy {
            consecutive_failures: config.consecutive_failures,
            base_ejection: config.base_ejection_time,
            max_ejection: config.max_ejection_time,
            max_ejected_percent: config.max_ejected_percent,
        }
    }

    /// The length of an endpoint's next ejection after `previous` ejections: the base
    /// time, doubled for each earlier ejection, up to the maximum.
    pub(crate) fn ejection_time(&self, previous: u32) -> Duration {
        Backoff {
            base: self.base_ejection,
            max: self.max_ejection,
        }
        .ceiling(previous)
    }

    /// Whether one more of `total` endpoints may be ejected while `ejected` already are.
    pub(crate) fn may_eject(&self, ejected: usize, total: usize) -> bool {
        (ejected + 1) * 100 <= self.max_ejected_percent as usize * total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> OutlierPolicy {
        OutlierPolicy {
            consecutive_failures: 5,
            base_ejection: Duration::from_secs(30),
            max_ejection: Duration::from_secs(300),
            max_ejected_percent: 50,
        }
    }

    #[test]
    fn ejection_time_doubles_up_to_the_maximum() {
        let times: Vec<u64> = (0..6)
            .map(|n| policy().ejection_time(n).as_secs())
            .collect();
        assert_eq!(times, [30, 60, 120, 240, 300, 300]);
        assert_eq!(policy().ejection_time(u32::MAX).as_secs(), 300);
    }

    #[test]
    fn keeps_the_configured_share_in_rotation() {
        let policy = policy();
        assert!(policy.may_eject(0, 2));
        assert!(!policy.may_eject(1, 2));
        assert!(!policy.may_eject(0, 1));
        assert!(policy.may_eject(4, 10));
        assert!(!policy.may_eject(5, 10));
    }
}
