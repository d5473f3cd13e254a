//! Rules for one cluster: endpoints, timeouts, and the settings of each policy.

use std::collections::HashSet;
use std::time::Duration;

use http::HeaderName;

use super::Problems;
use crate::model::{
    BalancingConfig, BalancingPolicy, ClusterConfig, DiscoveryConfig, DnsDiscoveryConfig,
    EndpointAddress, EndpointConfig, HashOn, HealthCheckConfig, HealthCheckKind,
    OutlierDetectionConfig, PortConfig, RetryConfig,
};

/// The largest endpoint weight: keeps the weighted schedule of a cluster small.
pub(crate) const MAX_WEIGHT: u32 = 1000;

/// The most attempts a retry policy may make.
const MAX_ATTEMPTS: u32 = 10;

pub(super) fn check_cluster(path: &str, cluster: &ClusterConfig, problems: &mut Problems) {
    match (&cluster.discovery, cluster.endpoints.is_empty()) {
        (None, true) => problems.push((
            format!("{path}.endpoints"),
            "a cluster needs at least one endpoint (e.g. `endpoints: [127.0.0.1:50051]`) \
             or a `discovery` source"
                .to_owned(),
        )),
        (None, false) => {
            check_endpoints(&format!("{path}.endpoints"), &cluster.endpoints, problems)
        }
        (Some(_), false) => problems.push((
            format!("{path}.discovery"),
            "write either `endpoints` or `discovery`, not both (`endpoints` is the short \
             form of `discovery: {static: [...]}`)"
                .to_owned(),
        )),
        (Some(discovery), true) => {
            check_discovery(&format!("{path}.discovery"), discovery, problems);
        }
    }
    positive(path, "connect_timeout", cluster.connect_timeout, problems);
    check_balancing(&format!("{path}.balancing"), &cluster.balancing, problems);
    if let Some(check) = &cluster.health_check {
        check_health(&format!("{path}.health_check"), check, problems);
    }
    if let Some(outlier) = &cluster.outlier_detection {
        check_outlier(&format!("{path}.outlier_detection"), outlier, problems);
    }
    if let Some(breaker) = &cluster.circuit_breaker {
        let limits = [
            ("max_requests", breaker.max_requests),
            ("max_pending", breaker.max_pending),
            ("max_connections", breaker.max_connections),
        ];
        for (key, limit) in limits {
            if limit == Some(0) {
                problems.push((
                    format!("{path}.circuit_breaker.{key}"),
                    format!("{key} must be at least 1; leave it out for no limit"),
                ));
            }
        }
    }
    if let Some(retry) = &cluster.retry {
        check_retry(&format!("{path}.retry"), retry, problems);
    }
    let connection = &cluster.connection;
    if connection.max_streams_per_connection == 0 {
        problems.push((
            format!("{path}.connection.max_streams_per_connection"),
            "max_streams_per_connection must be at least 1 (the default is 100)".to_owned(),
        ));
    }
    positive(
        &format!("{path}.connection"),
        "idle_timeout",
        connection.idle_timeout,
        problems,
    );
    positive(
        &format!("{path}.connection"),
        "keepalive_timeout",
        connection.keepalive_timeout,
        problems,
    );
    if let Some(interval) = connection.keepalive_interval {
        positive(
            &format!("{path}.connection"),
            "keepalive_interval",
            interval,
            problems,
        );
    }
    if let Some(timeout) = cluster.attempt_timeout {
        positive(path, "attempt_timeout", timeout, problems);
    }
    if let Some(idle) = cluster.stream_idle_timeout {
        positive(path, "stream_idle_timeout", idle, problems);
    }
}

/// Checks a list of endpoints: not empty, ports set, each listed once, weights in range.
pub(crate) fn check_endpoints(path: &str, endpoints: &[EndpointConfig], problems: &mut Problems) {
    if endpoints.is_empty() {
        problems.push((
            path.to_owned(),
            "at least one endpoint is required (e.g. `[127.0.0.1:50051]`)".to_owned(),
        ));
    }
    let mut seen = HashSet::new();
    for (i, endpoint) in endpoints.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let address = &endpoint.address;
        if address.port() == 0 {
            problems.push((
                at.clone(),
                format!("{address} has port 0; write the port the endpoint listens on"),
            ));
        } else if !seen.insert(address) {
            problems.push((
                at.clone(),
                format!("{address} is listed twice; list each endpoint once"),
            ));
        }
        if !(1..=MAX_WEIGHT).contains(&endpoint.weight) {
            problems.push((
                format!("{at}.weight"),
                format!("weight must be 1..={MAX_WEIGHT}, found {}", endpoint.weight),
            ));
        }
    }
}

fn check_discovery(path: &str, discovery: &DiscoveryConfig, problems: &mut Problems) {
    match discovery {
        DiscoveryConfig::Static(endpoints) => {
            check_endpoints(&format!("{path}.static"), endpoints, problems);
        }
        DiscoveryConfig::Dns(dns) => check_dns(&format!("{path}.dns"), dns, problems),
        DiscoveryConfig::Kubernetes(k8s) => {
            let path = format!("{path}.kubernetes");
            for (key, value) in [("service", &k8s.service), ("namespace", &k8s.namespace)] {
                if value.is_empty() {
                    problems.push((format!("{path}.{key}"), format!("{key} must not be empty")));
                }
            }
            match &k8s.port {
                Some(PortConfig::Number(0)) => problems.push((
                    format!("{path}.port"),
                    "port 0 is not a port; write the number or the Service port's name".to_owned(),
                )),
                Some(PortConfig::Name(name)) if name.is_empty() => problems.push((
                    format!("{path}.port"),
                    "the port name must not be empty".to_owned(),
                )),
                _ => {}
            }
        }
        DiscoveryConfig::File(file) => {
            let path = format!("{path}.file");
            if file.path.as_os_str().is_empty() {
                problems.push((format!("{path}.path"), "path must not be empty".to_owned()));
            }
            positive(&path, "poll_interval", file.poll_interval, problems);
        }
        DiscoveryConfig::Registry(registry) => {
            if registry.service.is_empty() {
                problems.push((
                    format!("{path}.registry.service"),
                    "service must not be empty".to_owned(),
                ));
            }
        }
    }
}

fn check_dns(path: &str, dns: &DnsDiscoveryConfig, problems: &mut Problems) {
    match (&dns.name, &dns.srv) {
        (None, None) | (Some(_), Some(_)) => problems.push((
            path.to_owned(),
            "write exactly one of `name` (host:port, for A/AAAA records) and `srv` \
             (e.g. _grpc._tcp.users.internal)"
                .to_owned(),
        )),
        (Some(name), None) => match crate::socket_addr::parse_endpoint(name) {
            Ok(EndpointAddress::Name { port: 0, .. }) => problems.push((
                format!("{path}.name"),
                format!("{name:?} has port 0; write the port the endpoints listen on"),
            )),
            Ok(EndpointAddress::Name { .. }) => {}
            Ok(EndpointAddress::Socket(_)) => problems.push((
                format!("{path}.name"),
                format!("{name:?} is an address, not a name; list it under `endpoints`"),
            )),
            Err(message) => problems.push((format!("{path}.name"), message)),
        },
        (None, Some(srv)) => {
            if srv.is_empty() || srv.contains(':') {
                problems.push((
                    format!("{path}.srv"),
                    format!("{srv:?} is not an SRV name (e.g. _grpc._tcp.users.internal)"),
                ));
            }
        }
    }
    positive(path, "min_refresh", dns.min_refresh, problems);
    if dns.max_refresh < dns.min_refresh {
        problems.push((
            format!("{path}.max_refresh"),
            "max_refresh must not be shorter than min_refresh".to_owned(),
        ));
    }
}

fn positive(path: &str, key: &str, value: Duration, problems: &mut Problems) {
    if value.is_zero() {
        problems.push((
            format!("{path}.{key}"),
            format!("{key} must be greater than 0 (e.g. 2s)"),
        ));
    }
}

fn check_balancing(path: &str, balancing: &BalancingConfig, problems: &mut Problems) {
    let is_hash = balancing.policy == BalancingPolicy::ConsistentHash;
    match (is_hash, balancing.hash_on) {
        (true, None) => problems.push((
            format!("{path}.hash_on"),
            "consistent_hash needs `hash_on`: header, authority or client_address".to_owned(),
        )),
        (false, Some(_)) => problems.push((
            format!("{path}.hash_on"),
            "`hash_on` only applies to policy consistent_hash".to_owned(),
        )),
        _ => {}
    }
    let wants_header = is_hash && balancing.hash_on == Some(HashOn::Header);
    match (&balancing.hash_header, wants_header) {
        (None, true) => problems.push((
            format!("{path}.hash_header"),
            "hash_on: header needs `hash_header`, the header to hash (e.g. x-user-id)".to_owned(),
        )),
        (Some(_), false) => problems.push((
            format!("{path}.hash_header"),
            "`hash_header` only applies with policy consistent_hash and hash_on: header".to_owned(),
        )),
        (Some(name), true) if HeaderName::from_bytes(name.as_bytes()).is_err() => {
            problems.push((
                format!("{path}.hash_header"),
                format!("{name:?} is not a valid header name"),
            ));
        }
        _ => {}
    }
}

fn check_health(path: &str, check: &HealthCheckConfig, problems: &mut Problems) {
    match (&check.path, check.kind) {
        (None, HealthCheckKind::Http) => problems.push((
            format!("{path}.path"),
            "an http health check needs `path` (e.g. /healthz)".to_owned(),
        )),
        (Some(p), HealthCheckKind::Http) if !p.starts_with('/') => {
            problems.push((format!("{path}.path"), format!("{p:?} must start with `/`")))
        }
        (Some(_), HealthCheckKind::Grpc | HealthCheckKind::Tcp) => problems.push((
            format!("{path}.path"),
            "`path` only applies to kind http".to_owned(),
        )),
        _ => {}
    }
    let (min, max) = (check.expected_status_min, check.expected_status_max);
    if !(100..=599).contains(&min) || !(100..=599).contains(&max) || min > max {
        problems.push((
            format!("{path}.expected_status_min"),
            format!("expected statuses {min}..={max} are not a range within 100..=599"),
        ));
    }
    positive(path, "interval", check.interval, problems);
    positive(path, "timeout", check.timeout, problems);
    for (key, value) in [
        ("healthy_threshold", check.healthy_threshold),
        ("unhealthy_threshold", check.unhealthy_threshold),
    ] {
        if value == 0 {
            problems.push((format!("{path}.{key}"), format!("{key} must be at least 1")));
        }
    }
}

fn check_outlier(path: &str, outlier: &OutlierDetectionConfig, problems: &mut Problems) {
    if outlier.consecutive_failures == 0 {
        problems.push((
            format!("{path}.consecutive_failures"),
            "consecutive_failures must be at least 1".to_owned(),
        ));
    }
    positive(
        path,
        "base_ejection_time",
        outlier.base_ejection_time,
        problems,
    );
    if outlier.max_ejection_time < outlier.base_ejection_time {
        problems.push((
            format!("{path}.max_ejection_time"),
            "max_ejection_time must not be shorter than base_ejection_time".to_owned(),
        ));
    }
    if outlier.max_ejected_percent > 100 {
        problems.push((
            format!("{path}.max_ejected_percent"),
            format!(
                "{} is not a percentage (0..=100)",
                outlier.max_ejected_percent
            ),
        ));
    }
}

fn check_retry(path: &str, retry: &RetryConfig, problems: &mut Problems) {
    if !(2..=MAX_ATTEMPTS).contains(&retry.attempts) {
        problems.push((
            format!("{path}.attempts"),
            format!(
                "attempts counts the first call too: use 2..={MAX_ATTEMPTS}, found {}",
                retry.attempts
            ),
        ));
    }
    if retry.retry_on.contains(&yardmaster_core::GrpcCode::Ok) {
        problems.push((
            format!("{path}.retry_on"),
            "`ok` is a success and is never retried".to_owned(),
        ));
    }
    if retry.budget_percent > 100 {
        problems.push((
            format!("{path}.budget_percent"),
            format!("{} is more than 100 %", retry.budget_percent),
        ));
    }
    positive(path, "backoff_base", retry.backoff_base, problems);
    if retry.backoff_max < retry.backoff_base {
        problems.push((
            format!("{path}.backoff_max"),
            "backoff_max must not be shorter than backoff_base".to_owned(),
        ));
    }
}
