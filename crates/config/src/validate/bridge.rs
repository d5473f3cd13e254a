//! Rules for TCP bridges: a known `grpc` cluster, positive limits and durations.

use std::time::Duration;

use super::{known_cluster, Problems};
use crate::model::{BridgeConfig, ClusterConfig, Protocol};

/// The largest `max_frame_bytes`: 16 MiB, far above any sensible frame.
const MAX_FRAME_BYTES: usize = 16 << 20;

/// Checks the bridge at `path` (`bridges[i]`).
pub(super) fn check_bridge(
    path: &str,
    bridge: &BridgeConfig,
    clusters: &[ClusterConfig],
    problems: &mut Problems,
) {
    let cluster = known_cluster(path, &bridge.cluster, clusters, problems);
    if cluster.is_some_and(|c| c.protocol != Protocol::Grpc) {
        problems.push((
            format!("{path}.cluster"),
            format!(
                "cluster {:?} does not speak grpc; a bridge needs a `protocol: grpc` cluster",
                bridge.cluster
            ),
        ));
    }
    if bridge.max_frame_bytes == 0 || bridge.max_frame_bytes > MAX_FRAME_BYTES {
        problems.push((
            format!("{path}.max_frame_bytes"),
            format!("max_frame_bytes must be from 1 to {MAX_FRAME_BYTES} (the default is 65536)"),
        ));
    }
    for (key, value) in [
        ("max_clients", bridge.max_clients),
        ("max_unacked_frames", bridge.max_unacked_frames),
        ("max_queued_bytes", bridge.max_queued_bytes),
    ] {
        if value == 0 {
            problems.push((format!("{path}.{key}"), format!("{key} must be at least 1")));
        }
    }
    let durations = [
        ("idle_timeout", bridge.idle_timeout.unwrap_or(Duration::MAX)),
        ("active_window", bridge.active_window),
        ("assign_timeout", bridge.assign_timeout),
        ("keepalive_interval", bridge.keepalive_interval),
        ("ready_timeout", bridge.ready_timeout),
    ];
    for (key, value) in durations {
        if value.is_zero() {
            problems.push((
                format!("{path}.{key}"),
                format!("{key} must be greater than 0"),
            ));
        }
    }
}
