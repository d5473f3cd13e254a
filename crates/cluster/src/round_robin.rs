//! Round-robin choice of an endpoint.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Hands out indexes `0, 1, .., n-1, 0, ..` with one relaxed atomic add per pick: no lock,
/// and concurrent callers never get the same turn twice.
#[derive(Debug, Default)]
pub struct RoundRobin {
    next: AtomicUsize,
}

impl RoundRobin {
    /// The next index in `0..len`; `None` when `len` is 0.
    pub fn pick(&self, len: usize) -> Option<usize> {
        if len == 0 {
            return None;
        }
        Some(self.next.fetch_add(1, Ordering::Relaxed) % len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_through_every_index_in_order() {
        let rr = RoundRobin::default();
        let picks: Vec<_> = (0..7).map(|_| rr.pick(3).unwrap()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(rr.pick(0), None);
    }
}
