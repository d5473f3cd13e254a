//! Rules that serde cannot check while parsing: cross-references, uniqueness, overlapping
//! listeners, and the shape of each route. Also fills in defaults that depend on other
//! fields (route names) and normalises header names to lower case.

mod bridge;
mod cluster;
mod fanout;
mod mirror;
mod registry;
mod route;
mod transcode;

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::model::{ClusterConfig, Config, ListenerConfig};

pub(crate) use cluster::check_endpoints;

/// More worker threads than this is a typo, not a machine.
const MAX_WORKERS: usize = 1024;

/// Problems found, as `(field path, message)`; empty when the configuration is valid.
pub(crate) type Problems = Vec<(String, String)>;

/// The largest `max_message_bytes` (or `max_body_bytes`): 1 GiB, far above any sensible
/// gRPC message.
const MAX_MESSAGE_BYTES: usize = 1 << 30;

/// An action's `timeout` at `{path}.timeout`: absent (no limit) or more than 0.
fn check_call_timeout(path: &str, timeout: Option<std::time::Duration>, problems: &mut Problems) {
    if timeout.is_some_and(|t| t.is_zero()) {
        problems.push((
            format!("{path}.timeout"),
            "timeout must be greater than 0; leave it out for no limit".to_owned(),
        ));
    }
}

/// An action's size limit at `{path}.{key}`: 1 to [`MAX_MESSAGE_BYTES`].
fn check_message_bytes(path: &str, key: &str, value: usize, problems: &mut Problems) {
    if !(1..=MAX_MESSAGE_BYTES).contains(&value) {
        problems.push((
            format!("{path}.{key}"),
            format!("{key} must be 1 to {MAX_MESSAGE_BYTES} (the default is 4194304)"),
        ));
    }
}

/// Checks every rule and reports every violation, in no particular order. Fills in missing
/// route names as `<listener>#<index>` and lower-cases header names in `match.headers`.
pub(crate) fn validate(config: &mut Config) -> Problems {
    let mut problems = Problems::new();
    if config.listeners.is_empty() && config.bridges.is_empty() {
        problems.push((
            "listeners".to_owned(),
            "at least one listener is required".to_owned(),
        ));
    }
    if let Some(workers) = config.workers {
        if !(1..=MAX_WORKERS).contains(&workers) {
            problems.push((
                "workers".to_owned(),
                format!("must be between 1 and {MAX_WORKERS}, got {workers}"),
            ));
        }
    }
    check_unique_names(
        "listener",
        "listeners",
        config.listeners.iter().map(|l| l.name.as_str()),
        &mut problems,
    );
    check_unique_names(
        "cluster",
        "clusters",
        config.clusters.iter().map(|c| c.name.as_str()),
        &mut problems,
    );
    check_unique_names(
        "bridge",
        "bridges",
        config.bridges.iter().map(|b| b.name.as_str()),
        &mut problems,
    );
    check_overlaps(config, &mut problems);
    for (i, entry) in config.bridges.iter().enumerate() {
        let path = format!("bridges[{i}]");
        bridge::check_bridge(&path, entry, &config.clusters, &mut problems);
    }
    for (i, listener) in config.listeners.iter().enumerate() {
        check_listener(&format!("listeners[{i}]"), listener, &mut problems);
    }
    for (i, cluster) in config.clusters.iter().enumerate() {
        cluster::check_cluster(&format!("clusters[{i}]"), cluster, &mut problems);
    }
    registry::check_registry(config, &mut problems);
    for (i, listener) in config.listeners.iter_mut().enumerate() {
        route::check_routes(
            &format!("listeners[{i}]"),
            listener,
            &config.clusters,
            &mut problems,
        );
    }
    problems
}

/// The cluster named by the `cluster` key at `path`; a problem when none has that name.
fn known_cluster<'c>(
    path: &str,
    name: &str,
    clusters: &'c [ClusterConfig],
    problems: &mut Problems,
) -> Option<&'c ClusterConfig> {
    let found = clusters.iter().find(|c| c.name == name);
    if found.is_none() {
        let defined = if clusters.is_empty() {
            "no clusters are defined (add one under `clusters`)".to_owned()
        } else {
            let names: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
            format!("defined clusters: {}", names.join(", "))
        };
        let message = format!("unknown cluster {name:?}; {defined}");
        problems.push((format!("{path}.cluster"), message));
    }
    found
}

/// Names must be non-empty and unique within their section (`listeners`, `clusters`).
fn check_unique_names<'a>(
    kind: &str,
    section: &str,
    names: impl Iterator<Item = &'a str>,
    problems: &mut Problems,
) {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, name) in names.enumerate() {
        let path = format!("{section}[{i}].name");
        if name.is_empty() {
            problems.push((path, format!("{kind} name must not be empty")));
        } else if let Some(j) = first.get(name) {
            let message = format!(
                "{kind} name {name:?} is already used by {section}[{j}]; names must be unique"
            );
            problems.push((path, message));
        } else {
            first.insert(name, i);
        }
    }
}

/// No two listeners (the admin listener included) may bind the same address.
fn check_overlaps(config: &Config, problems: &mut Problems) {
    let admin = config
        .admin
        .iter()
        .map(|a| ("admin.listen".to_owned(), a.listen));
    let listeners = config
        .listeners
        .iter()
        .enumerate()
        .map(|(i, l)| (format!("listeners[{i}].listen"), l.listen));
    let bridges = config
        .bridges
        .iter()
        .enumerate()
        .map(|(i, b)| (format!("bridges[{i}].listen"), b.listen));
    let all: Vec<(String, SocketAddr)> = admin.chain(listeners).chain(bridges).collect();
    for (i, (path, addr)) in all.iter().enumerate() {
        let earlier = all
            .iter()
            .take(i)
            .find(|(_, other)| is_overlap(*addr, *other));
        if let Some((other_path, other)) = earlier {
            let message =
                format!("{addr} overlaps {other_path} ({other}); give each listener its own port");
            problems.push((path.clone(), message));
        }
    }
}

/// Whether binding both addresses would conflict: the same port (other than 0, which picks a
/// free port) on the same IP, or with either one the unspecified address (all interfaces).
fn is_overlap(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port()
        && a.port() != 0
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

fn check_listener(path: &str, listener: &ListenerConfig, problems: &mut Problems) {
    if listener.max_connections == 0 {
        problems.push((
            format!("{path}.max_connections"),
            "max_connections must be at least 1 (the default is 10000)".to_owned(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn overlap_needs_same_port_and_shared_ip() {
        assert!(is_overlap(addr("127.0.0.1:80"), addr("127.0.0.1:80")));
        assert!(is_overlap(addr("0.0.0.0:80"), addr("127.0.0.1:80")));
        assert!(is_overlap(addr("[::1]:80"), addr("[::]:80")));
        assert!(!is_overlap(addr("127.0.0.1:80"), addr("127.0.0.2:80")));
        assert!(!is_overlap(addr("127.0.0.1:80"), addr("127.0.0.1:81")));
        assert!(!is_overlap(addr("0.0.0.0:0"), addr("0.0.0.0:0")));
    }
}
