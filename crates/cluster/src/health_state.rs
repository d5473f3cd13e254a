//! Health thresholds: how consecutive check results turn into an endpoint's health.

/// One endpoint's health as its checks see it. Touched only by the cluster's health
/// checker (and read by the admin API), never by the data path.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HealthCounter {
    healthy: bool,
    checked: bool,
    /// Consecutive results that disagree with `healthy`.
    streak: u32,
}

/// Consecutive results needed to change state.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Thresholds {
    pub(crate) healthy: u32,
    pub(crate) unhealthy: u32,
}

impl HealthCounter {
    pub(crate) fn new(healthy: bool) -> HealthCounter {
        HealthCounter {
            healthy,
            checked: false,
            streak: 0,
        }
    }

    /// Whether a check has run yet.
    pub(crate) fn is_checked(&self) -> bool {
        self.checked
    }

    /// Records one check result and returns the new health when it changed. The very
    /// first passing check makes an endpoint healthy at once (the ready check); after
    /// that a change needs `thresholds` consecutive results.
    pub(crate) fn record(&mut self, passed: bool, thresholds: Thresholds) -> Option<bool> {
        let first = !self.checked;
        self.checked = true;
        if passed == self.healthy {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        let needed = match (passed, first) {
            (true, true) => 1,
            (true, false) => thresholds.healthy,
            (false, _) => thresholds.unhealthy,
        };
        if self.streak < needed {
            return None;
        }
        self.healthy = passed;
        self.streak = 0;
        Some(passed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THRESHOLDS: Thresholds = Thresholds {
        healthy: 2,
        unhealthy: 3,
    };

    fn run(counter: &mut HealthCounter, results: &[bool]) -> Vec<Option<bool>> {
        results
            .iter()
            .map(|&r| counter.record(r, THRESHOLDS))
            .collect()
    }

    #[test]
    fn flapping_below_the_thresholds_changes_nothing() {
        let mut counter = HealthCounter::new(true);
        let changes = run(
            &mut counter,
            &[false, false, true, false, true, false, false],
        );
        assert!(changes.iter().all(Option::is_none), "{changes:?}");
    }

    #[test]
    fn becomes_unhealthy_after_three_failures_and_healthy_after_two_passes() {
        let mut counter = HealthCounter::new(true);
        let changes = run(
            &mut counter,
            &[false, false, false, true, false, true, true],
        );
        assert_eq!(
            changes,
            [None, None, Some(false), None, None, None, Some(true)]
        );
    }

    #[test]
    fn first_pass_makes_an_initially_unhealthy_endpoint_ready() {
        let mut counter = HealthCounter::new(false);
        assert_eq!(counter.record(true, THRESHOLDS), Some(true));
        let mut counter = HealthCounter::new(false);
        assert_eq!(
            run(&mut counter, &[false, true, true]),
            [None, None, Some(true)]
        );
    }
}
