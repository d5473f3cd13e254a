//! Errors found while parsing (syntax, unknown keys, wrong types, malformed values): one
//! line with the location of the offending key or value and its field path.

use crate::errors;

#[test]
fn unknown_key_names_the_key_and_the_allowed_ones() {
    let text = "
        listeners:
          - name: edge
            listen: 127.0.0.1:8080
            rotues: []
    ";
    assert_eq!(
        errors(text),
        ["gateway.yaml:4:5: listeners[0].rotues: unknown key `rotues` (allowed keys: name, listen, tls, routes, max_connections, forwarded_headers)"]
    );
}

#[test]
fn unknown_top_level_key() {
    let text = "
        listeners:
          - name: edge
            listen: 127.0.0.1:8080
        cluster: []
    ";
    assert_eq!(
        errors(text),
        ["gateway.yaml:4:1: cluster: unknown key `cluster` (allowed keys: admin, log, drain_timeout, workers, listeners, clusters, bridges, registry)"]
    );
}

#[test]
fn missing_key_names_the_mapping() {
    let text = "
        listeners:
          - name: edge
    ";
    assert_eq!(
        errors(text),
        ["gateway.yaml:2:5: listeners[0]: missing required key `listen`"]
    );
}

#[test]
fn wrong_type_says_what_was_expected() {
    let text = "
        listeners:
          - name: edge
            listen: 127.0.0.1:8080
            routes: 5
    ";
    assert_eq!(
        errors(text),
        ["gateway.yaml:4:13: listeners[0].routes: expected a list (`- item` lines or `[a, b]`)"]
    );
}

#[test]
fn wrong_scalar_type_quotes_the_value() {
    let text = "
        log:
          access_log: maybe
        listeners:
          - name: edge
            listen: 127.0.0.1:8080
    ";
    assert_eq!(
        errors(text),
        ["gateway.yaml:2:15: log.access_log: \"maybe\" is not true or false"]
    );
    let text = "
        listeners:
          - name: edge
            listen: 127.0.0.1:8080
            routes:
              - deny: {http_status: abc}
    ";
    assert_eq!(
        errors(text),
        ["gateway.yaml:5:29: listeners[0].routes[0].deny.http_status: \"abc\" is not a whole number from 0 to 65535"]
    );
}

#[test]
fn bad_listen_address_quotes_the_text() {
    let text = "
        listeners:
          - name: edge
            listen: localhost:8080
    ";
    assert_eq!(
        errors(text),
        ["gateway.yaml:3:13: listeners[0].listen: \"localhost:8080\" is not a socket address (write IP:port, e.g. 127.0.0.1:8080 or [::1]:8080)"]
    );
}

#[test]
fn bad_endpoint_address_points_at_the_entry() {
    let text = "
        listeners:
          - name: edge
            listen: 127.0.0.1:8080
        clusters:
          - name: users
            endpoints: [127.0.0.1:50051]
          - name: orders
            endpoints:
              - 127.0.0.1:50052
              - 10.0.0.x:80
    ";
    assert_eq!(
        errors(text),
        ["gateway.yaml:10:9: clusters[1].endpoints[1]: \"10.0.0.x:80\" is not an endpoint address (write IP:port or host:port, e.g. 127.0.0.1:8080, [::1]:8080 or users.internal:50051)"]
    );
}

#[test]
fn bad_duration_explains_the_format() {
    let text = "
        drain_timeout: 10d
        listeners:
          - name: edge
            listen: 127.0.0.1:8080
    ";
    assert_eq!(
        errors(text),
        ["gateway.yaml:1:16: drain_timeout: \"10d\" has unknown unit \"d\" (use ms, s, m or h)"]
    );
}

#[test]
fn unknown_enum_value_lists_the_choices() {
    let text = "
        listeners:
          - name: edge
            listen: 127.0.0.1:8080
        clusters:
          - name: users
            protocol: http3
            endpoints: [127.0.0.1:50051]
    ";
    assert_eq!(
        errors(text),
        ["gateway.yaml:6:15: clusters[0].protocol: unknown value `http3` (expected one of: grpc, http1, http2)"]
    );
}

#[test]
fn bad_regex_gives_a_one_line_reason() {
    let text = "
        listeners:
          - name: edge
            listen: 127.0.0.1:8080
            routes:
              - match: {path: {regex: '/a/[0-9'}}
                deny: {}
    ";
    assert_eq!(
        errors(text),
        ["gateway.yaml:5:31: listeners[0].routes[0].match.path.regex: \"/a/[0-9\" is not a valid regular expression: unclosed character class"]
    );
}

#[test]
fn duplicate_key_is_an_error() {
    let text = "
        listeners:
          - name: edge
            name: edge2
            listen: 127.0.0.1:8080
    ";
    assert_eq!(
        errors(text),
        ["gateway.yaml:3:5: listeners[0].name: duplicate mapping key `name` is not allowed here"]
    );
}

#[test]
fn syntax_error_has_a_location() {
    let text = "
        listeners: [
    ";
    assert_eq!(
        errors(text),
        ["gateway.yaml:1:12: listeners: unclosed bracket '['"]
    );
}

/// Parsing stops at the first error; validation only runs on a file that parsed.
#[test]
fn reports_only_the_first_parse_error() {
    let text = "
        listeners:
          - name: edge
            listen: nowhere
        clusters:
          - name: users
            endpoints: [elsewhere]
    ";
    assert_eq!(errors(text).len(), 1);
}

#[test]
fn scalar_where_a_mapping_belongs() {
    let text = "
        admin: 5
        listeners:
          - name: edge
            listen: 127.0.0.1:8080
    ";
    assert_eq!(
        errors(text),
        ["gateway.yaml:1:8: admin: expected a mapping (`key: value` lines or `{key: value}`)"]
    );
}

#[test]
fn list_where_an_address_belongs() {
    let text = "
        listeners:
          - name: edge
            listen: [127.0.0.1:8080]
    ";
    assert_eq!(
        errors(text),
        ["gateway.yaml:3:13: listeners[0].listen: expected a single value"]
    );
}
