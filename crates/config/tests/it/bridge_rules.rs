//! TCP bridge rules: parsed with locations, a known `grpc` cluster, positive limits, no
//! overlap with other listeners.

use std::time::Duration;

use yardmaster_config::{BridgeBalance, BridgeProtocol, Framing};

use crate::{config, errors};

#[test]
fn a_bridge_alone_is_a_valid_gateway_and_gets_defaults() {
    let config = config(
        "
        listeners: []
        bridges:
          - name: devices
            listen: 127.0.0.1:7000
            cluster: device-upstreams
        clusters:
          - name: device-upstreams
            endpoints: [127.0.0.1:50051]
        ",
    );
    let bridge = &config.bridges[0];
    assert_eq!(bridge.framing, Framing::Lines);
    assert_eq!(bridge.upstream_protocol, BridgeProtocol::Yardmaster);
    assert_eq!(bridge.balance, BridgeBalance::RoundRobin);
    assert_eq!(bridge.max_frame_bytes, 65536);
    assert_eq!(bridge.max_clients, 10_000);
    assert_eq!(bridge.idle_timeout, None);
    assert_eq!(bridge.active_window, Duration::from_secs(60));
    assert_eq!(bridge.max_unacked_frames, 32);
    assert_eq!(bridge.max_queued_bytes, 262_144);
}

#[test]
fn unknown_keys_and_wrong_types_point_at_the_value() {
    assert_eq!(
        errors(
            "
            listeners: []
            bridges:
              - name: devices
                listen: 127.0.0.1:7000
                cluster: up
                framming: lines
            "
        ),
        ["gateway.yaml:6:5: bridges[0].framming: unknown key `framming` (allowed keys: name, listen, cluster, upstream_protocol, framing, max_frame_bytes, balance, max_clients, idle_timeout, active_window, max_unacked_frames, max_queued_bytes, assign_timeout, keepalive_interval, ready_timeout)"]
    );
    assert_eq!(
        errors(
            "
            listeners: []
            bridges:
              - name: devices
                listen: 127.0.0.1:7000
                cluster: up
                max_clients: many
            "
        ),
        ["gateway.yaml:6:18: bridges[0].max_clients: \"many\" is not a whole number"]
    );
    assert_eq!(
        errors(
            "
            listeners: []
            bridges:
              - name: devices
                listen: 127.0.0.1:7000
                cluster: up
                framing: json
            "
        ),
        ["gateway.yaml:6:14: bridges[0].framing: unknown value `json` (expected one of: raw, lines, length_prefixed)"]
    );
}

#[test]
fn reports_every_broken_rule_at_once() {
    assert_eq!(
        errors(
            "
            listeners:
              - name: edge
                listen: 127.0.0.1:8080
            bridges:
              - name: devices
                listen: 0.0.0.0:8080
                cluster: web
                max_frame_bytes: 0
                active_window: 0s
              - name: devices
                listen: 127.0.0.1:7001
                cluster: nowhere
            clusters:
              - name: web
                protocol: http1
                endpoints: [127.0.0.1:8000]
            "
        ),
        [
            "gateway.yaml:6:13: bridges[0].listen: 0.0.0.0:8080 overlaps listeners[0].listen (127.0.0.1:8080); give each listener its own port",
            "gateway.yaml:7:14: bridges[0].cluster: cluster \"web\" does not speak grpc; a bridge needs a `protocol: grpc` cluster",
            "gateway.yaml:8:22: bridges[0].max_frame_bytes: max_frame_bytes must be from 1 to 16777216 (the default is 65536)",
            "gateway.yaml:9:20: bridges[0].active_window: active_window must be greater than 0",
            "gateway.yaml:10:11: bridges[1].name: bridge name \"devices\" is already used by bridges[0]; names must be unique",
            "gateway.yaml:12:14: bridges[1].cluster: unknown cluster \"nowhere\"; defined clusters: web",
        ]
    );
}
