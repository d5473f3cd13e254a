use tonic::Code;

use super::*;

/// The made-up clock's start, in Unix milliseconds.
const T0: UnixMs = 1_000_000;

fn registration(service: &str, address: &str, ttl_secs: u64) -> Registration {
    Registration {
        service: service.to_owned(),
        address: address.parse().unwrap(),
        metadata: BTreeMap::new(),
        ttl: Duration::from_secs(ttl_secs),
        owner: None,
    }
}

/// Lease ids `lease-1`, `lease-2`, … in the order granted.
struct LeaseIds(u32);

impl LeaseIds {
    fn next(&mut self) -> impl FnOnce() -> String + '_ {
        move || {
            self.0 += 1;
            format!("lease-{}", self.0)
        }
    }
}

fn register(
    state: &mut RegistryState,
    ids: &mut LeaseIds,
    registration: Registration,
    now: UnixMs,
) -> (Lease, Change) {
    state.register(registration, now, 10, ids.next()).unwrap()
}

fn addresses(state: &RegistryState, service: &str, now: UnixMs) -> Vec<String> {
    let list = state.list(service, now);
    list.iter()
        .map(|i| format!("{}@{}", i.service, i.address))
        .collect()
}

#[test]
fn register_grants_a_lease_ending_after_its_ttl() {
    let (mut state, mut ids) = (RegistryState::default(), LeaseIds(0));
    let (lease, change) = register(
        &mut state,
        &mut ids,
        registration("users", "10.0.0.1:80", 10),
        T0,
    );
    assert_eq!(change, Change::Members);
    assert_eq!(lease.lease_id, "lease-1");
    assert_eq!(lease.expires_unix_ms, T0 + 10_000);
    assert_eq!(lease.ttl, Duration::from_secs(10));
    assert_eq!(addresses(&state, "users", T0), ["users@10.0.0.1:80"]);
    assert_eq!(addresses(&state, "orders", T0), Vec::<String>::new());
}

#[test]
fn registering_same_instance_again_renews_same_lease_and_replaces_metadata() {
    let (mut state, mut ids) = (RegistryState::default(), LeaseIds(0));
    let first = register(
        &mut state,
        &mut ids,
        registration("users", "10.0.0.1:80", 10),
        T0,
    )
    .0;
    let (again, change) = register(
        &mut state,
        &mut ids,
        registration("users", "10.0.0.1:80", 20),
        T0 + 5_000,
    );
    assert_eq!(
        change,
        Change::Renewed,
        "same metadata: watchers need not hear"
    );
    assert_eq!(again.lease_id, first.lease_id);
    assert_eq!(again.expires_unix_ms, T0 + 25_000, "the new TTL, from now");

    let mut relabelled = registration("users", "10.0.0.1:80", 20);
    relabelled
        .metadata
        .insert("zone".to_owned(), "b".to_owned());
    let (relabelled, change) = register(&mut state, &mut ids, relabelled, T0 + 6_000);
    assert_eq!(change, Change::Members);
    assert_eq!(relabelled.lease_id, first.lease_id);
    let listed = state.list("users", T0 + 6_000);
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].metadata.get("zone").map(String::as_str),
        Some("b")
    );
}

#[test]
fn same_address_of_another_service_is_another_instance() {
    let (mut state, mut ids) = (RegistryState::default(), LeaseIds(0));
    let users = register(
        &mut state,
        &mut ids,
        registration("users", "10.0.0.1:80", 10),
        T0,
    )
    .0;
    let orders = register(
        &mut state,
        &mut ids,
        registration("orders", "10.0.0.1:80", 10),
        T0,
    )
    .0;
    assert_ne!(users.lease_id, orders.lease_id);
    assert_eq!(
        addresses(&state, "", T0),
        ["orders@10.0.0.1:80", "users@10.0.0.1:80"]
    );
}

#[test]
fn keep_alive_renews_for_the_ttl_from_now() {
    let (mut state, mut ids) = (RegistryState::default(), LeaseIds(0));
    let lease = register(
        &mut state,
        &mut ids,
        registration("users", "10.0.0.1:80", 10),
        T0,
    )
    .0;
    let renewed = state
        .keep_alive(&lease.lease_id, &None, T0 + 9_000)
        .unwrap();
    assert_eq!(renewed.expires_unix_ms, T0 + 19_000);
    assert_eq!(renewed.service, "users");
    assert!(
        state.expire(T0 + 18_999).is_empty(),
        "renewed past its first end"
    );
    assert_eq!(
        addresses(&state, "users", T0 + 18_999),
        ["users@10.0.0.1:80"]
    );
}

#[test]
fn keep_alive_of_unknown_or_ended_lease_is_not_found() {
    let (mut state, mut ids) = (RegistryState::default(), LeaseIds(0));
    let error = state.keep_alive("nope", &None, T0).unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    assert_eq!(
        error.to_string(),
        "lease \"nope\" is not live (expired, deregistered or never granted): register again"
    );
    let lease = register(
        &mut state,
        &mut ids,
        registration("users", "10.0.0.1:80", 10),
        T0,
    )
    .0;
    let late = state
        .keep_alive(&lease.lease_id, &None, T0 + 10_000)
        .unwrap_err();
    assert_eq!(
        late.code(),
        Code::NotFound,
        "a lease ending now is over, swept or not"
    );
}

#[test]
fn deregister_removes_the_instance_once() {
    let (mut state, mut ids) = (RegistryState::default(), LeaseIds(0));
    let lease = register(
        &mut state,
        &mut ids,
        registration("users", "10.0.0.1:80", 10),
        T0,
    )
    .0;
    assert_eq!(
        state.deregister(&lease.lease_id, &None, T0),
        Ok("users".to_owned())
    );
    assert_eq!(addresses(&state, "users", T0), Vec::<String>::new());
    let again = state.deregister(&lease.lease_id, &None, T0).unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
    assert_eq!(state.next_expiry(), None);
}

#[test]
fn leases_end_at_their_expiry_and_only_then() {
    let (mut state, mut ids) = (RegistryState::default(), LeaseIds(0));
    register(
        &mut state,
        &mut ids,
        registration("users", "10.0.0.1:80", 10),
        T0,
    );
    register(
        &mut state,
        &mut ids,
        registration("users", "10.0.0.2:80", 20),
        T0,
    );
    register(
        &mut state,
        &mut ids,
        registration("orders", "10.0.0.3:80", 10),
        T0,
    );
    assert_eq!(state.next_expiry(), Some(T0 + 10_000));
    assert!(state.expire(T0 + 9_999).is_empty());
    let ended = state.expire(T0 + 10_000);
    assert_eq!(
        ended,
        [
            ("orders".to_owned(), "10.0.0.3:80".parse().unwrap()),
            ("users".to_owned(), "10.0.0.1:80".parse().unwrap()),
        ]
    );
    assert_eq!(addresses(&state, "", T0 + 10_000), ["users@10.0.0.2:80"]);
    assert_eq!(state.next_expiry(), Some(T0 + 20_000));
}

#[test]
fn list_hides_ended_leases_before_they_are_swept() {
    let (mut state, mut ids) = (RegistryState::default(), LeaseIds(0));
    register(
        &mut state,
        &mut ids,
        registration("users", "10.0.0.1:80", 10),
        T0,
    );
    assert_eq!(
        addresses(&state, "users", T0 + 10_000),
        Vec::<String>::new()
    );
}

#[test]
fn instances_beyond_max_are_resource_exhausted() {
    let (mut state, mut ids) = (RegistryState::default(), LeaseIds(0));
    for i in 1..=2 {
        let address = format!("10.0.0.{i}:80");
        state
            .register(registration("users", &address, 10), T0, 2, ids.next())
            .unwrap();
    }
    let error = state
        .register(registration("users", "10.0.0.3:80", 10), T0, 2, ids.next())
        .unwrap_err();
    assert_eq!(error.code(), Code::ResourceExhausted);
    assert_eq!(
        error.to_string(),
        "the registry already has 2 live instances, the most allowed (max_instances): deregister one or let its lease end"
    );
    let renewal = state.register(registration("users", "10.0.0.1:80", 10), T0, 2, ids.next());
    assert!(
        renewal.is_ok(),
        "renewing a registered instance needs no room"
    );
    state.expire(T0 + 10_000);
    let after = state.register(
        registration("users", "10.0.0.3:80", 10),
        T0 + 10_000,
        2,
        ids.next(),
    );
    assert!(after.is_ok(), "ended leases free their room");
}

#[test]
fn max_instances_counts_per_token() {
    let (mut state, mut ids) = (RegistryState::default(), LeaseIds(0));
    let owned = |address: &str, owner: &str| Registration {
        owner: Some(owner.to_owned()),
        ..registration("users", address, 10)
    };
    state
        .register(owned("10.0.0.1:80", "a"), T0, 1, ids.next())
        .unwrap();
    state
        .register(owned("10.0.0.2:80", "b"), T0, 1, ids.next())
        .unwrap();
    let error = state
        .register(owned("10.0.0.3:80", "a"), T0, 1, ids.next())
        .unwrap_err();
    assert_eq!(error.code(), Code::ResourceExhausted);
    assert!(error
        .to_string()
        .starts_with("this token already has 1 live instances"));
}

#[test]
fn leases_of_another_token_cannot_be_used() {
    let (mut state, mut ids) = (RegistryState::default(), LeaseIds(0));
    let mine = Registration {
        owner: Some("a".to_owned()),
        ..registration("users", "10.0.0.1:80", 10)
    };
    let lease = register(&mut state, &mut ids, mine, T0).0;
    let theirs = Some("b".to_owned());
    assert_eq!(
        state
            .keep_alive(&lease.lease_id, &theirs, T0)
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    assert_eq!(
        state
            .deregister(&lease.lease_id, &theirs, T0)
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    assert!(state
        .keep_alive(&lease.lease_id, &Some("a".to_owned()), T0)
        .is_ok());
}

#[test]
fn re_registering_after_the_lease_ended_is_a_new_instance() {
    let (mut state, mut ids) = (RegistryState::default(), LeaseIds(0));
    let first = register(
        &mut state,
        &mut ids,
        registration("users", "10.0.0.1:80", 10),
        T0,
    )
    .0;
    let (second, change) = register(
        &mut state,
        &mut ids,
        registration("users", "10.0.0.1:80", 10),
        T0 + 10_000,
    );
    assert_eq!(change, Change::Members);
    assert_ne!(second.lease_id, first.lease_id);
    assert!(state
        .keep_alive(&first.lease_id, &None, T0 + 10_000)
        .is_err());
    assert_eq!(state.entries().count(), 1);
}

#[test]
fn restore_replaces_instances_at_the_same_place_or_lease() {
    let mut state = RegistryState::default();
    let entry = |lease_id: &str| Entry {
        lease_id: lease_id.to_owned(),
        metadata: BTreeMap::new(),
        ttl: Duration::from_secs(10),
        expires_unix_ms: T0 + 10_000,
        owner: None,
    };
    let address: SocketAddr = "10.0.0.1:80".parse().unwrap();
    state.restore("users".to_owned(), address, entry("l1"));
    state.restore("users".to_owned(), address, entry("l2"));
    state.restore("orders".to_owned(), address, entry("l2"));
    let listed = state.list("", T0);
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].service.as_str(), listed[0].lease_id.as_str()),
        ("orders", "l2")
    );
    assert!(state.keep_alive("l1", &None, T0).is_err());
}
