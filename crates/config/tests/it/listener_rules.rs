//! Listener rules: at least one, unique names, no overlapping addresses.

use std::time::Duration;

use yardmaster_config::LogFormat;

use crate::{config, errors};

#[test]
fn requires_at_least_one_listener() {
    assert_eq!(
        errors("listeners: []"),
        ["gateway.yaml:1:12: listeners: at least one listener is required"]
    );
}

#[test]
fn rejects_empty_and_duplicate_listener_names() {
    let text = "
        listeners:
          - name: ''
            listen: 127.0.0.1:8080
          - name: edge
            listen: 127.0.0.1:8081
          - name: edge
            listen: 127.0.0.1:8082
    ";
    assert_eq!(
        errors(text),
        [
            "gateway.yaml:2:11: listeners[0].name: listener name must not be empty",
            "gateway.yaml:6:11: listeners[2].name: listener name \"edge\" is already used by listeners[1]; names must be unique",
        ]
    );
}

#[test]
fn rejects_listeners_on_the_same_address() {
    let text = "
        listeners:
          - name: a
            listen: 127.0.0.1:8080
          - name: b
            listen: 127.0.0.1:8080
    ";
    assert_eq!(
        errors(text),
        ["gateway.yaml:5:13: listeners[1].listen: 127.0.0.1:8080 overlaps listeners[0].listen (127.0.0.1:8080); give each listener its own port"]
    );
}

/// 0.0.0.0 and [::] bind every interface, so they clash with any IP on the same port.
#[test]
fn rejects_unspecified_address_on_a_used_port() {
    let text = "
        admin:
          listen: 0.0.0.0:9901
        listeners:
          - name: a
            listen: 127.0.0.1:8080
          - name: b
            listen: '[::]:8080'
          - name: c
            listen: 127.0.0.1:9901
    ";
    assert_eq!(
        errors(text),
        [
            "gateway.yaml:7:13: listeners[1].listen: [::]:8080 overlaps listeners[0].listen (127.0.0.1:8080); give each listener its own port",
            "gateway.yaml:9:13: listeners[2].listen: 127.0.0.1:9901 overlaps admin.listen (0.0.0.0:9901); give each listener its own port",
        ]
    );
}

#[test]
fn allows_port_zero_and_different_ips_on_one_port() {
    let config = config(
        "
        admin:
          listen: 127.0.0.1:0
        listeners:
          - name: a
            listen: 127.0.0.1:0
          - name: b
            listen: 127.0.0.1:8080
          - name: c
            listen: 127.0.0.2:8080
        ",
    );
    assert_eq!(config.listeners.len(), 3);
}

#[test]
fn applies_defaults() {
    let config = config(
        "
        listeners:
          - name: edge
            listen: 127.0.0.1:8080
        ",
    );
    assert!(config.admin.is_none());
    assert_eq!(config.log.format, LogFormat::Text);
    assert!(config.log.access_log);
    assert_eq!(config.drain_timeout, Duration::from_secs(30));
    let edge = &config.listeners[0];
    assert_eq!(edge.max_connections, 10_000);
    assert!(edge.tls.is_none());
    assert!(edge.routes.is_empty());
    assert!(config.clusters.is_empty());
}

#[test]
fn rejects_zero_max_connections() {
    let text = "
        listeners:
          - name: edge
            listen: 127.0.0.1:8080
            max_connections: 0
    ";
    assert_eq!(
        errors(text),
        ["gateway.yaml:4:22: listeners[0].max_connections: max_connections must be at least 1 (the default is 10000)"]
    );
}

#[test]
fn workers_default_to_one_per_core_and_must_be_a_sane_count() {
    let with_workers = |workers: &str| {
        format!("workers: {workers}\nlisteners:\n  - name: edge\n    listen: 127.0.0.1:8080\n")
    };
    let default = config("listeners: [{ name: edge, listen: 127.0.0.1:8080 }]");
    assert_eq!(default.workers, None);
    assert_eq!(config(&with_workers("3")).workers, Some(3));
    for bad in ["0", "5000"] {
        assert_eq!(
            errors(&with_workers(bad)),
            [format!(
                "gateway.yaml:1:10: workers: must be between 1 and 1024, got {bad}"
            )]
        );
    }
}
