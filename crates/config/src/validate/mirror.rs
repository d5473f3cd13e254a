//! Rules for the `mirror` action: known, distinct target clusters, filters that make sense,
//! at most one responder per message type, sane limits.

use std::collections::HashMap;

use super::{check_call_timeout, check_message_bytes, known_cluster, Problems};
use crate::model::{
    ClusterConfig, MessageType, MessageTypeConfig, MirrorConfig, MirrorTargetConfig,
};

/// Checks the mirror action at `path` (`listeners[i].routes[j].mirror`).
pub(super) fn check_mirror(
    path: &str,
    mirror: &MirrorConfig,
    clusters: &[ClusterConfig],
    problems: &mut Problems,
) {
    if mirror.targets.is_empty() {
        problems.push((
            format!("{path}.targets"),
            "a mirror needs at least one target".to_owned(),
        ));
    }
    if let Some(message_type) = &mirror.message_type {
        check_message_type(&format!("{path}.message_type"), message_type, problems);
    }
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, target) in mirror.targets.iter().enumerate() {
        let target_path = format!("{path}.targets[{i}]");
        if let Some(j) = first.get(target.cluster.as_str()) {
            problems.push((
                format!("{target_path}.cluster"),
                format!(
                    "cluster {:?} is already the target {path}.targets[{j}]; \
                     list each cluster once",
                    target.cluster
                ),
            ));
        } else {
            first.insert(&target.cluster, i);
        }
        let has_types = mirror.message_type.is_some();
        check_target(&target_path, target, has_types, clusters, problems);
    }
    check_responders(path, &mirror.targets, problems);
    if let Some(name) = &mirror.default_responder {
        if !mirror.targets.iter().any(|t| &t.cluster == name) {
            let targets: Vec<&str> = mirror.targets.iter().map(|t| t.cluster.as_str()).collect();
            problems.push((
                format!("{path}.default_responder"),
                format!(
                    "{name:?} is not one of this mirror's targets ({})",
                    targets.join(", ")
                ),
            ));
        }
    }
    check_limits(path, mirror, problems);
}

fn check_message_type(path: &str, config: &MessageTypeConfig, problems: &mut Problems) {
    let given: Vec<&str> = [
        ("field", config.field.is_some()),
        ("field_name", config.field_name.is_some()),
        ("method", config.method),
    ]
    .into_iter()
    .filter_map(|(key, is_set)| is_set.then_some(key))
    .collect();
    if given.len() != 1 {
        let found = match given.as_slice() {
            [] => "none".to_owned(),
            keys => keys.join(" and "),
        };
        problems.push((
            path.to_owned(),
            format!(
                "`message_type` needs exactly one of `field` (e.g. `field: 3`), `field_name` \
                 or `method: true`, found {found}"
            ),
        ));
    }
    match (&config.field_name, config.proto_files.is_empty()) {
        (Some(_), true) => problems.push((
            format!("{path}.field_name"),
            "`field_name` needs `proto_files` that define the route's services".to_owned(),
        )),
        (None, false) => problems.push((
            format!("{path}.proto_files"),
            "`proto_files` are only used with `field_name`".to_owned(),
        )),
        _ => {}
    }
    if let Some(name) = &config.field_name {
        let is_ident = |s: &str| {
            s.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if !name.split('.').all(is_ident) {
            problems.push((
                format!("{path}.field_name"),
                format!(
                    "{name:?} is not a field name; write names joined by dots (e.g. header.kind)"
                ),
            ));
        }
    }
}

fn check_target(
    path: &str,
    target: &MirrorTargetConfig,
    has_types: bool,
    clusters: &[ClusterConfig],
    problems: &mut Problems,
) {
    check_cluster(path, &target.cluster, clusters, problems);
    if target.include.is_some() && target.exclude.is_some() {
        problems.push((
            format!("{path}.exclude"),
            "a target has `include` or `exclude`, not both".to_owned(),
        ));
    }
    if target.include.as_ref().is_some_and(Vec::is_empty) {
        problems.push((
            format!("{path}.include"),
            "an empty `include` lets no message through; list types or remove the target"
                .to_owned(),
        ));
    }
    let typed_keys = [
        ("include", target.include.is_some()),
        ("exclude", target.exclude.is_some()),
        ("responder_for", !target.responder_for.is_empty()),
    ];
    for (key, is_set) in typed_keys {
        if is_set && !has_types {
            problems.push((
                format!("{path}.{key}"),
                format!("`{key}` needs message types; add `message_type` to the mirror"),
            ));
        }
    }
    for (i, ty) in target.responder_for.iter().enumerate() {
        if !target.passes(ty) {
            problems.push((
                format!("{path}.responder_for[{i}]"),
                format!(
                    "type {ty} does not pass this target's filter, so it could never answer it"
                ),
            ));
        }
    }
    if !(0.0..=100.0).contains(&target.sample_percent) {
        problems.push((
            format!("{path}.sample_percent"),
            format!(
                "{} is not a percentage; use 0 to 100 (default 100)",
                target.sample_percent
            ),
        ));
    }
    if target.queue_size == 0 {
        problems.push((
            format!("{path}.queue_size"),
            "queue_size must be at least 1 (the default is 64)".to_owned(),
        ));
    }
}

/// No message type may have two responders.
fn check_responders(path: &str, targets: &[MirrorTargetConfig], problems: &mut Problems) {
    let mut owner: HashMap<&MessageType, usize> = HashMap::new();
    for (i, target) in targets.iter().enumerate() {
        for (k, ty) in target.responder_for.iter().enumerate() {
            match owner.get(ty) {
                Some(&j) if j != i => problems.push((
                    format!("{path}.targets[{i}].responder_for[{k}]"),
                    format!(
                        "two responders for type {ty}: {:?} and {:?} ({path}.targets[{j}]); \
                         give each type at most one responder",
                        target.cluster,
                        targets
                            .get(j)
                            .map(|t| t.cluster.as_str())
                            .unwrap_or_default(),
                    ),
                )),
                Some(_) => {}
                None => {
                    owner.insert(ty, i);
                }
            }
        }
    }
}

fn check_limits(path: &str, mirror: &MirrorConfig, problems: &mut Problems) {
    check_call_timeout(path, mirror.timeout, problems);
    if mirror.copy_timeout.is_zero() {
        problems.push((
            format!("{path}.copy_timeout"),
            "copy_timeout must be greater than 0 (the default is 30s)".to_owned(),
        ));
    }
    check_message_bytes(
        path,
        "max_message_bytes",
        mirror.max_message_bytes,
        problems,
    );
}

/// A `cluster` key must name a defined cluster that speaks HTTP/2: mirror and fan-out
/// send gRPC calls, which HTTP/1.1 cannot carry (trailers, streams both ways).
pub(super) fn check_cluster(
    path: &str,
    name: &str,
    clusters: &[ClusterConfig],
    problems: &mut Problems,
) {
    if let Some(cluster) = known_cluster(path, name, clusters, problems) {
        if !cluster.protocol.is_http2() {
            problems.push((
                format!("{path}.cluster"),
                format!(
                    "cluster {name:?} speaks HTTP/1.1; gRPC calls need an HTTP/2 cluster \
                     (`protocol: grpc`)"
                ),
            ));
        }
    }
}
