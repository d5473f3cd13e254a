//! Smooth weighted round robin, precomputed as one cycle of endpoint indexes.
//!
//! nginx's algorithm spreads a heavy endpoint's turns evenly through the cycle (weights
//! 5,1,1 give `a a b a c a a`, not `a a a a a b c`). It needs mutable state per pick, so
//! the cycle is computed once per endpoint set and the data path only indexes it with an
//! atomic counter.

/// The longest cycle kept; larger weight sums are scaled down to it.
const MAX_CYCLE: u64 = 16_384;

/// One cycle of smooth weighted round robin over `weights` (each at least 1), as indexes.
pub(crate) fn smooth_schedule(weights: &[u32]) -> Vec<u32> {
    let divisor = weights.iter().copied().fold(0, gcd).max(1);
    let mut weights: Vec<u64> = weights.iter().map(|&w| u64::from(w / divisor)).collect();
    let total: u64 = weights.iter().sum();
    if total > MAX_CYCLE {
        for w in &mut weights {
            *w = (*w * MAX_CYCLE / total).max(1);
        }
    }
    let total: i64 = weights.iter().map(|&w| w as i64).sum();
    let mut current = vec![0i64; weights.len()];
    let mut cycle = Vec::with_capacity(usize::try_from(total).unwrap_or_default());
    for _ in 0..total {
        let mut best = 0;
        let mut best_value = i64::MIN;
        for (i, (c, &w)) in current.iter_mut().zip(&weights).enumerate() {
            *c += w as i64;
            // Strictly greater: ties go to the first endpoint, as in nginx.
            if *c > best_value {
                best = i;
                best_value = *c;
            }
        }
        if let Some(c) = current.get_mut(best) {
            *c -= total;
        }
        cycle.push(u32::try_from(best).unwrap_or_default());
    }
    cycle
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_the_heavy_endpoint_through_the_cycle() {
        assert_eq!(smooth_schedule(&[5, 1, 1]), [0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn reduces_by_the_common_divisor() {
        assert_eq!(smooth_schedule(&[20, 10]), [0, 1, 0]);
    }

    #[test]
    fn equal_weights_are_plain_round_robin() {
        assert_eq!(smooth_schedule(&[1, 1, 1]), [0, 1, 2]);
    }

    #[test]
    fn caps_the_cycle_length_and_keeps_proportions() {
        let weights: Vec<u32> = (981..=1000).collect();
        let cycle = smooth_schedule(&weights);
        assert!(cycle.len() as u64 <= MAX_CYCLE);
        let first = cycle.iter().filter(|&&i| i == 0).count();
        let last = cycle.iter().filter(|&&i| i == 19).count();
        assert!(first > 780 && last > 780 && first <= last, "{first} {last}");
    }
}
