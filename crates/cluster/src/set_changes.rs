//! Every change of a cluster's endpoint set, in one place: its discovery source's sets and
//! failures, operators' changes (the admin API), outlier ejection and housekeeping. Each
//! change publishes a new [`EndpointSet`](crate::EndpointSet); picks never wait for one.
//!
//! An endpoint that stays keeps its connections, health and ejection state; one that its
//! source stops listing takes no new calls and leaves once its calls in flight have ended.
//! What an operator set of an address (disabled, draining) is remembered by address, so it
//! holds when the source lists the address again.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use yardmaster_core::{DiscoveredEndpoint, EndpointChange, EndpointState};

use crate::membership::{DiscoveryStatus, Membership};
use crate::outlier::OutlierPolicy;
use crate::shared::ClusterShared;
use crate::{Cluster, Endpoint};

/// Why a change to a cluster's endpoints was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The cluster has no endpoint with this address.
    #[error("cluster {cluster:?} has no endpoint {endpoint}")]
    UnknownEndpoint {
        /// The cluster's name.
        cluster: String,
        /// The address asked for.
        endpoint: SocketAddr,
    },
    /// The cluster already has an endpoint with this address.
    #[error("cluster {cluster:?} already has endpoint {endpoint}")]
    DuplicateEndpoint {
        /// The cluster's name.
        cluster: String,
        /// The address asked for.
        endpoint: SocketAddr,
    },
    /// The weight or address is not acceptable.
    #[error("{0}")]
    Invalid(String),
}

/// The largest endpoint weight, as in the configuration.
const MAX_WEIGHT: u32 = 1000;

impl Cluster {
    /// Applies a change from the cluster's discovery source or from an operator.
    ///
    /// # Errors
    ///
    /// Operator changes that cannot apply: an unknown or duplicate address, a bad weight.
    /// Discovery changes always apply.
    pub fn apply(&self, change: EndpointChange) -> Result<(), ControlError> {
        self.shared().apply(change)
    }

    /// What the admin API shows of the cluster's discovery.
    pub fn discovery_status(&self) -> DiscoveryStatus {
        let shared = self.shared();
        let membership = shared.membership.lock().unwrap_or_else(|e| e.into_inner());
        membership.discovery_status()
    }
}

impl ClusterShared {
    /// Ejects `endpoint` unless it already is, or ejecting it would take more than the
    /// allowed share of endpoints out of rotation.
    pub(crate) fn eject(&self, endpoint: &Arc<Endpoint>, policy: &OutlierPolicy) {
        let _membership = self.membership.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.now_ms();
        if endpoint.is_ejected(now) {
            return;
        }
        let set = self.endpoints.load();
        let all = set.endpoints();
        let ejected = all.iter().filter(|e| e.is_ejected(now)).count();
        if !policy.may_eject(ejected, all.len()) {
            return;
        }
        let outlier = &endpoint.outlier;
        let previous = outlier.ejections.fetch_add(1, Ordering::AcqRel);
        let duration = policy.ejection_time(previous);
        let until = now + u64::try_from(duration.as_millis()).unwrap_or(u64::MAX / 2);
        outlier
            .ejected_until_ms
            .store(until.max(1), Ordering::Release);
        outlier.consecutive_failures.store(0, Ordering::Release);
        endpoint.counters.ejections.inc();
        tracing::warn!(
            cluster = %self.name,
            endpoint = %endpoint.address(),
            ?duration,
            ejections = previous + 1,
            "endpoint ejected after consecutive failures"
        );
        self.publish(all.to_vec());
    }

    pub(crate) fn apply(&self, change: EndpointChange) -> Result<(), ControlError> {
        let mut membership = self.membership.lock().unwrap_or_else(|e| e.into_inner());
        match change {
            EndpointChange::Discovered(listed) => {
                membership.listed = listed;
                self.record_update(&mut membership);
                self.reconcile(&membership);
                Ok(())
            }
            EndpointChange::DiscoveryFailed(reason) => {
                self.record_failure(&mut membership, reason);
                Ok(())
            }
            EndpointChange::Add { address, weight } => {
                self.add(&mut membership, DiscoveredEndpoint { address, weight })
            }
            EndpointChange::Remove(address) => self.remove(&mut membership, address),
            EndpointChange::SetState(address, state) => {
                self.set_state(&mut membership, address, state)
            }
        }
    }

    fn add(
        &self,
        membership: &mut Membership,
        added: DiscoveredEndpoint,
    ) -> Result<(), ControlError> {
        let DiscoveredEndpoint { address, weight } = added;
        if address.port() == 0 || !(1..=MAX_WEIGHT).contains(&weight) {
            return Err(ControlError::Invalid(format!(
                "endpoint {address} with weight {weight}: the port must not be 0 and the \
                 weight must be 1..={MAX_WEIGHT}"
            )));
        }
        if self.current(address).is_some() {
            return Err(ControlError::DuplicateEndpoint {
                cluster: self.name.to_string(),
                endpoint: address,
            });
        }
        membership.overrides.remove(&address);
        membership.added.retain(|e| e.address != address);
        membership.added.push(added);
        let mut all = self.endpoints.load().endpoints().to_vec();
        all.push(self.build_endpoint(address, weight, "admin"));
        self.publish(all);
        tracing::info!(cluster = %self.name, endpoint = %address, weight, "endpoint added");
        Ok(())
    }

    /// Removes an endpoint at once and forgets what an operator set of it. Calls in flight
    /// on it still finish: they hold their own reference to its connection.
    fn remove(&self, membership: &mut Membership, address: SocketAddr) -> Result<(), ControlError> {
        if self.current(address).is_none() {
            return Err(self.unknown(address));
        }
        membership.added.retain(|e| e.address != address);
        membership.overrides.remove(&address);
        let rest = self
            .endpoints
            .load()
            .endpoints()
            .iter()
            .filter(|e| e.address() != address)
            .cloned()
            .collect();
        self.publish(rest);
        tracing::info!(cluster = %self.name, endpoint = %address, "endpoint removed");
        Ok(())
    }

    /// Sets what the operator allows of an endpoint: `active` (enable), `disabled`, or
    /// `draining` (no new calls; removed once its calls in flight have finished). Enabling
    /// an address that was drained away brings it back if its source still lists it.
    fn set_state(
        &self,
        membership: &mut Membership,
        address: SocketAddr,
        state: EndpointState,
    ) -> Result<(), ControlError> {
        let current = self.current(address);
        if current.is_none() && !membership.overrides.contains_key(&address) {
            return Err(self.unknown(address));
        }
        match state {
            EndpointState::Active => membership.overrides.remove(&address),
            other => membership.overrides.insert(address, other),
        };
        if let Some(endpoint) = current {
            endpoint.set_state(state);
        }
        self.reconcile(membership);
        tracing::info!(cluster = %self.name, endpoint = %address, ?state, "endpoint state set");
        Ok(())
    }

    fn unknown(&self, address: SocketAddr) -> ControlError {
        ControlError::UnknownEndpoint {
            cluster: self.name.to_string(),
            endpoint: address,
        }
    }

    /// The current endpoint with this address.
    fn current(&self, address: SocketAddr) -> Option<Arc<Endpoint>> {
        self.endpoints
            .load()
            .endpoints()
            .iter()
            .find(|e| e.address() == address)
            .cloned()
    }

    /// Makes the endpoint set follow what is listed and added: endpoints that stay keep
    /// everything, new ones are built (with what an operator set of their address), and
    /// ones no longer wanted leave once idle. An address an operator drained stays out.
    pub(crate) fn reconcile(&self, membership: &Membership) {
        let mut wanted: HashMap<SocketAddr, u32> = HashMap::new();
        for endpoint in membership.listed.iter().chain(&membership.added) {
            wanted.insert(endpoint.address, endpoint.weight);
        }
        let current = self.endpoints.load();
        let mut all = Vec::with_capacity(wanted.len().max(current.endpoints().len()));
        let (mut joined, mut leaving) = (0_usize, 0_usize);
        for endpoint in current.endpoints() {
            match wanted.remove(&endpoint.address()) {
                Some(weight) => {
                    endpoint.set_weight(weight);
                    endpoint.set_leaving(false);
                }
                None if endpoint.in_flight() == 0 => continue,
                None => {
                    if !endpoint.is_leaving() {
                        leaving += 1;
                    }
                    endpoint.set_leaving(true);
                }
            }
            all.push(endpoint.clone());
        }
        let mut new: Vec<_> = wanted.into_iter().collect();
        new.sort();
        for (address, weight) in new {
            let state = membership.overrides.get(&address).copied();
            if state == Some(EndpointState::Draining) {
                continue;
            }
            let endpoint = self.build_endpoint(address, weight, membership.discovery.status.kind);
            if let Some(state) = state {
                endpoint.set_state(state);
            }
            all.push(endpoint);
            joined += 1;
        }
        if joined > 0 || leaving > 0 {
            tracing::info!(cluster = %self.name, joined, leaving, endpoints = all.len(), "endpoint set changed");
        }
        self.publish(all);
    }

    /// Removes endpoints that were on their way out and have no call left.
    pub(crate) fn remove_done(&self) {
        let _membership = self.membership.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.endpoints.load();
        let rest: Vec<_> = current
            .endpoints()
            .iter()
            .filter(|e| {
                let done = e.is_done();
                if done {
                    tracing::info!(cluster = %self.name, endpoint = %e.address(), "endpoint removed after its last call");
                }
                !done
            })
            .cloned()
            .collect();
        self.publish(rest);
    }

    fn record_update(&self, membership: &mut Membership) {
        let record = &mut membership.discovery;
        record.status.updates_total += 1;
        record.status.last_update_unix_ms = Some(yardmaster_core::unix_ms_now());
        record.status.last_error = None;
        if record.failing_for > 0 {
            tracing::info!(cluster = %self.name, source = %record.status.source, "discovery recovered");
        }
        record.failing_for = 0;
        self.discovery_updates.inc();
    }

    fn record_failure(&self, membership: &mut Membership, reason: String) {
        let record = &mut membership.discovery;
        record.status.errors_total += 1;
        record.status.last_error_unix_ms = Some(yardmaster_core::unix_ms_now());
        record.failing_for += 1;
        if record.failing_for == 1 {
            tracing::warn!(cluster = %self.name, source = %record.status.source, error = %reason, "discovery failed; keeping the last endpoint set");
        } else {
            tracing::debug!(cluster = %self.name, error = %reason, failures = record.failing_for, "discovery still failing");
        }
        record.status.last_error = Some(reason);
        self.discovery_errors.inc();
    }
}
