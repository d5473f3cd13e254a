//! Mirror rules: known and distinct targets, filters, one responder per type, limits.

use yardmaster_config::{load, MessageType};

use crate::load_file::TempDir;
use crate::{config, dedent, errors};

/// Listener `edge` with one route whose `mirror` is `mirror` (YAML, any indentation), and
/// clusters `a`, `b` and `c`. The mirror's first key is on line 6, column 11.
pub(crate) fn with_mirror(mirror: &str) -> String {
    let mirror: String = dedent(mirror)
        .lines()
        .map(|l| format!("          {l}\n"))
        .collect();
    let head = concat!(
        "listeners:\n",
        "  - name: edge\n",
        "    listen: 127.0.0.1:8080\n",
        "    routes:\n",
        "      - mirror:\n",
    );
    let clusters = concat!(
        "clusters:\n",
        "  - name: a\n",
        "    endpoints: [127.0.0.1:50051]\n",
        "  - name: b\n",
        "    endpoints: [127.0.0.1:50052]\n",
        "  - name: c\n",
        "    endpoints: [127.0.0.1:50053]\n",
    );
    format!("{head}{mirror}{clusters}")
}

#[test]
fn accepts_the_acceptance_scenario_with_numbers_and_names() {
    let text = with_mirror(
        "
        message_type: {field: \"1.9\"}
        default_responder: b
        targets:
          - {cluster: a, include: [1, 2], responder_for: [2]}
          - {cluster: b, sample_percent: 50, queue_size: 8}
          - {cluster: c, exclude: [1, gold], responder_for: [3, silver]}
        ",
    );
    let config = config(&text);
    let route = &config.listeners[0].routes[0];
    let mirror = route.mirror.as_ref().unwrap();
    let field = mirror
        .message_type
        .as_ref()
        .unwrap()
        .field
        .as_ref()
        .unwrap();
    assert_eq!(field.0, [1, 9]);
    assert_eq!(mirror.default_responder.as_deref(), Some("b"));
    assert_eq!(mirror.max_message_bytes, 4 << 20);
    let c = &mirror.targets[2];
    assert_eq!(
        c.responder_for,
        [MessageType::Number(3), MessageType::Name("silver".into())]
    );
    assert!(c.passes(&MessageType::Number(2)));
    assert!(!c.passes(&MessageType::Name("gold".into())));
    assert!(!mirror.targets[0].passes(&MessageType::Number(3)));
    assert_eq!(mirror.targets[1].sample_percent, 50.0);
}

#[test]
fn rejects_two_responders_for_the_same_type() {
    let text = with_mirror(
        "
        message_type: {field: 9}
        targets:
          - {cluster: a, include: [1, 2], responder_for: [2]}
          - {cluster: b, responder_for: [1, 2]}
        ",
    );
    assert_eq!(
        errors(&text),
        ["gateway.yaml:9:47: listeners[0].routes[0].mirror.targets[1].responder_for[1]: two responders for type 2: \"b\" and \"a\" (listeners[0].routes[0].mirror.targets[0]); give each type at most one responder"]
    );
}

#[test]
fn rejects_filters_without_types_and_responders_outside_their_filter() {
    let text = with_mirror(
        "
        targets:
          - {cluster: a, include: [1]}
        ",
    );
    assert_eq!(
        errors(&text),
        ["gateway.yaml:7:37: listeners[0].routes[0].mirror.targets[0].include: `include` needs message types; add `message_type` to the mirror"]
    );
    let text = with_mirror(
        "
        message_type: {method: true}
        targets:
          - {cluster: a, exclude: [Unary], responder_for: [Unary]}
        ",
    );
    assert_eq!(
        errors(&text),
        ["gateway.yaml:8:62: listeners[0].routes[0].mirror.targets[0].responder_for[0]: type \"Unary\" does not pass this target's filter, so it could never answer it"]
    );
}

#[test]
fn targets_must_speak_http2() {
    let text = with_mirror("targets: [{cluster: a}, {cluster: b}, {cluster: c}]")
        .replace("  - name: b\n", "  - name: b\n    protocol: http2\n")
        .replace("  - name: c\n", "  - name: c\n    protocol: http1\n");
    assert_eq!(
        errors(&text),
        ["gateway.yaml:6:59: listeners[0].routes[0].mirror.targets[2].cluster: cluster \"c\" speaks HTTP/1.1; gRPC calls need an HTTP/2 cluster (`protocol: grpc`)"]
    );
}

#[test]
fn reports_every_target_problem_in_one_pass() {
    let text = with_mirror(
        "
        message_type: {field: 3, method: true}
        default_responder: z
        max_message_bytes: 0
        targets:
          - {cluster: x}
          - {cluster: a, include: [1], exclude: [2], sample_percent: 101, queue_size: 0}
          - {cluster: a}
        ",
    );
    assert_eq!(
        errors(&text),
        [
            "gateway.yaml:6:25: listeners[0].routes[0].mirror.message_type: `message_type` needs exactly one of `field` (e.g. `field: 3`), `field_name` or `method: true`, found field and method",
            "gateway.yaml:7:30: listeners[0].routes[0].mirror.default_responder: \"z\" is not one of this mirror's targets (x, a, a)",
            "gateway.yaml:8:30: listeners[0].routes[0].mirror.max_message_bytes: max_message_bytes must be 1 to 1073741824 (the default is 4194304)",
            "gateway.yaml:10:25: listeners[0].routes[0].mirror.targets[0].cluster: unknown cluster \"x\"; defined clusters: a, b, c",
            "gateway.yaml:11:51: listeners[0].routes[0].mirror.targets[1].exclude: a target has `include` or `exclude`, not both",
            "gateway.yaml:11:72: listeners[0].routes[0].mirror.targets[1].sample_percent: 101 is not a percentage; use 0 to 100 (default 100)",
            "gateway.yaml:11:89: listeners[0].routes[0].mirror.targets[1].queue_size: queue_size must be at least 1 (the default is 64)",
            "gateway.yaml:12:25: listeners[0].routes[0].mirror.targets[2].cluster: cluster \"a\" is already the target listeners[0].routes[0].mirror.targets[1]; list each cluster once",
        ]
    );
}

#[test]
fn rejects_a_malformed_field_path_where_it_is_written() {
    let text = with_mirror(
        "
        message_type: {field: \"1.x\"}
        targets: [{cluster: a}]
        ",
    );
    let errors = errors(&text);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("gateway.yaml:6:")
            && errors[0].contains("\"1.x\" is not a field path"),
        "{errors:?}"
    );
}

#[test]
fn rejects_a_route_with_mirror_and_forward() {
    let text = with_mirror("targets: [{cluster: a}]").replace(
        "      - mirror:\n",
        "      - forward: {cluster: a}\n        mirror:\n",
    );
    assert_eq!(
        errors(&text),
        ["gateway.yaml:5:9: listeners[0].routes[0]: route has both `forward` and `mirror`; keep exactly one of them"]
    );
}

const ORDERS_PROTO: &str = r#"
syntax = "proto3";
package shop.v1;
service Orders {
  rpc Place(PlaceOrder) returns (Placed);
  rpc Cancel(CancelOrder) returns (Placed);
}
message Header { string tenant = 1; int32 kind = 7; }
message PlaceOrder { Header header = 3; }
message CancelOrder { string id = 1; }
message Placed {}
"#;

fn field_name_config(field_name: &str) -> String {
    with_mirror(&format!(
        "
        message_type: {{field_name: {field_name}, proto_files: [orders.proto]}}
        targets: [{{cluster: a}}]
        "
    ))
}

#[test]
fn load_compiles_proto_files_and_resolves_field_names_per_method() {
    let dir = TempDir::new("mirror-field-name");
    dir.write("orders.proto", ORDERS_PROTO.as_bytes());
    let path = dir.write("gateway.yaml", field_name_config("header.kind").as_bytes());
    let config = load(&path).unwrap_or_else(|e| panic!("{e}"));
    let message_type = config.listeners[0].routes[0]
        .mirror
        .as_ref()
        .unwrap()
        .message_type
        .as_ref()
        .unwrap();
    let numbers = message_type.field_numbers.as_ref().unwrap();
    assert_eq!(numbers.get("/shop.v1.Orders/Place"), Some(&vec![3, 7]));
    // Cancel's request has no `header`: its messages will all be type 0.
    assert_eq!(numbers.get("/shop.v1.Orders/Cancel"), None);
}

#[test]
fn load_reports_an_unknown_field_name_where_it_is_written() {
    let dir = TempDir::new("mirror-unknown-field");
    let proto = dir.write("orders.proto", ORDERS_PROTO.as_bytes());
    let path = dir.write(
        "gateway.yaml",
        field_name_config("header.colour").as_bytes(),
    );
    let errors = load(&path).unwrap_err().to_string();
    let expected = format!(
        "{}:6:38: listeners[0].routes[0].mirror.message_type.field_name: no request message of the methods in {} has a field \"header.colour\"",
        path.display(),
        proto.display()
    );
    assert_eq!(errors, expected);
}
