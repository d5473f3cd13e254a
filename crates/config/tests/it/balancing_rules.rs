//! Cluster resilience settings: endpoint forms, balancing, health checks, outlier
//! detection, circuit breaking, retries and connections.

use std::time::Duration;

use yardmaster_config::{BalancingPolicy, HashOn, HealthCheckKind, InitialHealth};
use yardmaster_core::GrpcCode;

use crate::{config, errors};

const LISTENER: &str = "
    listeners:
      - name: edge
        listen: 127.0.0.1:8080";

#[test]
fn endpoints_may_be_plain_addresses_or_weighted_mappings() {
    let config = config(&format!(
        "{LISTENER}
    clusters:
      - name: users
        endpoints:
          - 127.0.0.1:50051
          - {{ address: 127.0.0.1:50052, weight: 3 }}
          - address: 127.0.0.1:50053
    "
    ));
    let endpoints = &config.clusters[0].endpoints;
    let weights: Vec<(String, u32)> = endpoints
        .iter()
        .map(|e| (e.address.to_string(), e.weight))
        .collect();
    assert_eq!(
        weights,
        [
            ("127.0.0.1:50051".to_owned(), 1),
            ("127.0.0.1:50052".to_owned(), 3),
            ("127.0.0.1:50053".to_owned(), 1)
        ]
    );
}

#[test]
fn applies_resilience_defaults() {
    let config = config(&format!(
        "{LISTENER}
    clusters:
      - name: users
        endpoints: [127.0.0.1:50051]
        health_check: {{ kind: grpc }}
        outlier_detection: {{}}
        retry: {{}}
    "
    ));
    let users = &config.clusters[0];
    assert_eq!(users.balancing.policy, BalancingPolicy::RoundRobin);
    let check = users.health_check.as_ref().unwrap();
    assert_eq!(check.kind, HealthCheckKind::Grpc);
    assert_eq!(check.interval, Duration::from_secs(5));
    assert_eq!(check.timeout, Duration::from_secs(1));
    assert_eq!((check.healthy_threshold, check.unhealthy_threshold), (2, 3));
    assert_eq!(check.initial_state, InitialHealth::Healthy);
    let outlier = users.outlier_detection.as_ref().unwrap();
    assert_eq!(outlier.consecutive_failures, 5);
    assert_eq!(outlier.base_ejection_time, Duration::from_secs(30));
    assert_eq!(outlier.max_ejected_percent, 50);
    let retry = users.retry.as_ref().unwrap();
    assert_eq!(retry.attempts, 3);
    assert_eq!(retry.retry_on, [GrpcCode::Unavailable]);
    assert_eq!((retry.budget_percent, retry.budget_burst), (20, 10));
    assert_eq!(retry.max_replay_bytes, 65_536);
    assert!(!users.panic_mode);
    assert!(users.circuit_breaker.is_none());
    assert_eq!(users.connection.max_streams_per_connection, 100);
    assert_eq!(users.connection.idle_timeout, Duration::from_secs(300));
    assert_eq!(users.connection.keepalive_interval, None);
    assert_eq!(users.stream_idle_timeout, None);
}

#[test]
fn reads_consistent_hash_settings() {
    let config = config(&format!(
        "{LISTENER}
    clusters:
      - name: users
        endpoints: [127.0.0.1:50051]
        balancing: {{ policy: consistent_hash, hash_on: header, hash_header: x-user-id }}
    "
    ));
    let balancing = &config.clusters[0].balancing;
    assert_eq!(balancing.policy, BalancingPolicy::ConsistentHash);
    assert_eq!(balancing.hash_on, Some(HashOn::Header));
    assert_eq!(balancing.hash_header.as_deref(), Some("x-user-id"));
}

#[test]
fn reports_every_resilience_mistake() {
    let text = format!(
        "{LISTENER}
    clusters:
      - name: users
        endpoints:
          - {{ address: 127.0.0.1:50051, weight: 0 }}
          - 127.0.0.1:50051
        balancing: {{ policy: consistent_hash }}
        health_check: {{ kind: http, healthy_threshold: 0 }}
        outlier_detection: {{ max_ejected_percent: 150 }}
        circuit_breaker: {{ max_requests: 0 }}
        retry: {{ attempts: 1, retry_on: [ok] }}
    "
    );
    assert_eq!(
        errors(&text),
        [
            "gateway.yaml:7:45: clusters[0].endpoints[0].weight: weight must be 1..=1000, found 0",
            "gateway.yaml:8:9: clusters[0].endpoints[1]: 127.0.0.1:50051 is listed twice; list each endpoint once",
            "gateway.yaml:9:16: clusters[0].balancing.hash_on: consistent_hash needs `hash_on`: header, authority or client_address",
            "gateway.yaml:10:19: clusters[0].health_check.path: an http health check needs `path` (e.g. /healthz)",
            "gateway.yaml:10:52: clusters[0].health_check.healthy_threshold: healthy_threshold must be at least 1",
            "gateway.yaml:11:47: clusters[0].outlier_detection.max_ejected_percent: 150 is not a percentage (0..=100)",
            "gateway.yaml:12:38: clusters[0].circuit_breaker.max_requests: max_requests must be at least 1; leave it out for no limit",
            "gateway.yaml:13:24: clusters[0].retry.attempts: attempts counts the first call too: use 2..=10, found 1",
            "gateway.yaml:13:37: clusters[0].retry.retry_on: `ok` is a success and is never retried",
        ]
    );
}

#[test]
fn a_malformed_weighted_endpoint_points_at_its_address() {
    let text = format!(
        "{LISTENER}
    clusters:
      - name: users
        endpoints:
          - {{ address: 10.0.0.x:80 }}
    "
    );
    assert_eq!(
        errors(&text),
        ["gateway.yaml:7:20: clusters[0].endpoints[0].address: \"10.0.0.x:80\" is not an endpoint address (write IP:port or host:port, e.g. 127.0.0.1:8080, [::1]:8080 or users.internal:50051)"]
    );
}

#[test]
fn rejects_a_zero_route_timeout() {
    let text = "
    listeners:
      - name: edge
        listen: 127.0.0.1:8080
        routes:
          - forward: { cluster: users, timeout: 0s }
    clusters:
      - name: users
        endpoints: [127.0.0.1:50051]
    ";
    assert_eq!(
        errors(text),
        ["gateway.yaml:5:45: listeners[0].routes[0].forward.timeout: timeout must be greater than 0; leave it out for no limit"]
    );
}
