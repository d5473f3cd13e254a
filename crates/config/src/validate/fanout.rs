//! Rules for the `fanout` action: a known cluster, `subscribe` only with merged replies,
//! sane limits.

use super::mirror::check_cluster;
use super::{check_call_timeout, check_message_bytes, Problems};
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
    check_call_timeout(path, fanout.timeout, problems);
    check_message_bytes(
        path,
        "max_message_bytes",
        fanout.max_message_bytes,
        problems,
    );
}
