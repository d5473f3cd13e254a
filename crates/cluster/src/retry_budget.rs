//! The retry budget: retries may add at most a fixed share of extra load, so they never
//! amplify an outage.

use std::sync::atomic::{AtomicU64, Ordering};

/// A token bucket in thousandths of a retry: each call deposits `percent / 100` of a
/// retry, each retry withdraws one, and the balance is capped at `burst` retries. Lock
/// free: one atomic add per call, one compare-and-swap per retry.
#[derive(Debug)]
pub(crate) struct RetryBudget {
    balance: AtomicU64,
    deposit: u64,
    cap: u64,
}

const ONE_RETRY: u64 = 1000;

impl RetryBudget {
    pub(crate) fn new(percent: u32, burst: u32) -> RetryBudget {
        let cap = u64::from(burst) * ONE_RETRY;
        RetryBudget {
            balance: AtomicU64::new(cap),
            deposit: u64::from(percent) * ONE_RETRY / 100,
            cap,
        }
    }

    /// Records one call (not a retry).
    pub(crate) fn deposit(&self) {
        let before = self.balance.fetch_add(self.deposit, Ordering::Relaxed);
        if before + self.deposit > self.cap {
            self.balance.fetch_min(self.cap, Ordering::Relaxed);
        }
    }

    /// Takes one retry from the budget; false when it is spent.
    pub(crate) fn withdraw(&self) -> bool {
        self.balance
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                b.checked_sub(ONE_RETRY)
            })
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_burst_then_the_percentage() {
        let budget = RetryBudget::new(20, 3);
        let mut retries = 0;
        for _ in 0..1000 {
            budget.deposit();
            if budget.withdraw() {
                retries += 1;
            }
        }
        // 3 saved up, then one in five calls: 0.2 * 1000.
        assert!((200..=203).contains(&retries), "{retries}");
    }

    #[test]
    fn saves_up_no_more_than_the_burst() {
        let budget = RetryBudget::new(50, 2);
        for _ in 0..100 {
            budget.deposit();
        }
        assert!(budget.withdraw());
        assert!(budget.withdraw());
        assert!(!budget.withdraw());
    }
}
