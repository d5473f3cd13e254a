//! What the admin API can see of the gateway.

use std::fmt;
use std::sync::Arc;

use prometheus_client::registry::Registry;
use yardmaster_cluster::ClusterStatus;

/// Read access to the running gateway, implemented by the binary over its current
/// snapshot. Calls must be cheap and must not block.
pub trait GatewayView: Send + Sync {
    /// The effective configuration, as JSON.
    fn config_json(&self) -> serde_json::Value;
    /// Every cluster with its endpoints, in configuration order.
    fn clusters(&self) -> Vec<ClusterStatus>;
    /// Whether the gateway should receive traffic (serving, not shutting down).
    fn is_ready(&self) -> bool;
}

/// Everything the admin server needs.
#[derive(Clone)]
pub struct AdminState {
    /// The gateway's state.
    pub view: Arc<dyn GatewayView>,
    /// Every metric family of the process.
    pub registry: Arc<Registry>,
}

impl fmt::Debug for AdminState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminState").finish_non_exhaustive()
    }
}
