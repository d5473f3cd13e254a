use http::{HeaderMap, HeaderValue};

use super::{response_headers, HeaderForwarding};

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn sorted(map: &HeaderMap) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = map
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    pairs.sort();
    pairs
}

#[test]
fn allowed_and_prefixed_request_headers_become_metadata() {
    let forwarding = HeaderForwarding::new(&["Authorization".into(), "X-Tenant-*".into()]).unwrap();
    let request = headers(&[
        ("authorization", "Bearer t"),
        ("x-tenant-id", "7"),
        ("x-tenant-region", "eu"),
        ("x-other", "no"),
        ("cookie", "no"),
        ("grpc-metadata-trace-id", "abc"),
        ("grpc-metadata-grpc-status", "0"),
        ("grpc-metadata-content-type", "text/plain"),
        ("content-type", "application/json"),
    ]);
    let mut metadata = HeaderMap::new();
    forwarding.request_metadata(&request, &mut metadata);
    assert_eq!(
        sorted(&metadata),
        [
            ("authorization".into(), "Bearer t".into()),
            ("trace-id".into(), "abc".into()),
            ("x-tenant-id".into(), "7".into()),
            ("x-tenant-region".into(), "eu".into()),
        ]
    );
}

#[test]
fn reserved_or_invalid_names_are_refused_with_their_index() {
    for (patterns, index, says) in [
        (
            vec!["authorization", "content-type"],
            1,
            "belongs to HTTP or gRPC",
        ),
        (vec!["grpc-timeout"], 0, "belongs to HTTP or gRPC"),
        (vec!["bad header"], 0, "not a header name"),
        (vec!["bad header*"], 0, "not a header name prefix"),
    ] {
        let patterns: Vec<String> = patterns.into_iter().map(str::to_owned).collect();
        let (i, message) = HeaderForwarding::new(&patterns).unwrap_err();
        assert_eq!(i, index);
        assert!(message.contains(says), "{message}");
    }
    assert!(HeaderForwarding::new(&["*".into()]).is_ok());
}

#[test]
fn reply_metadata_becomes_prefixed_headers_without_grpc_own_headers() {
    let metadata = headers(&[
        ("content-type", "application/grpc"),
        ("grpc-status", "0"),
        ("grpc-message", "x"),
        ("x-request-cost", "3"),
        ("session-bin", "AAEC"),
    ]);
    let mut response = HeaderMap::new();
    response_headers(&metadata, &mut response);
    assert_eq!(
        sorted(&response),
        [
            ("grpc-metadata-session-bin".into(), "AAEC".into()),
            ("grpc-metadata-x-request-cost".into(), "3".into()),
        ]
    );
}
