//! A consistent hash ring: the same key goes to the same endpoint, and when an endpoint
//! leaves, only the keys it owned move.

use std::net::SocketAddr;

/// Points each endpoint puts on the ring: enough to spread keys within a few percent.
const POINTS_PER_ENDPOINT: u32 = 160;

/// A sorted ring of `(point, endpoint index)`.
#[derive(Debug, Default)]
pub(crate) struct HashRing {
    points: Vec<(u64, u32)>,
}

impl HashRing {
    /// A ring over `addresses`; an endpoint's points depend only on its address, so the
    /// other endpoints keep their points when one is added or removed.
    pub(crate) fn new(addresses: &[SocketAddr]) -> HashRing {
        let mut points = Vec::with_capacity(addresses.len() * POINTS_PER_ENDPOINT as usize);
        for (index, address) in addresses.iter().enumerate() {
            let name = address.to_string();
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            for replica in 0..POINTS_PER_ENDPOINT {
                let point = hash(format!("{name}#{replica}").as_bytes());
                points.push((point, index));
            }
        }
        points.sort_unstable();
        HashRing { points }
    }

    /// The index of the endpoint owning `key`: the first point at or after it, wrapping.
    pub(crate) fn find(&self, key: u64) -> Option<usize> {
        let at = self.points.partition_point(|&(point, _)| point < key);
        let (_, index) = self.points.get(at).or_else(|| self.points.first())?;
        usize::try_from(*index).ok()
    }
}

/// FNV-1a, finished with the splitmix64 mixer so that similar keys spread over the ring.
/// Stable across processes and versions, unlike `std`'s hasher.
pub(crate) fn hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(n: u16) -> Vec<SocketAddr> {
        (0..n)
            .map(|i| SocketAddr::from(([10, 0, 0, 1], 5000 + i)))
            .collect()
    }

    #[test]
    fn only_keys_of_the_removed_endpoint_move() {
        let five = addresses(5);
        let ring = HashRing::new(&five);
        let four: Vec<_> = five.iter().copied().filter(|a| *a != five[2]).collect();
        let smaller = HashRing::new(&four);
        let mut moved = 0;
        for key in 0..10_000u32 {
            let key = hash(&key.to_be_bytes());
            let before = five[ring.find(key).unwrap()];
            let after = four[smaller.find(key).unwrap()];
            if before == five[2] {
                moved += 1;
            } else {
                assert_eq!(before, after, "a key of a remaining endpoint moved");
            }
        }
        // The removed endpoint owned about a fifth of the keys.
        assert!((1_500..2_500).contains(&moved), "{moved}");
    }

    #[test]
    fn spreads_keys_evenly() {
        let ring = HashRing::new(&addresses(4));
        let mut counts = [0u32; 4];
        for key in 0..40_000u32 {
            counts[ring.find(hash(&key.to_be_bytes())).unwrap()] += 1;
        }
        for count in counts {
            assert!((8_000..12_000).contains(&count), "{counts:?}");
        }
    }

    #[test]
    fn empty_ring_finds_nothing() {
        assert_eq!(HashRing::new(&[]).find(7), None);
    }
}
