//! Discovery rules: exactly one source per cluster, host names in `endpoints`, each
//! source's settings, and the endpoint file of the `file` source.

use std::time::Duration;

use yardmaster_config::{parse_endpoint_file, DiscoveryConfig, EndpointAddress, PortConfig};

use crate::{config, errors};

const LISTENER: &str = "
    listeners:
      - name: edge
        listen: 127.0.0.1:8080";

#[test]
fn reads_each_source_with_its_defaults() {
    let config = config(&format!(
        "{LISTENER}
    clusters:
      - name: by-name
        endpoints: [users.internal:50051, 127.0.0.1:50052]
      - name: dns
        discovery: {{dns: {{name: users.internal:50051, name_server: 127.0.0.1:5353}}}}
      - name: srv
        discovery: {{dns: {{srv: _grpc._tcp.users.internal, max_refresh: 5s}}}}
      - name: k8s
        discovery: {{kubernetes: {{service: users, namespace: shop, port: grpc}}}}
      - name: file
        discovery: {{file: {{path: /etc/yardmaster/users.yaml}}}}
    "
    ));
    let clusters = &config.clusters;
    assert_eq!(
        clusters[0].endpoints[0].address,
        EndpointAddress::Name {
            host: "users.internal".into(),
            port: 50051
        }
    );
    let Some(DiscoveryConfig::Dns(dns)) = &clusters[1].discovery else {
        panic!("dns: {:?}", clusters[1].discovery);
    };
    assert_eq!(dns.name_server, Some(([127, 0, 0, 1], 5353).into()));
    assert_eq!(
        (dns.min_refresh, dns.max_refresh),
        (Duration::from_secs(1), Duration::from_secs(30))
    );
    let Some(DiscoveryConfig::Dns(srv)) = &clusters[2].discovery else {
        panic!("srv");
    };
    assert_eq!(srv.max_refresh, Duration::from_secs(5));
    let Some(DiscoveryConfig::Kubernetes(k8s)) = &clusters[3].discovery else {
        panic!("kubernetes");
    };
    assert_eq!(k8s.port, Some(PortConfig::Name("grpc".into())));
    let Some(DiscoveryConfig::File(file)) = &clusters[4].discovery else {
        panic!("file");
    };
    assert_eq!(file.poll_interval, Duration::from_millis(500));
}

#[test]
fn refuses_two_sources_and_incomplete_ones() {
    let text = format!(
        "{LISTENER}
    clusters:
      - name: both
        endpoints: [127.0.0.1:50051]
        discovery: {{dns: {{name: users:1}}}}
      - name: neither
        discovery: {{dns: {{min_refresh: 10s, max_refresh: 1s}}}}
      - name: address
        discovery: {{dns: {{name: 127.0.0.1:50051}}}}
      - name: k8s
        discovery: {{kubernetes: {{service: '', port: 0}}}}
      - name: empty
        discovery: {{static: []}}
    "
    );
    assert_eq!(
        errors(&text),
        [
            "gateway.yaml:7:16: clusters[0].discovery: write either `endpoints` or `discovery`, not both (`endpoints` is the short form of `discovery: {static: [...]}`)",
            "gateway.yaml:9:22: clusters[1].discovery.dns: write exactly one of `name` (host:port, for A/AAAA records) and `srv` (e.g. _grpc._tcp.users.internal)",
            "gateway.yaml:9:54: clusters[1].discovery.dns.max_refresh: max_refresh must not be shorter than min_refresh",
            "gateway.yaml:11:29: clusters[2].discovery.dns.name: \"127.0.0.1:50051\" is an address, not a name; list it under `endpoints`",
            "gateway.yaml:13:39: clusters[3].discovery.kubernetes.service: service must not be empty",
            "gateway.yaml:13:49: clusters[3].discovery.kubernetes.port: port 0 is not a port; write the number or the Service port's name",
            "gateway.yaml:15:25: clusters[4].discovery.static: at least one endpoint is required (e.g. `[127.0.0.1:50051]`)",
        ]
    );
}

#[test]
fn a_mistyped_address_is_not_taken_for_a_host_name() {
    let text = format!(
        "{LISTENER}
    clusters:
      - name: users
        endpoints: [10.0.0.x:80]
    "
    );
    assert_eq!(
        errors(&text),
        ["gateway.yaml:6:17: clusters[0].endpoints[0]: \"10.0.0.x:80\" is not an endpoint address (write IP:port or host:port, e.g. 127.0.0.1:8080, [::1]:8080 or users.internal:50051)"]
    );
}

/// A bridge follows its cluster's endpoint set, wherever the endpoints come from.
#[test]
fn a_bridge_may_name_a_cluster_with_discovery_or_host_names() {
    let config = config(&format!(
        "{LISTENER}
    clusters:
      - name: by-name
        endpoints: [users.internal:50051]
      - name: file
        discovery: {{file: {{path: /etc/yardmaster/devices.yaml}}}}
    bridges:
      - name: devices
        listen: 127.0.0.1:7000
        cluster: by-name
      - name: terminals
        listen: 127.0.0.1:7001
        cluster: file
    "
    ));
    let clusters: Vec<&str> = config.bridges.iter().map(|b| b.cluster.as_str()).collect();
    assert_eq!(clusters, ["by-name", "file"]);
}

#[test]
fn endpoint_files_parse_with_file_line_and_field() {
    let good = "endpoints:\n  - 127.0.0.1:50051\n  - {address: '[::1]:50052', weight: 3}\n";
    let endpoints = parse_endpoint_file(good, "users.yaml").unwrap();
    assert_eq!(endpoints.len(), 2);
    assert_eq!(endpoints[1].weight, 3);
    let json = r#"{"endpoints": ["127.0.0.1:1", {"address": "127.0.0.1:2", "weight": 2}]}"#;
    assert_eq!(parse_endpoint_file(json, "users.json").unwrap().len(), 2);

    let error = |text: &str| {
        parse_endpoint_file(text, "users.yaml")
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        error("endpoints:\n  - 127.0.0.1:50051\n  - {address: 127.0.0.1:50052, weight: 0}\n"),
        "users.yaml:3:40: endpoints[1].weight: weight must be 1..=1000, found 0"
    );
    assert_eq!(
        error("endpoints:\n  - users.internal:50051\n"),
        "users.yaml:2:5: endpoints[0]: users.internal:50051 is a host name; a discovery file lists IP:port addresses"
    );
    assert_eq!(
        error("endpoints:\n  - 10.0.0.x:1\n"),
        "users.yaml:2:5: endpoints[0]: \"10.0.0.x:1\" is not an endpoint address (write IP:port or host:port, e.g. 127.0.0.1:8080, [::1]:8080 or users.internal:50051)"
    );
    assert_eq!(
        error(""),
        "users.yaml: the file has no content; write `endpoints: [ip:port, ...]`"
    );
    assert!(
        error("hosts: []").starts_with("users.yaml:1:1: "),
        "{}",
        error("hosts: []")
    );
}
