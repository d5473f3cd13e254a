//! Rules for one listener's routes: a single action, known clusters, well-formed match
//! conditions and rewrites, unique names.

use std::collections::HashMap;
use std::net::Ipv6Addr;

use http::uri::Authority;
use http::{HeaderName, HeaderValue};

use yardmaster_core::GrpcCode;

use super::{
    check_call_timeout, check_message_bytes, fanout, known_cluster, mirror, transcode, Problems,
};
use crate::model::{
    ClusterConfig, DenyConfig, ForwardConfig, HeaderMatchConfig, ListenerConfig, MatchConfig,
    PathMatchConfig, RouteConfig,
};

const PREFIX_REWRITE_WITHOUT_PREFIX: &str = concat!(
    "`path_prefix` replaces the prefix matched by `match.path.prefix`, ",
    "and this route has none; add one or remove the rewrite"
);

const DENY_WITH_OK: &str = concat!(
    "`ok` would report a denied call as successful; ",
    "use an error code such as permission_denied"
);

/// Checks every route of the listener at `path` (`listeners[i]`) and fills in missing names.
pub(super) fn check_routes(
    path: &str,
    listener: &mut ListenerConfig,
    clusters: &[ClusterConfig],
    problems: &mut Problems,
) {
    for (i, route) in listener.routes.iter_mut().enumerate() {
        let route_path = format!("{path}.routes[{i}]");
        check_route(&route_path, route, clusters, problems);
        check_match(&route_path, &mut route.matcher, problems);
    }
    name_routes(path, listener, problems);
}

fn check_route(
    path: &str,
    route: &RouteConfig,
    clusters: &[ClusterConfig],
    problems: &mut Problems,
) {
    let actions: Vec<&str> = [
        ("forward", route.forward.is_some()),
        ("deny", route.deny.is_some()),
        ("mirror", route.mirror.is_some()),
        ("fanout", route.fanout.is_some()),
        ("transcode", route.transcode.is_some()),
        ("envelope", route.envelope.is_some()),
        ("registry", route.registry.is_some()),
    ]
    .into_iter()
    .filter_map(|(key, is_set)| is_set.then_some(key))
    .collect();
    match actions.as_slice() {
        [] => problems.push((path.to_owned(), NO_ACTION.to_owned())),
        [_] => {}
        [first, second] => {
            let message = format!("route has both `{first}` and `{second}`; {ONE_ACTION}");
            problems.push((path.to_owned(), message));
            return;
        }
        keys => {
            let message = format!("route has `{}`; {ONE_ACTION}", keys.join("`, `"));
            problems.push((path.to_owned(), message));
            return;
        }
    }
    if let Some(forward) = &route.forward {
        check_forward(path, forward, &route.matcher, clusters, problems);
    }
    if let Some(deny) = &route.deny {
        check_deny(&format!("{path}.deny"), deny, problems);
    }
    if let Some(mirror) = &route.mirror {
        mirror::check_mirror(&format!("{path}.mirror"), mirror, clusters, problems);
    }
    if let Some(fanout) = &route.fanout {
        fanout::check_fanout(&format!("{path}.fanout"), fanout, clusters, problems);
    }
    if let Some(transcode) = &route.transcode {
        let path = format!("{path}.transcode");
        transcode::check_transcode(&path, transcode, clusters, problems);
    }
    if let Some(envelope) = &route.envelope {
        let path = format!("{path}.envelope");
        mirror::check_cluster(&path, &envelope.cluster, clusters, problems);
        check_call_timeout(&path, envelope.timeout, problems);
        check_message_bytes(&path, "max_body_bytes", envelope.max_body_bytes, problems);
    }
}

const NO_ACTION: &str =
    "route has no action; give it exactly one of `forward`, `deny`, `mirror`, `fanout`, `transcode`, `envelope` or `registry`";
const ONE_ACTION: &str = "keep exactly one of them";

fn check_forward(
    route: &str,
    forward: &ForwardConfig,
    matcher: &MatchConfig,
    clusters: &[ClusterConfig],
    problems: &mut Problems,
) {
    let path = format!("{route}.forward");
    known_cluster(&path, &forward.cluster, clusters, problems);
    check_call_timeout(&path, forward.timeout, problems);
    let Some(rewrite) = &forward.rewrite else {
        return;
    };
    if let Some(prefix) = &rewrite.path_prefix {
        let has_prefix_match = matcher.path.as_ref().is_some_and(|p| p.prefix.is_some());
        let message = if !has_prefix_match {
            Some(PREFIX_REWRITE_WITHOUT_PREFIX.to_owned())
        } else {
            slash_problem(prefix)
        };
        problems.extend(message.map(|m| (format!("{path}.rewrite.path_prefix"), m)));
    }
    if let Some(host) = &rewrite.host {
        let problem = host_problem(host).map(|m| (format!("{path}.rewrite.host"), m));
        problems.extend(problem);
    }
}

fn check_deny(path: &str, deny: &DenyConfig, problems: &mut Problems) {
    if !(100..=599).contains(&deny.http_status) {
        problems.push((
            format!("{path}.http_status"),
            format!(
                "{} is not an HTTP status; use 100..=599 (e.g. 403)",
                deny.http_status
            ),
        ));
    }
    if deny.grpc_status == GrpcCode::Ok {
        problems.push((format!("{path}.grpc_status"), DENY_WITH_OK.to_owned()));
    }
}

/// Checks the match conditions of the route at `route` and lower-cases header names.
fn check_match(route: &str, matcher: &mut MatchConfig, problems: &mut Problems) {
    let path = format!("{route}.match");
    if let Some(authority) = &matcher.authority {
        let problem = authority_problem(authority).map(|m| (format!("{path}.authority"), m));
        problems.extend(problem);
    }
    for (what, pattern) in [("service", &matcher.service), ("method", &matcher.method)] {
        if let Some(pattern) = pattern {
            let problem =
                name_pattern_problem(what, pattern).map(|m| (format!("{path}.{what}"), m));
            problems.extend(problem);
        }
    }
    if let Some(path_match) = &matcher.path {
        check_path_match(&format!("{path}.path"), path_match, problems);
    }
    for (i, header) in matcher.headers.iter_mut().enumerate() {
        check_header(&format!("{path}.headers[{i}]"), header, problems);
    }
}

fn check_path_match(path: &str, path_match: &PathMatchConfig, problems: &mut Problems) {
    let given: Vec<&str> = [
        ("prefix", path_match.prefix.is_some()),
        ("exact", path_match.exact.is_some()),
        ("regex", path_match.regex.is_some()),
    ]
    .into_iter()
    .filter_map(|(key, is_set)| is_set.then_some(key))
    .collect();
    if given.len() != 1 {
        let found = match given.as_slice() {
            [] => "none".to_owned(),
            keys => keys.join(" and "),
        };
        let message =
            format!("`path` needs exactly one of `prefix`, `exact` or `regex`, found {found}");
        problems.push((path.to_owned(), message));
    }
    for (key, value) in [("prefix", &path_match.prefix), ("exact", &path_match.exact)] {
        let problem = value.as_deref().and_then(slash_problem);
        problems.extend(problem.map(|m| (format!("{path}.{key}"), m)));
    }
}

fn check_header(path: &str, header: &mut HeaderMatchConfig, problems: &mut Problems) {
    match HeaderName::from_bytes(header.name.as_bytes()) {
        Ok(name) => header.name = name.as_str().to_owned(),
        Err(_) => problems.push((
            format!("{path}.name"),
            format!(
                "{:?} is not a valid header name (use letters, digits and -, e.g. x-tenant)",
                header.name
            ),
        )),
    }
    if let Some(value) = &header.exact {
        if HeaderValue::from_str(value).is_err() {
            problems.push((
                format!("{path}.exact"),
                format!("{value:?} is not a valid header value (visible ASCII, spaces and tabs)"),
            ));
        }
    }
}

/// Fills in `<listener>#<index>` for unnamed routes, then checks that names are unique.
fn name_routes(path: &str, listener: &mut ListenerConfig, problems: &mut Problems) {
    for (i, route) in listener.routes.iter_mut().enumerate() {
        if route.name.is_none() {
            route.name = Some(format!("{}#{i}", listener.name));
        }
    }
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, route) in listener.routes.iter().enumerate() {
        let name = route.name.as_deref().unwrap_or_default();
        let name_path = format!("{path}.routes[{i}].name");
        if name.is_empty() {
            let message = "route name must not be empty; \
                           leave `name` out for the default `<listener>#<index>`";
            problems.push((name_path, message.to_owned()));
        } else if let Some(j) = first.get(name) {
            let message = format!(
                "route name {name:?} is already used by {path}.routes[{j}]; \
                 names must be unique within a listener"
            );
            problems.push((name_path, message));
        } else {
            first.insert(name, i);
        }
    }
}

/// `prefix`, `exact` and `rewrite.path_prefix` are absolute paths.
fn slash_problem(path: &str) -> Option<String> {
    (!path.starts_with('/')).then(|| format!("{path:?} must start with \"/\" (e.g. \"/{path}\")"))
}

/// A host pattern is an exact host or `*.` followed by a domain suffix, without a port.
fn authority_problem(pattern: &str) -> Option<String> {
    const HINT: &str =
        "write an exact host such as api.example.com or a suffix such as *.example.com";
    if let Some(ip) = pattern.strip_prefix('[').and_then(|p| p.strip_suffix(']')) {
        // An IPv6 literal can only be matched exactly.
        let is_ipv6 = ip.parse::<Ipv6Addr>().is_ok();
        return (!is_ipv6).then(|| format!("{pattern:?} is not an IPv6 address; {HINT}"));
    }
    let host = pattern.strip_prefix("*.").unwrap_or(pattern);
    if host.contains('*') {
        return Some(format!(
            "{pattern:?} is not a host pattern: `*` is allowed only as a leading `*.`; {HINT}"
        ));
    }
    if let Some((without_port, _)) = host.rsplit_once(':') {
        let wildcard = if pattern.starts_with("*.") { "*." } else { "" };
        return Some(format!(
            "{pattern:?} has a port; `authority` matches the host only \
             (write \"{wildcard}{without_port}\")"
        ));
    }
    let is_label = |l: &str| {
        !l.is_empty()
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if !host.split('.').all(is_label) {
        return Some(format!("{pattern:?} is not a host pattern; {HINT}"));
    }
    None
}

/// `service` and `method`: non-empty, `*` only at the end, and no `/` (the `/` separators of
/// a gRPC path are not part of either name).
fn name_pattern_problem(what: &str, pattern: &str) -> Option<String> {
    let (exact, wildcard) = if what == "service" {
        ("shop.v1.Users", "shop.v1.*")
    } else {
        ("GetUser", "Get*")
    };
    if pattern.is_empty() {
        return Some(format!(
            "`{what}` must not be empty; leave it out to match every {what}"
        ));
    }
    if pattern.strip_suffix('*').unwrap_or(pattern).contains('*') {
        return Some(format!(
            "{pattern:?}: `*` is allowed only as the last character (e.g. \"{wildcard}\")"
        ));
    }
    if pattern.contains('/') {
        return Some(format!(
            "{pattern:?} contains `/`; write the {what} name alone (e.g. \"{exact}\")"
        ));
    }
    None
}

/// A `rewrite.host` replaces `:authority`/`Host`, so it must be a valid authority.
fn host_problem(host: &str) -> Option<String> {
    let is_valid = HeaderValue::from_str(host).is_ok() && host.parse::<Authority>().is_ok();
    (!is_valid).then(|| {
        format!(
            "{host:?} is not a valid host \
             (write a host with an optional port, e.g. users.internal:8080)"
        )
    })
}
