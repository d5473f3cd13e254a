//! Rules for the `transcode` action: an HTTP/2 cluster, one source of descriptors, HTTP
//! rules that parse, forwardable headers, sane limits.

use super::mirror::check_cluster;
use super::{check_call_timeout, check_message_bytes, Problems};
use crate::model::{ClusterConfig, TranscodeConfig};
use yardmaster_transcode::HeaderForwarding;

/// Checks the transcode action at `path` (`listeners[i].routes[j].transcode`).
pub(super) fn check_transcode(
    path: &str,
    transcode: &TranscodeConfig,
    clusters: &[ClusterConfig],
    problems: &mut Problems,
) {
    check_cluster(path, &transcode.cluster, clusters, problems);
    let sources = [
        ("proto_files", !transcode.proto_files.is_empty()),
        ("descriptor_set", transcode.descriptor_set.is_some()),
        ("reflection", transcode.reflection.is_some()),
    ];
    let given: Vec<&str> = sources
        .iter()
        .filter(|(_, on)| *on)
        .map(|(key, _)| *key)
        .collect();
    match given.as_slice() {
        [] => problems.push((
            path.to_owned(),
            "transcoding needs descriptors: give `proto_files`, `descriptor_set` or `reflection`"
                .to_owned(),
        )),
        [_] => {}
        [first, rest @ ..] => problems.push((
            format!("{path}.{}", rest.last().unwrap_or(first)),
            format!(
                "give one of `proto_files`, `descriptor_set` and `reflection`, not `{}`",
                given.join("` and `")
            ),
        )),
    }
    if let Some(openapi) = &transcode.openapi {
        if !openapi.path.starts_with('/') || openapi.path.contains(['?', '#']) {
            problems.push((
                format!("{path}.openapi.path"),
                format!(
                    "{:?} is not a path (write e.g. /openapi.json)",
                    openapi.path
                ),
            ));
        }
    }
    if let Some(reflection) = &transcode.reflection {
        if reflection.refresh < std::time::Duration::from_secs(1) {
            problems.push((
                format!("{path}.reflection.refresh"),
                "refresh must be at least 1s".to_owned(),
            ));
        }
    }
    for (i, rule) in transcode.http_rules.iter().enumerate() {
        let rule_path = format!("{path}.http_rules[{i}]");
        if rule.selector.is_empty() {
            problems.push((
                rule_path.clone(),
                "a rule names its method: `selector: package.Service.Method`".to_owned(),
            ));
        }
        if let Err((key, message)) = rule.check() {
            let at = if key.is_empty() {
                rule_path
            } else {
                format!("{rule_path}.{key}")
            };
            problems.push((at, message));
        }
    }
    if let Err((i, message)) = HeaderForwarding::new(&transcode.forward_headers) {
        problems.push((format!("{path}.forward_headers[{i}]"), message));
    }
    if let Some(name) = &transcode.timeout_header {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            problems.push((
                format!("{path}.timeout_header"),
                format!("{name:?} is not a header name"),
            ));
        }
    }
    check_call_timeout(path, transcode.timeout, problems);
    check_message_bytes(
        path,
        "max_message_bytes",
        transcode.max_message_bytes,
        problems,
    );
}
