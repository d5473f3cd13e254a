//! Choosing the endpoint of one attempt, lock free: each policy reads the current
//! [`EndpointSet`] and at most one shared atomic counter.

use std::net::SocketAddr;
use std::sync::Arc;

use yardmaster_config::BalancingPolicy;

use crate::{Endpoint, EndpointSet, RoundRobin};

/// A cluster's balancing policy and its turn counter.
#[derive(Debug)]
pub(crate) struct Balancer {
    policy: BalancingPolicy,
    turn: RoundRobin,
}

impl Balancer {
    pub(crate) fn new(policy: BalancingPolicy) -> Balancer {
        Balancer {
            policy,
            turn: RoundRobin::default(),
        }
    }

    /// The endpoint for an attempt. `key` is the consistent-hash key (a call without one
    /// goes to a random endpoint). `avoid` lists endpoints earlier attempts of the call
    /// failed on: a retry goes elsewhere when another endpoint is eligible.
    pub(crate) fn pick<'a>(
        &self,
        set: &'a EndpointSet,
        key: Option<u64>,
        avoid: &[SocketAddr],
    ) -> Option<&'a Arc<Endpoint>> {
        let eligible = set.eligible();
        let len = eligible.len();
        if len == 0 {
            return None;
        }
        if !avoid.is_empty() {
            let start = fastrand::usize(..len);
            return (0..len)
                .filter_map(|i| eligible.get((start + i) % len))
                .find(|e| !avoid.contains(&e.address()))
                .or_else(|| eligible.get(start));
        }
        match self.policy {
            BalancingPolicy::RoundRobin => self.turn.pick(len).and_then(|i| eligible.get(i)),
            BalancingPolicy::Weighted => {
                let schedule = set.schedule();
                self.turn
                    .pick(schedule.len())
                    .and_then(|i| schedule.get(i))
                    .and_then(|&i| eligible.get(i as usize))
            }
            BalancingPolicy::Random => eligible.get(fastrand::usize(..len)),
            BalancingPolicy::LeastRequest => least_request(eligible),
            BalancingPolicy::ConsistentHash => key
                .and_then(|key| set.ring().find(key))
                .and_then(|i| eligible.get(i))
                .or_else(|| eligible.get(fastrand::usize(..len))),
        }
    }
}

/// Power of two choices: of two distinct random endpoints, the one with fewer calls in
/// flight. Nearly as good as scanning all of them, at the cost of two atomic loads.
fn least_request(eligible: &[Arc<Endpoint>]) -> Option<&Arc<Endpoint>> {
    let len = eligible.len();
    if len == 1 {
        return eligible.first();
    }
    let a = fastrand::usize(..len);
    let b = (a + 1 + fastrand::usize(..len - 1)) % len;
    let (first, second) = (eligible.get(a)?, eligible.get(b)?);
    if second.in_flight() < first.in_flight() {
        Some(second)
    } else {
        Some(first)
    }
}
