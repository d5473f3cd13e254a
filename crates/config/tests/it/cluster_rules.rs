//! Cluster rules: unique names, at least one endpoint, real ports, a positive timeout.

use std::time::Duration;

use yardmaster_config::Protocol;

use crate::{config, errors};

const LISTENER: &str = "
    listeners:
      - name: edge
        listen: 127.0.0.1:8080";

#[test]
fn applies_defaults() {
    let config = config(&format!(
        "{LISTENER}
    clusters:
      - name: users
        endpoints: [127.0.0.1:50051]
    "
    ));
    let users = &config.clusters[0];
    assert_eq!(users.protocol, Protocol::Grpc);
    assert_eq!(users.connect_timeout, Duration::from_secs(2));
}

#[test]
fn rejects_empty_and_duplicate_cluster_names() {
    let text = format!(
        "{LISTENER}
    clusters:
      - name: ''
        endpoints: [127.0.0.1:50051]
      - name: users
        endpoints: [127.0.0.1:50052]
      - name: users
        endpoints: [127.0.0.1:50053]
    "
    );
    assert_eq!(
        errors(&text),
        [
            "gateway.yaml:5:11: clusters[0].name: cluster name must not be empty",
            "gateway.yaml:9:11: clusters[2].name: cluster name \"users\" is already used by clusters[1]; names must be unique",
        ]
    );
}

#[test]
fn requires_an_endpoint() {
    let text = format!(
        "{LISTENER}
    clusters:
      - name: users
        endpoints: []
    "
    );
    assert_eq!(
        errors(&text),
        ["gateway.yaml:6:16: clusters[0].endpoints: a cluster needs at least one endpoint (e.g. `endpoints: [127.0.0.1:50051]`) or a `discovery` source"]
    );
}

#[test]
fn rejects_endpoint_port_zero() {
    let text = format!(
        "{LISTENER}
    clusters:
      - name: users
        endpoints:
          - 127.0.0.1:50051
          - 127.0.0.1:0
    "
    );
    assert_eq!(
        errors(&text),
        ["gateway.yaml:8:9: clusters[0].endpoints[1]: 127.0.0.1:0 has port 0; write the port the endpoint listens on"]
    );
}

#[test]
fn rejects_zero_connect_timeout() {
    let text = format!(
        "{LISTENER}
    clusters:
      - name: users
        connect_timeout: 0ms
        endpoints: [127.0.0.1:50051]
    "
    );
    assert_eq!(
        errors(&text),
        ["gateway.yaml:6:22: clusters[0].connect_timeout: connect_timeout must be greater than 0 (e.g. 2s)"]
    );
}
