use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;

use tonic::Code;

use super::*;

/// Guards against hangs only; the tests wait for events, never for time.
const HANG_LIMIT: Duration = Duration::from_secs(10);

/// A policy whose default lease (`ttl_seconds: 0`) lasts `max_ttl`, so expiry tests take
/// about a second.
fn policy(max_ttl: Duration) -> Policy {
    Policy {
        allow: vec!["10.0.0.0/8".parse().unwrap()],
        tokens: Vec::new(),
        min_ttl: Duration::from_millis(1),
        max_ttl,
        max_instances: 5_000,
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

async fn bounded<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG_LIMIT, future)
        .await
        .expect("the registry did not answer in time")
}

#[test]
fn lease_ids_are_unique_and_128_bits_of_hex() {
    let registry = Registry::open(None, policy(Duration::from_secs(60))).unwrap();
    let a = registry
        .register(request("users", "10.0.0.1:80", 10), None)
        .unwrap();
    let b = registry
        .register(request("users", "10.0.0.2:80", 10), None)
        .unwrap();
    assert_ne!(a.lease_id, b.lease_id);
    assert_eq!(a.lease_id.len(), 32);
    assert!(a.lease_id.chars().all(|c| c.is_ascii_hexdigit()));
}

#[test]
fn watches_that_go_away_leave_nothing_behind() {
    let registry = Registry::open(None, policy(Duration::from_secs(60))).unwrap();
    let watches: Vec<_> = (0..100)
        .map(|i| registry.watch(&format!("service-{i}")).unwrap())
        .collect();
    assert_eq!(registry.inner.lock().feed.len(), 100);
    assert_eq!(
        registry.inner.watches.available_permits(),
        MAX_WATCHES - 100
    );
    drop(watches);
    assert_eq!(registry.inner.watches.available_permits(), MAX_WATCHES);
    registry.inner.expire(yardmaster_core::unix_ms_now());
    assert_eq!(registry.inner.lock().feed.len(), 0);
}

#[test]
fn watches_beyond_the_limit_are_resource_exhausted() {
    let registry = Registry::open(None, policy(Duration::from_secs(60))).unwrap();
    let _open: Vec<_> = (0..MAX_WATCHES)
        .map(|_| registry.watch("users").unwrap())
        .collect();
    let error = registry.watch("users").unwrap_err();
    assert_eq!(error.code(), Code::ResourceExhausted);
    assert_eq!(
        error.to_string(),
        "10000 watches are open, the most this registry serves at once"
    );
}

#[test]
fn list_and_watch_refuse_bad_service_names() {
    let registry = Registry::open(None, policy(Duration::from_secs(60))).unwrap();
    let garbage = "x".repeat(10_000);
    assert_eq!(
        registry.list(&garbage).unwrap_err().code(),
        Code::InvalidArgument
    );
    assert_eq!(
        registry.watch(&garbage).unwrap_err().code(),
        Code::InvalidArgument
    );
    assert!(
        registry.list("").unwrap().is_empty(),
        "empty: every service"
    );
}

#[test]
fn registrations_survive_a_reopen() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("registry.json");
    let registry = Registry::open(Some(path.clone()), policy(Duration::from_secs(60))).unwrap();
    let lease = registry
        .register(request("users", "10.0.0.1:80", 60), None)
        .unwrap();
    // Never started: the last drop writes the file.
    drop(registry);

    let reopened = Registry::open(Some(path), policy(Duration::from_secs(60))).unwrap();
    let instances = reopened.instances("users");
    assert_eq!(instances.len(), 1);
    assert_eq!(instances[0].lease_id, lease.lease_id);
    assert!(
        reopened.keep_alive(&lease.lease_id, None).is_ok(),
        "the lease is still live"
    );
}

#[test]
fn open_reports_a_corrupt_file_by_name() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("registry.json");
    std::fs::write(&path, "not json").unwrap();
    let error = Registry::open(Some(path.clone()), policy(Duration::from_secs(60)))
        .err()
        .unwrap();
    assert!(error.contains(&path.display().to_string()), "{error}");
}

#[tokio::test]
async fn ended_leases_leave_and_followers_see_it() {
    let registry = Registry::open(None, policy(Duration::from_secs(1))).unwrap();
    registry.start();
    let (sender, mut sets) = tokio::sync::mpsc::unbounded_channel();
    let follower = registry.clone();
    let follow = tokio::spawn(async move {
        follower
            .follow("users", |change| sender.send(change).is_ok())
            .await;
    });
    assert_eq!(
        bounded(sets.recv()).await,
        Some(EndpointChange::Discovered(Vec::new()))
    );

    // `ttl_seconds: 0` asks for the default, clamped to the 1 s `max_ttl`: long enough for
    // the follower to see the instance arrive on a busy machine.
    let lease = registry
        .register(request("users", "10.0.0.1:80", 0), None)
        .unwrap();
    assert_eq!(lease.ttl, Duration::from_secs(1));
    let address: SocketAddr = "10.0.0.1:80".parse().unwrap();
    let discovered = EndpointChange::Discovered(vec![DiscoveredEndpoint::new(address)]);
    assert_eq!(bounded(sets.recv()).await, Some(discovered));
    assert_eq!(
        bounded(sets.recv()).await,
        Some(EndpointChange::Discovered(Vec::new()))
    );
    assert!(registry.instances("").is_empty());

    drop(sets);
    registry
        .register(request("users", "10.0.0.2:80", 0), None)
        .unwrap();
    bounded(follow).await.unwrap();
}

#[tokio::test]
async fn a_flood_of_registrations_reaches_the_file() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("registry.json");
    let registry = Registry::open(Some(path.clone()), policy(Duration::from_secs(60))).unwrap();
    registry.start();
    for i in 0..1000 {
        let address = format!("10.0.{}.{}:80", i / 250, i % 250 + 1);
        registry
            .register(request("users", &address, 60), None)
            .unwrap();
    }
    let file = registry.inner.file.clone().unwrap();
    let version = registry.inner.lock().version;
    // Polled, sparingly: the writer has no event to await from outside.
    bounded(async {
        while file.written() < version {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let reopened = StateFile::new(path).load(
        &policy(Duration::from_secs(60)),
        yardmaster_core::unix_ms_now(),
    );
    assert_eq!(
        reopened
            .unwrap()
            .list("users", yardmaster_core::unix_ms_now())
            .len(),
        1000
    );
}
