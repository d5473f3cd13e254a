use http::Request;
use yardmaster_config::{HeaderMatchConfig, MatchConfig, PathMatchConfig, Pattern};

use super::*;

fn request(uri: &str, headers: &[(&str, &str)]) -> Request<()> {
    let mut builder = Request::builder().uri(uri);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(()).unwrap()
}

fn matches(config: MatchConfig, req: &Request<()>) -> bool {
    let grpc = GrpcPath::parse(req.uri().path());
    Matcher::new(&config).is_match(req, grpc)
}

#[test]
fn empty_match_matches_everything() {
    assert!(matches(MatchConfig::default(), &request("/anything", &[])));
}

#[test]
fn authority_exact_and_suffix_ignore_case_and_port() {
    let exact = MatchConfig {
        authority: Some("api.example.com".into()),
        ..Default::default()
    };
    assert!(matches(
        exact.clone(),
        &request("http://API.example.com:8080/", &[])
    ));
    assert!(matches(
        exact.clone(),
        &request("/", &[("host", "api.example.com")])
    ));
    assert!(!matches(
        exact,
        &request("/", &[("host", "web.example.com")])
    ));

    let suffix = MatchConfig {
        authority: Some("*.example.com".into()),
        ..Default::default()
    };
    assert!(matches(
        suffix.clone(),
        &request("/", &[("host", "a.b.example.com:1")])
    ));
    assert!(!matches(
        suffix.clone(),
        &request("/", &[("host", "example.com")])
    ));
    assert!(!matches(suffix, &request("/", &[])));
}

#[test]
fn ipv6_authority_keeps_brackets() {
    assert_eq!(strip_port("[::1]:8080"), "[::1]");
    assert_eq!(strip_port("[::1]"), "[::1]");
    assert_eq!(strip_port("host:1"), "host");
}

#[test]
fn path_prefix_exact_and_regex() {
    let path = |p: PathMatchConfig| MatchConfig {
        path: Some(p),
        ..Default::default()
    };
    let prefix = path(PathMatchConfig {
        prefix: Some("/api/".into()),
        ..Default::default()
    });
    assert!(matches(prefix.clone(), &request("/api/users?x=1", &[])));
    assert!(!matches(prefix, &request("/apix", &[])));

    let exact = path(PathMatchConfig {
        exact: Some("/healthz".into()),
        ..Default::default()
    });
    assert!(matches(exact.clone(), &request("/healthz?verbose", &[])));
    assert!(!matches(exact, &request("/healthz/x", &[])));

    let regex = path(PathMatchConfig {
        regex: Some(Pattern::new("/v[0-9]+/.*").unwrap()),
        ..Default::default()
    });
    assert!(matches(regex.clone(), &request("/v2/things", &[])));
    assert!(!matches(regex, &request("/x/v2/things", &[])));
}

#[test]
fn grpc_service_and_method_with_trailing_wildcard() {
    let config = MatchConfig {
        service: Some("com.example.internal.*".into()),
        method: Some("Get*".into()),
        ..Default::default()
    };
    assert!(matches(
        config.clone(),
        &request("/com.example.internal.Admin/GetUser", &[])
    ));
    assert!(!matches(
        config.clone(),
        &request("/com.example.internal.Admin/Delete", &[])
    ));
    assert!(!matches(
        config.clone(),
        &request("/com.example.Public/GetUser", &[])
    ));
    assert!(!matches(config, &request("/not-grpc", &[])));
}

#[test]
fn headers_present_or_exact_among_repeated_values() {
    let config = MatchConfig {
        headers: vec![
            HeaderMatchConfig {
                name: "x-tenant".into(),
                exact: Some("acme".into()),
            },
            HeaderMatchConfig {
                name: "x-debug".into(),
                exact: None,
            },
        ],
        ..Default::default()
    };
    let both = request(
        "/",
        &[("x-tenant", "other"), ("x-tenant", "acme"), ("x-debug", "")],
    );
    assert!(matches(config.clone(), &both));
    assert!(!matches(
        config.clone(),
        &request("/", &[("x-tenant", "acme")])
    ));
    assert!(!matches(
        config,
        &request("/", &[("x-tenant", "ACME"), ("x-debug", "1")])
    ));
}
