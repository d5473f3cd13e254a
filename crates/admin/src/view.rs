//! What the admin API can see of the gateway.

use std::fmt;
use std::sync::Arc;

use prometheus_client::registry::Registry;
use yardmaster_bridge::BridgeHandle;
use yardmaster_cluster::{ClusterStatus, ControlError};
use yardmaster_core::EndpointChange;
use yardmaster_registry::InstanceStatus;
use yardmaster_transcode::reflection::ReflectionStatus;

/// Read access to the running gateway, implemented by the binary over its current
/// snapshot. Calls must be cheap and must not block.
pub trait GatewayView: Send + Sync {
    /// The effective configuration, as JSON.
    fn config_json(&self) -> serde_json::Value;
    /// Every cluster with its endpoints, in configuration order.
    fn clusters(&self) -> Vec<ClusterStatus>;
    /// Whether the gateway should receive traffic (serving, not shutting down).
    fn is_ready(&self) -> bool;
    /// Changes an endpoint of cluster `cluster` in the running gateway, without a
    /// restart. Returns at once; draining finishes in the background.
    fn update_endpoint(&self, cluster: &str, change: EndpointChange) -> Result<(), UpdateError>;
    /// How fetching descriptors from server reflection has gone, per `transcode` route
    /// that takes them from there.
    fn reflection_status(&self) -> Vec<ReflectionStatus>;
    /// Fetches those descriptors again now; returns how many routes were asked.
    fn refresh_reflection(&self) -> usize;
    /// The live instances in the registry, of `service` (every service when empty);
    /// `None` when the gateway has no registry.
    fn registry_instances(&self, service: &str) -> Option<Vec<InstanceStatus>>;
}

/// Why an endpoint change was refused.
#[derive(Debug)]
pub enum UpdateError {
    /// No cluster has this name.
    UnknownCluster(String),
    /// The cluster refused the change.
    Control(ControlError),
}

/// Everything the admin server needs.
#[derive(Clone)]
pub struct AdminState {
    /// The gateway's state.
    pub view: Arc<dyn GatewayView>,
    /// Every metric family of the process.
    pub registry: Arc<Registry>,
    /// The TCP bridges, for `/bridges/...`.
    pub bridges: Vec<BridgeHandle>,
}

impl fmt::Debug for AdminState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminState").finish_non_exhaustive()
    }
}
