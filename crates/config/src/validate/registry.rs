//! Rules for the registry: sane leases and limits, and that routes and clusters which use
//! it have one to use.

use super::Problems;
use crate::model::{Config, DiscoveryConfig};

/// Checks `config.registry` and every use of it.
pub(super) fn check_registry(config: &Config, problems: &mut Problems) {
    if let Some(registry) = &config.registry {
        if registry.min_ttl.is_zero() || registry.min_ttl > registry.max_ttl {
            problems.push((
                "registry.min_ttl".to_owned(),
                "min_ttl must be more than 0 and at most max_ttl".to_owned(),
            ));
        }
        if registry.max_instances == 0 {
            problems.push((
                "registry.max_instances".to_owned(),
                "max_instances must be at least 1".to_owned(),
            ));
        }
        for (i, network) in registry.allow.iter().enumerate() {
            if let Err(message) = network.parse::<yardmaster_registry::Cidr>() {
                problems.push((format!("registry.allow[{i}]"), message));
            }
        }
        for (i, token) in registry.tokens.iter().enumerate() {
            if token.len() < 16 || token.contains(char::is_whitespace) {
                problems.push((
                    format!("registry.tokens[{i}]"),
                    "a token is at least 16 characters, without spaces".to_owned(),
                ));
            }
        }
        return;
    }
    let missing = "there is no top-level `registry` to use; add `registry: {allow: [...]}`";
    for (i, cluster) in config.clusters.iter().enumerate() {
        if matches!(cluster.discovery, Some(DiscoveryConfig::Registry(_))) {
            problems.push((
                format!("clusters[{i}].discovery.registry"),
                missing.to_owned(),
            ));
        }
    }
    for (i, listener) in config.listeners.iter().enumerate() {
        for (j, route) in listener.routes.iter().enumerate() {
            if route.registry.is_some() {
                let path = format!("listeners[{i}].routes[{j}].registry");
                problems.push((path, missing.to_owned()));
            }
        }
    }
}
