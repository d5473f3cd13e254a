//! Rules for the `fanout` action: a known cluster, `subscribe` only with merged replies,
//! sane limits.

use super::mirror::{check_cluster, MAX_MESSAGE_BYTES};
use super::Problems;
use crate::model::{ClusterConfig, FanoutConfig, FanoutReplies};

/// Checks the fan-out action at `path` (`listeners[i].routes[j].fanout`).
pub(super) fn check_fanout(
    path: &str,
    fanout: &FanoutConfig,
    clusters: &[ClusterConfig],
    problems: &mut Problems,
) {
    check_cluster(path, &fanout.cluster, clusters, problems);
    if fanout.subscribe && fanout.replies == FanoutReplies::First {
        problems.push((
            format!("{path}.subscribe"),
            "`subscribe` follows a streaming call; it needs `replies: merge`".to_owned(),
        ));
    }
    if fanout.timeout.is_some_and(|t| t.is_zero()) {
        problems.push((
            format!("{path}.timeout"),
            "timeout must be greater than 0; leave it out for no limit".to_owned(),
        ));
    }
    if !(1..=MAX_MESSAGE_BYTES).contains(&fanout.max_message_bytes) {
        problems.push((
            format!("{path}.max_message_bytes"),
            format!("max_message_bytes must be 1 to {MAX_MESSAGE_BYTES} (the default is 4194304)"),
        ));
    }
}
