//! Transcode rules: an HTTP/2 cluster, exactly one source of descriptors, limits; `load`
//! compiles the `.proto` files or reads the descriptor set and reports where they fail.

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
            "gateway.yaml:5:20: listeners[0].routes[0].transcode: transcoding needs descriptors: give `proto_files` or `descriptor_set`",
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
            "gateway.yaml:5:73: listeners[0].routes[0].transcode.descriptor_set: give `proto_files` or `descriptor_set`, not both",
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
    assert!(transcode.descriptors.is_none());
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
    let pool = transcode.descriptors.as_ref().unwrap();
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
    assert!(transcode
        .descriptors
        .as_ref()
        .unwrap()
        .get_service_by_name("users.v1.Users")
        .is_some());
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
