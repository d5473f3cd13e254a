//! Route rules: one action, known clusters, well-formed matches and rewrites, names.

use yardmaster_core::GrpcCode;

use crate::{config, dedent, errors};

/// Listener `edge` with `routes` (YAML list items, any indentation) and clusters `users` and
/// `orders`. The first route is on line 5, its first key in column 9.
fn with_routes(routes: &str) -> String {
    let routes: String = dedent(routes)
        .lines()
        .map(|l| format!("      {l}\n"))
        .collect();
    let head = "listeners:\n  - name: edge\n    listen: 127.0.0.1:8080\n    routes:\n";
    let clusters = concat!(
        "clusters:\n",
        "  - name: users\n",
        "    endpoints: [127.0.0.1:50051]\n",
        "  - name: orders\n",
        "    endpoints: [127.0.0.1:50052]\n",
    );
    format!("{head}{routes}{clusters}")
}

#[test]
fn rejects_unknown_cluster_and_lists_the_defined_ones() {
    assert_eq!(
        errors(&with_routes("- forward: {cluster: user}")),
        ["gateway.yaml:5:28: listeners[0].routes[0].forward.cluster: unknown cluster \"user\"; defined clusters: users, orders"]
    );
}

#[test]
fn rejects_forward_when_no_cluster_is_defined() {
    let text = "
        listeners:
          - name: edge
            listen: 127.0.0.1:8080
            routes:
              - forward: {cluster: users}
    ";
    assert_eq!(
        errors(text),
        ["gateway.yaml:5:28: listeners[0].routes[0].forward.cluster: unknown cluster \"users\"; no clusters are defined (add one under `clusters`)"]
    );
}

#[test]
fn requires_exactly_one_action() {
    let routes = "
        - match: {service: shop.v1.Users}
        - forward: {cluster: users}
          deny: {}
    ";
    assert_eq!(
        errors(&with_routes(routes)),
        [
            "gateway.yaml:5:9: listeners[0].routes[0]: route has no action; give it exactly one of `forward`, `deny`, `mirror`, `fanout`, `transcode`, `envelope` or `registry`",
            "gateway.yaml:6:9: listeners[0].routes[1]: route has both `forward` and `deny`; keep exactly one of them",
        ]
    );
}

#[test]
fn names_unnamed_routes_after_listener_and_index() {
    let routes = "
        - forward: {cluster: users}
        - name: named
          forward: {cluster: users}
        - deny: {}
    ";
    let config = config(&with_routes(routes));
    let names: Vec<_> = config.listeners[0]
        .routes
        .iter()
        .map(|r| r.name.as_deref())
        .collect();
    assert_eq!(names, [Some("edge#0"), Some("named"), Some("edge#2")]);
}

/// A default name can collide with an explicit one; the error then points at the route.
#[test]
fn rejects_duplicate_and_empty_route_names() {
    let routes = "
        - name: a
          forward: {cluster: users}
        - name: a
          forward: {cluster: users}
        - name: edge#3
          deny: {}
        - deny: {}
        - name: ''
          deny: {}
    ";
    assert_eq!(
        errors(&with_routes(routes)),
        [
            "gateway.yaml:7:15: listeners[0].routes[1].name: route name \"a\" is already used by listeners[0].routes[0]; names must be unique within a listener",
            "gateway.yaml:11:9: listeners[0].routes[3].name: route name \"edge#3\" is already used by listeners[0].routes[2]; names must be unique within a listener",
            "gateway.yaml:12:15: listeners[0].routes[4].name: route name must not be empty; leave `name` out for the default `<listener>#<index>`",
        ]
    );
}

#[test]
fn accepts_exact_and_suffix_host_patterns() {
    let routes = "
        - match: {authority: api.example.com}
          deny: {}
        - match: {authority: '*.example.com'}
          deny: {}
        - match: {authority: 10.0.0.1}
          deny: {}
        - match: {authority: '[::1]'}
          deny: {}
    ";
    assert_eq!(config(&with_routes(routes)).listeners[0].routes.len(), 4);
}

#[test]
fn rejects_bad_host_patterns() {
    let routes = "
        - match: {authority: 'api.example.com:443'}
          deny: {}
        - match: {authority: 'api.*.example.com'}
          deny: {}
        - match: {authority: 'exa mple.com'}
          deny: {}
        - match: {authority: '*.example.com:8443'}
          deny: {}
        - match: {authority: '[::1]:8443'}
          deny: {}
        - match: {authority: '[::g]'}
          deny: {}
    ";
    assert_eq!(
        errors(&with_routes(routes)),
        [
            "gateway.yaml:5:28: listeners[0].routes[0].match.authority: \"api.example.com:443\" has a port; `authority` matches the host only (write \"api.example.com\")",
            "gateway.yaml:7:28: listeners[0].routes[1].match.authority: \"api.*.example.com\" is not a host pattern: `*` is allowed only as a leading `*.`; write an exact host such as api.example.com or a suffix such as *.example.com",
            "gateway.yaml:9:28: listeners[0].routes[2].match.authority: \"exa mple.com\" is not a host pattern; write an exact host such as api.example.com or a suffix such as *.example.com",
            "gateway.yaml:11:28: listeners[0].routes[3].match.authority: \"*.example.com:8443\" has a port; `authority` matches the host only (write \"*.example.com\")",
            "gateway.yaml:13:28: listeners[0].routes[4].match.authority: \"[::1]:8443\" has a port; `authority` matches the host only (write \"[::1]\")",
            "gateway.yaml:15:28: listeners[0].routes[5].match.authority: \"[::g]\" is not an IPv6 address; write an exact host such as api.example.com or a suffix such as *.example.com",
        ]
    );
}

#[test]
fn rejects_bad_service_and_method_patterns() {
    let routes = "
        - match: {service: ''}
          deny: {}
        - match: {service: 'shop.*.Users'}
          deny: {}
        - match: {service: /shop.v1.Users/}
          deny: {}
        - match: {method: 'Get*User'}
          deny: {}
        - match: {method: shop.v1.Users/GetUser}
          deny: {}
        - match: {service: 'shop.v1.*', method: '*'}
          deny: {}
    ";
    assert_eq!(
        errors(&with_routes(routes)),
        [
            "gateway.yaml:5:26: listeners[0].routes[0].match.service: `service` must not be empty; leave it out to match every service",
            "gateway.yaml:7:26: listeners[0].routes[1].match.service: \"shop.*.Users\": `*` is allowed only as the last character (e.g. \"shop.v1.*\")",
            "gateway.yaml:9:26: listeners[0].routes[2].match.service: \"/shop.v1.Users/\" contains `/`; write the service name alone (e.g. \"shop.v1.Users\")",
            "gateway.yaml:11:25: listeners[0].routes[3].match.method: \"Get*User\": `*` is allowed only as the last character (e.g. \"Get*\")",
            "gateway.yaml:13:25: listeners[0].routes[4].match.method: \"shop.v1.Users/GetUser\" contains `/`; write the method name alone (e.g. \"GetUser\")",
        ]
    );
}

#[test]
fn rejects_bad_path_conditions() {
    let routes = "
        - match: {path: {}}
          deny: {}
        - match: {path: {prefix: /a, exact: /a}}
          deny: {}
        - match: {path: {prefix: api}}
          deny: {}
        - match: {path: {exact: health}}
          deny: {}
        - match: {path: {regex: '/a/[0-9]+'}}
          deny: {}
    ";
    assert_eq!(
        errors(&with_routes(routes)),
        [
            "gateway.yaml:5:23: listeners[0].routes[0].match.path: `path` needs exactly one of `prefix`, `exact` or `regex`, found none",
            "gateway.yaml:7:23: listeners[0].routes[1].match.path: `path` needs exactly one of `prefix`, `exact` or `regex`, found prefix and exact",
            "gateway.yaml:9:32: listeners[0].routes[2].match.path.prefix: \"api\" must start with \"/\" (e.g. \"/api\")",
            "gateway.yaml:11:31: listeners[0].routes[3].match.path.exact: \"health\" must start with \"/\" (e.g. \"/health\")",
        ]
    );
}

#[test]
fn lower_cases_header_names() {
    let routes = "
        - match:
            headers:
              - name: X-Tenant
                exact: blue
          deny: {}
    ";
    let config = config(&with_routes(routes));
    let header = &config.listeners[0].routes[0].matcher.headers[0];
    assert_eq!(header.name, "x-tenant");
    assert_eq!(header.exact.as_deref(), Some("blue"));
}

#[test]
fn rejects_bad_header_names_and_values() {
    let routes = r#"
        - match:
            headers:
              - name: x-ok
              - name: bad header
              - name: x-ok
                exact: "a\x01b"
          deny: {}
    "#;
    assert_eq!(
        errors(&with_routes(routes)),
        [
            "gateway.yaml:8:21: listeners[0].routes[0].match.headers[1].name: \"bad header\" is not a valid header name (use letters, digits and -, e.g. x-tenant)",
            "gateway.yaml:10:22: listeners[0].routes[0].match.headers[2].exact: \"a\\u{1}b\" is not a valid header value (visible ASCII, spaces and tabs)",
        ]
    );
}

#[test]
fn rejects_bad_rewrites() {
    let routes = "
        - match: {service: shop.v1.Users}
          forward:
            cluster: users
            rewrite: {path_prefix: /v2}
        - match: {path: {prefix: /api}}
          forward:
            cluster: users
            rewrite: {path_prefix: v2, host: 'bad host'}
        - match: {path: {prefix: /api}}
          forward:
            cluster: users
            rewrite: {path_prefix: /, host: 'users.internal:8080'}
    ";
    assert_eq!(
        errors(&with_routes(routes)),
        [
            "gateway.yaml:8:34: listeners[0].routes[0].forward.rewrite.path_prefix: `path_prefix` replaces the prefix matched by `match.path.prefix`, and this route has none; add one or remove the rewrite",
            "gateway.yaml:12:34: listeners[0].routes[1].forward.rewrite.path_prefix: \"v2\" must start with \"/\" (e.g. \"/v2\")",
            "gateway.yaml:12:44: listeners[0].routes[1].forward.rewrite.host: \"bad host\" is not a valid host (write a host with an optional port, e.g. users.internal:8080)",
        ]
    );
}

#[test]
fn applies_deny_defaults() {
    let config = config(&with_routes("- deny: {}"));
    let deny = config.listeners[0].routes[0].deny.as_ref().unwrap();
    assert_eq!(deny.grpc_status, GrpcCode::PermissionDenied);
    assert_eq!(deny.http_status, 403);
    assert_eq!(deny.message, "denied by gateway policy");
}

#[test]
fn rejects_bad_deny_statuses() {
    let routes = "
        - deny: {http_status: 600}
        - deny: {http_status: 99, grpc_status: ok}
    ";
    assert_eq!(
        errors(&with_routes(routes)),
        [
            "gateway.yaml:5:29: listeners[0].routes[0].deny.http_status: 600 is not an HTTP status; use 100..=599 (e.g. 403)",
            "gateway.yaml:6:29: listeners[0].routes[1].deny.http_status: 99 is not an HTTP status; use 100..=599 (e.g. 403)",
            "gateway.yaml:6:46: listeners[0].routes[1].deny.grpc_status: `ok` would report a denied call as successful; use an error code such as permission_denied",
        ]
    );
}
