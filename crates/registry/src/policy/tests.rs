use tonic::Code;

use super::*;

fn policy() -> Policy {
    Policy {
        allow: vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
        tokens: Vec::new(),
        min_ttl: Duration::from_secs(1),
        max_ttl: Duration::from_secs(3600),
        max_instances: 100,
    }
}

fn request(service: &str, address: &str, ttl_seconds: u32) -> RegisterRequest {
    RegisterRequest {
        service: service.to_owned(),
        address: address.to_owned(),
        metadata: BTreeMap::new(),
        ttl_seconds,
    }
}

/// The refusal of `request` under `policy`, as code and message.
fn refusal(policy: &Policy, request: RegisterRequest) -> (Code, String) {
    let error = policy.validate(request, None).unwrap_err();
    (error.code(), error.to_string())
}

#[test]
fn valid_registration_passes_with_canonical_address() {
    let registration = policy()
        .validate(
            request("users.v1.Users", "[::ffff:10.1.2.3]:8080", 10),
            None,
        )
        .unwrap();
    assert_eq!(registration.service, "users.v1.Users");
    assert_eq!(registration.address, "10.1.2.3:8080".parse().unwrap());
    assert_eq!(registration.ttl, Duration::from_secs(10));
    let v6 = policy().validate(request("a-b_c.D9", "[::1]:50051", 1), None);
    assert!(v6.is_ok());
}

#[test]
fn bad_service_names_are_invalid_arguments() {
    let policy = policy();
    assert_eq!(
        refusal(&policy, request("", "10.0.0.1:80", 10)),
        (Code::InvalidArgument, "service name is empty".to_owned())
    );
    assert_eq!(
        refusal(&policy, request("users v1", "10.0.0.1:80", 10)),
        (
            Code::InvalidArgument,
            "service name \"users v1\" may hold only letters, digits, '.', '_' and '-'".to_owned()
        )
    );
    let long = "a".repeat(201);
    assert_eq!(
        refusal(&policy, request(&long, "10.0.0.1:80", 10)),
        (
            Code::InvalidArgument,
            "service name is 201 characters long; at most 200".to_owned()
        )
    );
    assert!(policy
        .validate(request(&"a".repeat(200), "10.0.0.1:80", 10), None)
        .is_ok());
}

#[test]
fn bad_addresses_are_invalid_arguments() {
    let policy = policy();
    let (code, message) = refusal(&policy, request("s", "10.0.0.x:80", 10));
    assert_eq!(code, Code::InvalidArgument);
    assert!(
        message.starts_with("address \"10.0.0.x:80\" is not ip:port"),
        "{message}"
    );
    assert_eq!(
        refusal(&policy, request("s", "10.0.0.1", 10)).0,
        Code::InvalidArgument,
        "a port is required"
    );
    assert_eq!(
        refusal(&policy, request("s", "10.0.0.1:0", 10)),
        (
            Code::InvalidArgument,
            "address \"10.0.0.1:0\" has port 0".to_owned()
        )
    );
    for unroutable in [
        "0.0.0.0:80",
        "[::]:80",
        "224.0.0.1:80",
        "255.255.255.255:80",
    ] {
        let (code, message) = refusal(&policy, request("s", unroutable, 10));
        assert_eq!(code, Code::InvalidArgument, "{unroutable}");
        assert!(message.contains("is not a unicast address"), "{message}");
    }
}

#[test]
fn address_outside_allowed_networks_is_permission_denied() {
    assert_eq!(
        refusal(&policy(), request("s", "192.0.2.1:80", 10)),
        (
            Code::PermissionDenied,
            "address 192.0.2.1:80 is outside the networks allowed to register: 10.0.0.0/8, ::1/128"
                .to_owned()
        )
    );
    let closed = Policy {
        allow: Vec::new(),
        ..policy()
    };
    let (code, message) = refusal(&closed, request("s", "10.0.0.1:80", 10));
    assert_eq!(code, Code::PermissionDenied);
    assert_eq!(
        message,
        "address 10.0.0.1:80 may not register: no network is allowed to (the registry's allow list is empty)"
    );
}

#[test]
fn ttl_outside_bounds_is_invalid_argument() {
    let message =
        "is outside the allowed 1s..=3600s (0 asks for the default, 30s within that range)";
    let (code, text) = refusal(&policy(), request("s", "10.0.0.1:80", 3601));
    assert_eq!(code, Code::InvalidArgument);
    assert_eq!(text, format!("ttl_seconds 3601 {message}"));
    let strict = Policy {
        min_ttl: Duration::from_secs(5),
        ..policy()
    };
    let (code, text) = refusal(&strict, request("s", "10.0.0.1:80", 4));
    assert_eq!(code, Code::InvalidArgument);
    assert!(
        text.starts_with("ttl_seconds 4 is outside the allowed 5s..=3600s"),
        "{text}"
    );
}

#[test]
fn zero_ttl_takes_default_within_bounds() {
    let ttl = |min: u64, max: u64| {
        let policy = Policy {
            min_ttl: Duration::from_secs(min),
            max_ttl: Duration::from_secs(max),
            ..policy()
        };
        policy
            .validate(request("s", "10.0.0.1:80", 0), None)
            .unwrap()
            .ttl
    };
    assert_eq!(ttl(1, 3600), DEFAULT_TTL);
    assert_eq!(ttl(1, 10), Duration::from_secs(10));
    assert_eq!(ttl(60, 120), Duration::from_secs(60));
}

#[test]
fn metadata_beyond_limits_is_invalid_argument() {
    let mut many = request("s", "10.0.0.1:80", 10);
    many.metadata = (0..33).map(|i| (format!("k{i}"), String::new())).collect();
    assert_eq!(
        refusal(&policy(), many),
        (
            Code::InvalidArgument,
            "metadata has 33 entries; at most 32".to_owned()
        )
    );
    let mut long = request("s", "10.0.0.1:80", 10);
    long.metadata.insert("zone".to_owned(), "x".repeat(1025));
    let (code, message) = refusal(&policy(), long);
    assert_eq!(code, Code::InvalidArgument);
    assert!(
        message.starts_with("metadata \"zone\": keys may be at most 128 bytes"),
        "{message}"
    );
}

#[test]
fn tokens_are_checked_when_configured() {
    let open = policy();
    assert_eq!(
        open.authorize(None),
        Ok(None),
        "no tokens: anyone may register"
    );
    let guarded = Policy {
        tokens: vec!["s3cret".to_owned(), "other".to_owned()],
        ..policy()
    };
    let unauthenticated = |authorization: Option<&str>| {
        let error = guarded.authorize(authorization).unwrap_err();
        assert_eq!(error.code(), Code::Unauthenticated, "{authorization:?}");
        error.to_string()
    };
    assert_eq!(
        unauthenticated(None),
        "this registry needs a token: send `authorization: Bearer <token>` metadata"
    );
    assert_eq!(
        unauthenticated(Some("Basic czNjcmV0")),
        "the `authorization` metadata is not `Bearer <token>`"
    );
    assert_eq!(
        unauthenticated(Some("Bearer s3cre")),
        "the bearer token is not one this registry accepts"
    );
    let first = guarded.authorize(Some("Bearer s3cret")).unwrap();
    assert_eq!(guarded.authorize(Some("bearer  s3cret")).unwrap(), first);
    let second = guarded.authorize(Some("Bearer other")).unwrap();
    assert!(first.is_some() && second.is_some() && first != second);
    assert!(
        !first.unwrap().contains("s3cret"),
        "the token itself is never the owner"
    );
}

#[test]
fn crossed_ttl_bounds_are_refused_at_open() {
    let crossed = Policy {
        min_ttl: Duration::from_secs(10),
        max_ttl: Duration::from_secs(5),
        ..policy()
    };
    assert_eq!(
        crossed.check().unwrap_err(),
        "registry policy: min_ttl 10s and max_ttl 5s leave no lease length to grant"
    );
    assert!(policy().check().is_ok());
}
