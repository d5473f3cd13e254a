//! The shape of the report: all validation errors at once, in file order, one per line.

use yardmaster_config::{from_str, ConfigError};

use crate::{dedent, errors};

#[test]
fn reports_every_validation_error_in_file_order() {
    let text = "
        admin:
          listen: 127.0.0.1:8080
        listeners:
          - name: edge
            listen: 127.0.0.1:8080
            routes:
              - forward: {cluster: user}
              - match: {method: ''}
                deny: {grpc_status: ok}
        clusters:
          - name: users
            endpoints: []
    ";
    assert_eq!(
        errors(text),
        [
            "gateway.yaml:5:13: listeners[0].listen: 127.0.0.1:8080 overlaps admin.listen (127.0.0.1:8080); give each listener its own port",
            "gateway.yaml:7:28: listeners[0].routes[0].forward.cluster: unknown cluster \"user\"; defined clusters: users",
            "gateway.yaml:8:25: listeners[0].routes[1].match.method: `method` must not be empty; leave it out to match every method",
            "gateway.yaml:9:29: listeners[0].routes[1].deny.grpc_status: `ok` would report a denied call as successful; use an error code such as permission_denied",
            "gateway.yaml:12:16: clusters[0].endpoints: a cluster needs at least one endpoint (e.g. `endpoints: [127.0.0.1:50051]`) or a `discovery` source",
        ]
    );
}

#[test]
fn load_error_displays_one_error_per_line() {
    let text = dedent(
        "
        listeners:
          - name: ''
            listen: 127.0.0.1:0
        clusters:
          - name: ''
            endpoints: [127.0.0.1:1]
        ",
    );
    let error = from_str(&text, "gateway.yaml").unwrap_err();
    assert_eq!(
        error.to_string(),
        "gateway.yaml:2:11: listeners[0].name: listener name must not be empty\n\
         gateway.yaml:5:11: clusters[0].name: cluster name must not be empty"
    );
    assert_eq!(error.errors()[1].line, 5);
    assert_eq!(error.errors()[1].column, 11);
    assert_eq!(error.errors()[1].path, "clusters[0].name");
}

#[test]
fn config_error_leaves_out_unknown_parts() {
    let error = |line, column, path: &str| ConfigError {
        file: "gateway.yaml".to_owned(),
        line,
        column,
        path: path.to_owned(),
        message: "broken".to_owned(),
    };
    assert_eq!(
        error(3, 7, "admin.listen").to_string(),
        "gateway.yaml:3:7: admin.listen: broken"
    );
    assert_eq!(error(3, 7, "").to_string(), "gateway.yaml:3:7: broken");
    assert_eq!(
        error(0, 0, "admin.listen").to_string(),
        "gateway.yaml: admin.listen: broken"
    );
    assert_eq!(error(0, 0, "").to_string(), "gateway.yaml: broken");
}
