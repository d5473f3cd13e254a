//! How an endpoint set changes: what discovery sources and operators tell the cluster
//! that owns the set.

use std::net::SocketAddr;

use serde::Serialize;

/// One endpoint as a discovery source lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DiscoveredEndpoint {
    /// `ip:port`.
    pub address: SocketAddr,
    /// Relative share of traffic under the `weighted` policy (1..=1000).
    pub weight: u32,
}

impl DiscoveredEndpoint {
    /// An endpoint of weight 1.
    pub fn new(address: SocketAddr) -> DiscoveredEndpoint {
        DiscoveredEndpoint { address, weight: 1 }
    }
}

/// Whether an operator lets an endpoint receive new calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointState {
    /// In rotation (when healthy and not ejected).
    Active,
    /// Out of rotation until enabled again; health checks go on.
    Disabled,
    /// Out of rotation; removed once its calls in flight have finished.
    Draining,
}

/// A change to a cluster's endpoints, from its discovery source or from an operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndpointChange {
    /// The source's whole current set. Endpoints it listed before and not now leave the
    /// cluster once their calls have finished; those that stay keep their connections,
    /// health and ejection state.
    Discovered(Vec<DiscoveredEndpoint>),
    /// The source could not refresh its set (a failed or empty DNS answer, a broken file,
    /// an API server error). The last set stays; the text says why.
    DiscoveryFailed(String),
    /// An operator adds an endpoint with this weight.
    Add {
        /// `ip:port`.
        address: SocketAddr,
        /// Share under the `weighted` policy.
        weight: u32,
    },
    /// An operator removes an endpoint at once (calls in flight finish). A discovered
    /// endpoint comes back when its source lists it again.
    Remove(SocketAddr),
    /// An operator enables, disables or drains an endpoint; remembered when its source
    /// lists it again.
    SetState(SocketAddr, EndpointState),
}
