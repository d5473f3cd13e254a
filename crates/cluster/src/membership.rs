//! What a cluster's endpoint set is derived from: the endpoints its discovery source
//! listed last, those operators added, what operators set of an address, and how the
//! source has been doing. The changes themselves are in `set_changes`.

use std::collections::HashMap;
use std::net::SocketAddr;

use serde::Serialize;
use yardmaster_core::{DiscoveredEndpoint, EndpointState};

/// The inputs an endpoint set is derived from, changed only under the cluster's
/// membership lock (never taken by a pick).
#[derive(Debug, Default)]
pub(crate) struct Membership {
    /// What the discovery source listed last.
    pub(crate) listed: Vec<DiscoveredEndpoint>,
    /// What operators added; kept across discovery updates.
    pub(crate) added: Vec<DiscoveredEndpoint>,
    /// What operators set of an address, other than active.
    pub(crate) overrides: HashMap<SocketAddr, EndpointState>,
    pub(crate) discovery: DiscoveryRecord,
}

/// What the admin API shows of a cluster's discovery.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DiscoveryStatus {
    /// `static`, `dns`, `kubernetes` or `file`.
    pub kind: &'static str,
    /// The source as configured, e.g. `dns users.internal:50051`.
    pub source: String,
    /// Endpoint sets received from the source.
    pub updates_total: u64,
    /// Failed refreshes (each kept the last set).
    pub errors_total: u64,
    /// When the last set was received, in milliseconds since the Unix epoch.
    pub last_update_unix_ms: Option<u64>,
    /// The last failure, while no set has been received since.
    pub last_error: Option<String>,
    /// When the last failure happened, in milliseconds since the Unix epoch.
    pub last_error_unix_ms: Option<u64>,
}

#[derive(Debug, Default)]
pub(crate) struct DiscoveryRecord {
    pub(crate) status: DiscoveryStatus,
    /// Failures since the last set, so an outage is logged once, not on every retry.
    pub(crate) failing_for: u64,
}

impl Membership {
    pub(crate) fn new(kind: &'static str, listed: Vec<DiscoveredEndpoint>) -> Membership {
        let mut membership = Membership {
            listed,
            ..Membership::default()
        };
        membership.discovery.status.kind = kind;
        membership
    }

    pub(crate) fn set_source(&mut self, source: String) {
        self.discovery.status.source = source;
    }

    pub(crate) fn discovery_status(&self) -> DiscoveryStatus {
        self.discovery.status.clone()
    }
}
