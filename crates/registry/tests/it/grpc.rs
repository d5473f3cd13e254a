//! The gRPC API end to end over loopback.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use tonic::{Code, Request};
use yardmaster_core::{DiscoveredEndpoint, EndpointChange};
use yardmaster_registry::pb::{
    DeregisterRequest, KeepAliveRequest, ListRequest, ListResponse, RegisterRequest, WatchRequest,
};

use crate::{bounded, loopback_policy, Served};

const USERS: &str = "users.v1.Users";

fn register_request(address: &str) -> RegisterRequest {
    RegisterRequest {
        service: USERS.to_owned(),
        address: address.to_owned(),
        metadata: BTreeMap::from([("zone".to_owned(), "a".to_owned())]),
        ttl_seconds: 30,
    }
}

fn addresses(list: &ListResponse) -> Vec<&str> {
    list.instances.iter().map(|i| i.address.as_str()).collect()
}

/// Register, list, watch the instance arrive and leave: what a registrant and a watcher see.
#[tokio::test]
async fn watch_sees_instances_register_and_deregister() {
    let served = Served::start(loopback_policy(&[])).await;
    let mut client = served.client().await;

    let mut watch = bounded(client.watch(WatchRequest {
        service: USERS.to_owned(),
    }))
    .await
    .unwrap()
    .into_inner();
    let first = bounded(watch.message()).await.unwrap().unwrap();
    assert!(first.instances.is_empty(), "the current list comes first");

    let lease = bounded(client.register(register_request("127.0.0.1:9001")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lease.service, USERS);
    assert_eq!(lease.address, "127.0.0.1:9001");
    assert_eq!(lease.ttl_seconds, 30);
    assert_eq!(lease.lease_id.len(), 32);

    let arrived = bounded(watch.message()).await.unwrap().unwrap();
    assert_eq!(addresses(&arrived), ["127.0.0.1:9001"]);
    assert_eq!(arrived.instances[0].lease_id, lease.lease_id);
    assert_eq!(
        arrived.instances[0]
            .metadata
            .get("zone")
            .map(String::as_str),
        Some("a")
    );

    let listed = bounded(client.list(ListRequest {
        service: String::new(),
    }))
    .await
    .unwrap()
    .into_inner();
    assert_eq!(addresses(&listed), ["127.0.0.1:9001"]);

    let renewed = bounded(client.keep_alive(KeepAliveRequest {
        lease_id: lease.lease_id.clone(),
    }))
    .await
    .unwrap()
    .into_inner();
    assert!(renewed.expires_unix_ms >= lease.expires_unix_ms);

    bounded(client.deregister(DeregisterRequest {
        lease_id: lease.lease_id.clone(),
    }))
    .await
    .unwrap();
    let left = bounded(watch.message()).await.unwrap().unwrap();
    assert!(left.instances.is_empty());

    let gone = bounded(client.keep_alive(KeepAliveRequest {
        lease_id: lease.lease_id,
    }))
    .await
    .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn registering_twice_keeps_one_instance_and_its_lease() {
    let served = Served::start(loopback_policy(&[])).await;
    let mut client = served.client().await;
    let first = bounded(client.register(register_request("[::1]:9001")))
        .await
        .unwrap();
    let mut relabelled = register_request("[::1]:9001");
    relabelled
        .metadata
        .insert("zone".to_owned(), "b".to_owned());
    let second = bounded(client.register(relabelled)).await.unwrap();
    assert_eq!(first.get_ref().lease_id, second.get_ref().lease_id);
    let instances = served.registry.instances(USERS);
    assert_eq!(instances.len(), 1);
    assert_eq!(
        instances[0].metadata.get("zone").map(String::as_str),
        Some("b")
    );
}

#[tokio::test]
async fn follow_sees_each_new_endpoint_set() {
    let served = Served::start(loopback_policy(&[])).await;
    let mut client = served.client().await;
    let (sender, mut sets) = tokio::sync::mpsc::unbounded_channel();
    let registry = served.registry.clone();
    let follow = tokio::spawn(async move {
        registry
            .follow(USERS, |change| sender.send(change).is_ok())
            .await;
    });
    assert_eq!(
        bounded(sets.recv()).await,
        Some(EndpointChange::Discovered(Vec::new()))
    );

    let endpoint = |text: &str| DiscoveredEndpoint::new(text.parse::<SocketAddr>().unwrap());
    bounded(client.register(register_request("127.0.0.2:9002")))
        .await
        .unwrap();
    assert_eq!(
        bounded(sets.recv()).await,
        Some(EndpointChange::Discovered(vec![endpoint("127.0.0.2:9002")]))
    );
    bounded(client.register(register_request("127.0.0.1:9001")))
        .await
        .unwrap();
    assert_eq!(
        bounded(sets.recv()).await,
        Some(EndpointChange::Discovered(vec![
            endpoint("127.0.0.1:9001"),
            endpoint("127.0.0.2:9002")
        ]))
    );

    // New metadata alone leaves the endpoints as they were: the next set is the next
    // change of addresses.
    let mut relabelled = register_request("127.0.0.1:9001");
    relabelled
        .metadata
        .insert("zone".to_owned(), "b".to_owned());
    bounded(client.register(relabelled)).await.unwrap();
    let lease = bounded(client.register(register_request("127.0.0.2:9002")))
        .await
        .unwrap()
        .into_inner();
    bounded(client.deregister(DeregisterRequest {
        lease_id: lease.lease_id,
    }))
    .await
    .unwrap();
    assert_eq!(
        bounded(sets.recv()).await,
        Some(EndpointChange::Discovered(vec![endpoint("127.0.0.1:9001")]))
    );
    follow.abort();
}

#[tokio::test]
async fn refusals_reach_the_registrant_with_a_reason() {
    let served = Served::start(loopback_policy(&["s3cret"])).await;
    let mut client = served.client().await;

    let anonymous = bounded(client.register(register_request("127.0.0.1:9001")))
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    assert!(
        anonymous.message().contains("needs a token"),
        "{}",
        anonymous.message()
    );

    let with_token = |body: RegisterRequest| {
        let mut request = Request::new(body);
        request
            .metadata_mut()
            .insert("authorization", "Bearer s3cret".parse().unwrap());
        request
    };
    let outside = bounded(client.register(with_token(register_request("10.0.0.1:9001"))))
        .await
        .unwrap_err();
    assert_eq!(outside.code(), Code::PermissionDenied);
    assert_eq!(
        outside.message(),
        "address 10.0.0.1:9001 is outside the networks allowed to register: 127.0.0.0/8, ::1/128"
    );

    let mut absurd = register_request("127.0.0.1:9001");
    absurd.ttl_seconds = u32::MAX;
    let absurd = bounded(client.register(with_token(absurd)))
        .await
        .unwrap_err();
    assert_eq!(absurd.code(), Code::InvalidArgument);

    let lease = bounded(client.register(with_token(register_request("127.0.0.1:9001"))))
        .await
        .unwrap()
        .into_inner();
    let unauthenticated = bounded(client.deregister(DeregisterRequest {
        lease_id: lease.lease_id,
    }))
    .await
    .unwrap_err();
    assert_eq!(
        unauthenticated.code(),
        Code::Unauthenticated,
        "ending a lease needs the token too"
    );
    assert_eq!(served.registry.instances(USERS).len(), 1);

    let huge = register_request(&"1".repeat(100_000));
    let huge = bounded(client.register(with_token(huge)))
        .await
        .unwrap_err();
    assert_eq!(
        huge.code(),
        Code::OutOfRange,
        "larger than any registration"
    );
}

/// The proxy calls the service with its own body type, not tonic's.
#[test]
fn grpc_service_takes_any_request_body() {
    fn serves<B, S: tonic::codegen::Service<tonic::codegen::http::Request<B>>>(_: &S) {}
    let registry = yardmaster_registry::Registry::open(None, loopback_policy(&[])).unwrap();
    serves::<String, _>(&registry.grpc_service());
    serves::<tonic::body::Body, _>(&registry.grpc_service());
}
