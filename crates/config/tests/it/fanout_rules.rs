//! Fan-out rules: a known cluster, `subscribe` only with merged replies, limits.

use yardmaster_config::FanoutReplies;

use crate::mirror_rules::with_mirror;
use crate::{config, errors};

/// The listener of [`with_mirror`] with one route whose action is `fanout` (YAML flow).
fn with_fanout(fanout: &str) -> String {
    with_mirror("targets: [{cluster: a}]").replace(
        "      - mirror:\n          targets: [{cluster: a}]\n",
        &format!("      - fanout: {fanout}\n"),
    )
}

#[test]
fn fanout_needs_a_known_cluster_and_merged_replies_to_subscribe() {
    let text = with_fanout("{cluster: z, replies: first, subscribe: true, timeout: 0s}");
    assert_eq!(
        errors(&text),
        [
            "gateway.yaml:5:27: listeners[0].routes[0].fanout.cluster: unknown cluster \"z\"; defined clusters: a, b, c",
            "gateway.yaml:5:57: listeners[0].routes[0].fanout.subscribe: `subscribe` follows a streaming call; it needs `replies: merge`",
            "gateway.yaml:5:72: listeners[0].routes[0].fanout.timeout: timeout must be greater than 0; leave it out for no limit",
        ]
    );
    let text = with_fanout("{cluster: b, subscribe: true}");
    let fanout = config(&text).listeners[0].routes[0].fanout.clone().unwrap();
    assert_eq!(fanout.replies, FanoutReplies::Merge);
    assert!(fanout.subscribe);
}

#[test]
fn fanout_cluster_must_speak_http2() {
    let text =
        with_fanout("{cluster: c}").replace("  - name: c\n", "  - name: c\n    protocol: http1\n");
    assert_eq!(
        errors(&text),
        ["gateway.yaml:5:27: listeners[0].routes[0].fanout.cluster: cluster \"c\" speaks HTTP/1.1; gRPC calls need an HTTP/2 cluster (`protocol: grpc`)"]
    );
}
