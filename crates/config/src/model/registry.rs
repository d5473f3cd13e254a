//! The registry where services register themselves, and the two places it shows: the
//! `registry` route action (its API) and the `registry` discovery source of clusters.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration;

/// The gateway's registry of self-registered service instances.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Where the embedded store keeps registrations across restarts (written atomically);
    /// absent means in memory only. Relative to the configuration file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Networks registered addresses must be inside (`10.0.0.0/8`, `127.0.0.1/32`); with
    /// none, nothing may register.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Bearer tokens; when given, a registration must carry one in `authorization`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<String>,
    /// The shortest lease a registration may ask for.
    #[serde(default = "default_min_ttl", with = "duration")]
    pub min_ttl: Duration,
    /// The longest lease a registration may ask for.
    #[serde(default = "default_max_ttl", with = "duration")]
    pub max_ttl: Duration,
    /// The most live instances, per token (or in all, without tokens).
    #[serde(default = "default_max_instances")]
    pub max_instances: usize,
}

fn default_min_ttl() -> Duration {
    Duration::from_secs(1)
}

fn default_max_ttl() -> Duration {
    Duration::from_secs(3600)
}

fn default_max_instances() -> usize {
    10_000
}

/// The `registry` route action: the route serves `yardmaster.registry.v1.Registry`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryRouteConfig {}

/// A cluster whose endpoints are the live registered instances of `service`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryDiscoveryConfig {
    /// The service name instances register under, such as `users.v1.Users`.
    pub service: String,
}
