//! Transcode rules: an HTTP/2 cluster, exactly one source of descriptors, HTTP rules,
//! limits; `load` compiles the `.proto` files or reads the descriptor set, binds the
//! methods, and reports where either fails.

use crate::load_file::TempDir;
use crate::mirror_rules::with_mirror;
use crate::{config, errors};
use yardmaster_config::load;

/// The listener of [`with_mirror`] (clusters `a`, `b`, `c`) with one route whose action is
/// `transcode` (YAML flow), on line 5.
fn with_transcode(transcode: &str) -> String {
    with_mirror("targets: [{cluster: a}]").replace(
        "      - mirror:\n          targets: [{cluster: a}]\n",
        &format!("      - transcode: {transcode}\n"),
    )
}

#[test]
fn transcode_needs_a_known_http2_cluster_and_one_descriptor_source() {
    let text = with_transcode("{cluster: z}");
    assert_eq!(
        errors(&text),
        [
            "gateway.yaml:5:20: listeners[0].routes[0].transcode: transcoding needs descriptors: give `proto_files`, `descriptor_set` or `reflection`",
            "gateway.yaml:5:30: listeners[0].routes[0].transcode.cluster: unknown cluster \"z\"; defined clusters: a, b, c",
        ]
    );
    let text = with_transcode(
        "{cluster: c, proto_files: [a.proto], descriptor_set: a.binpb, timeout: 0s, max_message_bytes: 0}",
    )
    .replace("  - name: c\n", "  - name: c\n    protocol: http1\n");
    assert_eq!(
        errors(&text),
        [
            "gateway.yaml:5:30: listeners[0].routes[0].transcode.cluster: cluster \"c\" speaks HTTP/1.1; gRPC calls need an HTTP/2 cluster (`protocol: grpc`)",
            "gateway.yaml:5:73: listeners[0].routes[0].transcode.descriptor_set: give one of `proto_files`, `descriptor_set` and `reflection`, not `proto_files` and `descriptor_set`",
            "gateway.yaml:5:91: listeners[0].routes[0].transcode.timeout: timeout must be greater than 0; leave it out for no limit",
            "gateway.yaml:5:114: listeners[0].routes[0].transcode.max_message_bytes: max_message_bytes must be 1 to 1073741824 (the default is 4194304)",
        ]
    );
    let text = with_transcode("{cluster: b, descriptor_set: a.binpb, emit_defaults: true}");
    let transcode = config(&text).listeners[0].routes[0]
        .transcode
        .clone()
        .unwrap();
    assert!(transcode.emit_defaults && !transcode.allow_unknown_fields);
    assert_eq!(transcode.max_message_bytes, 4 << 20);
    // Loaded by `load`, not by parsing alone.
    assert!(transcode.api.is_none());
    assert!(transcode.post_grpc_paths && transcode.http_rules.is_empty());
}

const USERS_PROTO: &str = r#"
syntax = "proto3";
package users.v1;
import "google/protobuf/timestamp.proto";
service Users { rpc Get(GetUser) returns (User); }
message GetUser { string id = 1; }
message User { string id = 1; google.protobuf.Timestamp created = 2; }
"#;

#[test]
fn load_compiles_proto_files_relative_to_the_config_file() {
    let dir = TempDir::new("transcode-protos");
    dir.write("users.proto", USERS_PROTO.as_bytes());
    let path = dir.write(
        "gateway.yaml",
        with_transcode("{cluster: a, proto_files: [users.proto]}").as_bytes(),
    );
    let config = load(&path).unwrap_or_else(|e| panic!("{e}"));
    let transcode = config.listeners[0].routes[0].transcode.as_ref().unwrap();
    let pool = transcode.api.as_ref().unwrap().pool();
    assert!(pool.get_service_by_name("users.v1.Users").is_some());
}

#[test]
fn load_reads_a_descriptor_set() {
    let dir = TempDir::new("transcode-descriptor-set");
    let proto = dir.write("users.proto", USERS_PROTO.as_bytes());
    let set = yardmaster_config::compile_proto_files(&[proto])
        .unwrap()
        .encode_to_vec();
    dir.write("users.binpb", &set);
    let path = dir.write(
        "gateway.yaml",
        with_transcode("{cluster: a, descriptor_set: users.binpb}").as_bytes(),
    );
    let config = load(&path).unwrap_or_else(|e| panic!("{e}"));
    let transcode = config.listeners[0].routes[0].transcode.as_ref().unwrap();
    let api = transcode.api.as_ref().unwrap();
    assert!(api.pool().get_service_by_name("users.v1.Users").is_some());
}

#[test]
fn load_reports_protos_that_do_not_compile_and_sets_that_do_not_decode() {
    let dir = TempDir::new("transcode-bad-descriptors");
    dir.write(
        "users.proto",
        b"syntax = \"proto3\";\nmessage User { strin id = 1; }\n",
    );
    dir.write(
        "empty.proto",
        b"syntax = \"proto3\";\nmessage User { string id = 1; }\n",
    );
    dir.write("users.binpb", b"\xff\xff garbage");
    for (transcode, key, says) in [
        (
            "{cluster: a, proto_files: [users.proto]}",
            "proto_files",
            "users.proto",
        ),
        (
            "{cluster: a, proto_files: [missing.proto]}",
            "proto_files",
            "missing.proto",
        ),
        (
            "{cluster: a, proto_files: [empty.proto]}",
            "proto_files",
            "no service",
        ),
        (
            "{cluster: a, descriptor_set: users.binpb}",
            "descriptor_set",
            "not a complete FileDescriptorSet",
        ),
        (
            "{cluster: a, descriptor_set: nope.binpb}",
            "descriptor_set",
            "reading",
        ),
    ] {
        let path = dir.write("gateway.yaml", with_transcode(transcode).as_bytes());
        let errors = load(&path).unwrap_err().to_string();
        let prefix = format!(
            "{}:5:{}: listeners[0].routes[0].transcode.{key}: ",
            path.display(),
            transcode.find(key).unwrap() + key.len() + 22
        );
        assert!(errors.starts_with(&prefix), "{errors}\nexpected {prefix}");
        assert!(errors.contains(says), "{errors}");
    }
}

/// `USERS_PROTO` with a `google.api.http` annotation on `Get`, importing the
/// `google/api` protos that Yardmaster builds in.
const ANNOTATED_PROTO: &str = r#"
syntax = "proto3";
package users.v1;
import "google/api/annotations.proto";
service Users {
  rpc Get(GetUser) returns (User) { option (google.api.http) = {get: "/v1/users/{id}"}; }
  rpc Create(User) returns (User);
}
message GetUser { string id = 1; }
message User { string id = 1; }
"#;

#[test]
fn http_rules_are_checked_when_parsed() {
    let text = with_transcode(
        "{cluster: a, proto_files: [a.proto], http_rules: [{get: /x}, {selector: a.B.C, get: 'v1/x'}, {selector: a.B.C, get: /x, post: /y}, {selector: a.B.C, get: /x, additional_bindings: [{put: '/{a'}]}]}",
    );
    assert_eq!(
        errors(&text),
        [
            "gateway.yaml:5:70: listeners[0].routes[0].transcode.http_rules[0]: a rule names its method: `selector: package.Service.Method`",
            "gateway.yaml:5:104: listeners[0].routes[0].transcode.http_rules[1].get: \"v1/x\" does not start with `/`",
            "gateway.yaml:5:146: listeners[0].routes[0].transcode.http_rules[2].post: give one of get, put, post, delete, patch or custom, not `get` and `post`",
            "gateway.yaml:5:206: listeners[0].routes[0].transcode.http_rules[3].additional_bindings[0].put: expected `}` to close the variable at byte 3 of \"/{a\"",
        ]
    );
    let text = with_transcode(
        "{cluster: a, proto_files: [a.proto], http_rules: [{selector: a.B.C, got: /x}]}",
    );
    assert!(
        errors(&text)[0].contains("unknown key `got`"),
        "{:?}",
        errors(&text)
    );
}

#[test]
fn load_binds_annotations_and_rules_and_names_bad_rules() {
    let dir = TempDir::new("transcode-http-rules");
    dir.write("users.proto", ANNOTATED_PROTO.as_bytes());
    let path = dir.write(
        "gateway.yaml",
        with_transcode(
            "{cluster: a, proto_files: [users.proto], http_rules: [{selector: users.v1.Users.Create, post: /v1/users, body: '*'}]}",
        )
        .as_bytes(),
    );
    let config = load(&path).unwrap_or_else(|e| panic!("{e}"));
    let api = config.listeners[0].routes[0]
        .transcode
        .as_ref()
        .unwrap()
        .api
        .clone()
        .unwrap();
    let get = api.find(&http::Method::GET, "/v1/users/7").unwrap();
    assert_eq!(get.binding.method().path(), "/users.v1.Users/Get");
    let create = api.find(&http::Method::POST, "/v1/users").unwrap();
    assert_eq!(create.binding.method().path(), "/users.v1.Users/Create");

    for (rules, says) in [
        (
            "[{selector: users.v1.Users.Nope, get: /x}]",
            "http_rules[0]: no method \"users.v1.Users.Nope\"",
        ),
        (
            "[{selector: users.v1.Users.Create, get: '/v1/users/{name}'}]",
            "http_rules[0]: http_rules[0] (users.v1.Users.Create): variable `name` of /v1/users/{name}: users.v1.User has no field `name`",
        ),
        (
            "[{selector: users.v1.Users.Create, get: '/v1/users/{id}'}]",
            "GET /v1/users/{id} is bound twice: by the google.api.http annotation of users.v1.Users.Get (/v1/users/{id}) and by http_rules[0] (users.v1.Users.Create) (/v1/users/{id})",
        ),
    ] {
        let text = with_transcode(&format!("{{cluster: a, proto_files: [users.proto], http_rules: {rules}}}"));
        let path = dir.write("gateway.yaml", text.as_bytes());
        let errors = load(&path).unwrap_err().to_string();
        assert!(errors.contains("listeners[0].routes[0].transcode."), "{errors}");
        assert!(errors.contains(says), "{errors}\nexpected {says}");
    }
}

#[test]
fn forwarded_headers_and_the_timeout_header_must_be_header_names() {
    let text = with_transcode(
        "{cluster: a, proto_files: [a.proto], forward_headers: [authorization, content-type, 'bad name'], timeout_header: 'x timeout'}",
    );
    let errors = errors(&text);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0]
            .contains("transcode.forward_headers[1]: \"content-type\" belongs to HTTP or gRPC"),
        "{errors:?}"
    );
    assert!(
        errors[1].contains("transcode.timeout_header: \"x timeout\" is not a header name"),
        "{errors:?}"
    );
}

#[test]
fn reflection_is_a_descriptor_source_of_its_own() {
    let text = with_transcode("{cluster: a, reflection: {refresh: 30s}}");
    let transcode = config(&text).listeners[0].routes[0]
        .transcode
        .clone()
        .unwrap();
    let refresh = transcode.reflection.unwrap().refresh;
    assert_eq!(refresh, std::time::Duration::from_secs(30));
    let text = with_transcode("{cluster: a, reflection: {}}");
    let reflection = config(&text).listeners[0].routes[0]
        .transcode
        .clone()
        .unwrap()
        .reflection;
    assert_eq!(
        reflection.unwrap().refresh,
        std::time::Duration::from_secs(300)
    );

    let text = with_transcode("{cluster: a, proto_files: [a.proto], reflection: {refresh: 10ms}}");
    let errors = errors(&text);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].ends_with("transcode.reflection: give one of `proto_files`, `descriptor_set` and `reflection`, not `proto_files` and `reflection`"), "{errors:?}");
    assert!(
        errors[1].ends_with("transcode.reflection.refresh: refresh must be at least 1s"),
        "{errors:?}"
    );
}

#[test]
fn the_openapi_path_must_be_a_path() {
    let text =
        with_transcode("{cluster: a, proto_files: [a.proto], openapi: {path: openapi.json}}");
    let errors = errors(&text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].ends_with(
            "transcode.openapi.path: \"openapi.json\" is not a path (write e.g. /openapi.json)"
        ),
        "{errors:?}"
    );
    let text =
        with_transcode("{cluster: a, proto_files: [a.proto], openapi: {path: /openapi.json}}");
    let openapi = config(&text).listeners[0].routes[0]
        .transcode
        .clone()
        .unwrap()
        .openapi
        .unwrap();
    assert_eq!(
        (
            openapi.path.as_str(),
            openapi.title,
            openapi.version.as_str()
        ),
        ("/openapi.json", None, "1.0.0")
    );
}
