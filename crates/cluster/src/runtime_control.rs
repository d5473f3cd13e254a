//! Changes to a running cluster's endpoints: by the admin API (add, remove, drain,
//! disable, enable) and by outlier detection (eject). Each change publishes a new
//! endpoint set; picks never wait for one.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::cluster::ClusterShared;
use crate::outlier::OutlierPolicy;
use crate::{Cluster, Endpoint, EndpointState};

/// Why an admin change to a cluster's endpoints was refused.
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
    /// Adds an endpoint. It takes traffic at once unless health checks start it
    /// unhealthy (`initial_state: unhealthy`).
    pub fn add_endpoint(&self, address: SocketAddr, weight: u32) -> Result<(), ControlError> {
        if address.port() == 0 || !(1..=MAX_WEIGHT).contains(&weight) {
            return Err(ControlError::Invalid(format!(
                "endpoint {address} with weight {weight}: the port must not be 0 and the \
                 weight must be 1..={MAX_WEIGHT}"
            )));
        }
        let shared = self.shared();
        let _membership = shared.membership.lock().unwrap_or_else(|e| e.into_inner());
        let mut all = shared.endpoints.load().endpoints().to_vec();
        if all.iter().any(|e| e.address() == address) {
            return Err(ControlError::DuplicateEndpoint {
                cluster: shared.name.to_string(),
                endpoint: address,
            });
        }
        all.push(shared.build_endpoint(address, weight));
        shared.publish(all);
        tracing::info!(cluster = %shared.name, endpoint = %address, weight, "endpoint added");
        Ok(())
    }

    /// Removes an endpoint at once. Calls in flight on it still finish: they hold their
    /// own reference to its connection.
    pub fn remove_endpoint(&self, address: SocketAddr) -> Result<(), ControlError> {
        let shared = self.shared();
        let _membership = shared.membership.lock().unwrap_or_else(|e| e.into_inner());
        let all = shared.endpoints.load().endpoints().to_vec();
        let before = all.len();
        let rest: Vec<_> = all.into_iter().filter(|e| e.address() != address).collect();
        if rest.len() == before {
            return Err(self.unknown(address));
        }
        shared.publish(rest);
        tracing::info!(cluster = %shared.name, endpoint = %address, "endpoint removed");
        Ok(())
    }

    /// Sets what the operator allows of an endpoint: `active` (enable), `disabled`, or
    /// `draining` (no new calls; removed once its calls in flight have finished).
    pub fn set_endpoint_state(
        &self,
        address: SocketAddr,
        state: EndpointState,
    ) -> Result<(), ControlError> {
        let shared = self.shared();
        let _membership = shared.membership.lock().unwrap_or_else(|e| e.into_inner());
        let set = shared.endpoints.load();
        let endpoint = set
            .endpoints()
            .iter()
            .find(|e| e.address() == address)
            .ok_or_else(|| self.unknown(address))?;
        endpoint.set_state(state);
        shared.publish(set.endpoints().to_vec());
        tracing::info!(cluster = %shared.name, endpoint = %address, ?state, "endpoint state set");
        Ok(())
    }

    fn unknown(&self, address: SocketAddr) -> ControlError {
        ControlError::UnknownEndpoint {
            cluster: self.name().to_string(),
            endpoint: address,
        }
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
}
