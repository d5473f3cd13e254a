//! The endpoints of a cluster at one moment, with everything a pick needs precomputed.

use std::sync::Arc;

use yardmaster_config::BalancingPolicy;

use crate::hash_ring::HashRing;
use crate::weighted_schedule::smooth_schedule;
use crate::{Endpoint, EndpointState};

/// All endpoints of a cluster and the ones eligible for new calls, with the weighted
/// schedule or hash ring over the eligible ones. Replaced whole (by health checks,
/// outlier detection and the admin API), never mutated, so a pick reads it without a lock.
#[derive(Debug, Default)]
pub struct EndpointSet {
    all: Vec<Arc<Endpoint>>,
    eligible: Vec<Arc<Endpoint>>,
    schedule: Vec<u32>,
    ring: HashRing,
    panicking: bool,
}

impl EndpointSet {
    /// The set of `all`, choosing the eligible ones at `now_ms` (cluster clock). With
    /// `panic_mode` and none eligible, every active endpoint is eligible.
    pub(crate) fn new(
        all: Vec<Arc<Endpoint>>,
        policy: BalancingPolicy,
        panic_mode: bool,
        now_ms: u64,
    ) -> EndpointSet {
        let mut eligible: Vec<_> = all
            .iter()
            .filter(|e| e.is_eligible(now_ms))
            .cloned()
            .collect();
        let panicking = eligible.is_empty() && panic_mode;
        if panicking {
            eligible = all
                .iter()
                .filter(|e| e.state() == EndpointState::Active)
                .cloned()
                .collect();
        }
        let schedule = match policy {
            BalancingPolicy::Weighted => {
                smooth_schedule(&eligible.iter().map(|e| e.weight()).collect::<Vec<_>>())
            }
            _ => Vec::new(),
        };
        let ring = match policy {
            BalancingPolicy::ConsistentHash => {
                HashRing::new(&eligible.iter().map(|e| e.address()).collect::<Vec<_>>())
            }
            _ => HashRing::default(),
        };
        EndpointSet {
            all,
            eligible,
            schedule,
            ring,
            panicking,
        }
    }

    /// Every endpoint, in configuration order (added ones last).
    pub fn endpoints(&self) -> &[Arc<Endpoint>] {
        &self.all
    }

    /// The endpoints new calls may go to.
    pub fn eligible(&self) -> &[Arc<Endpoint>] {
        &self.eligible
    }

    /// Whether panic mode is balancing over endpoints that are not healthy.
    pub fn is_panicking(&self) -> bool {
        self.panicking
    }

    pub(crate) fn schedule(&self) -> &[u32] {
        &self.schedule
    }

    pub(crate) fn ring(&self) -> &HashRing {
        &self.ring
    }
}
