//! A bridge's upstreams are the endpoints of its cluster: the cluster's admin API, health
//! checks and discovery decide where bridge clients go.

use yardmaster_test_support::{eventually_async, TestGateway};

use crate::bridge::{admin_json, echo_upstream, gateway_yaml_with, Client};

/// Where each bridge client is assigned, from the admin API: `(peer, upstream)`.
async fn assignments(gateway: &TestGateway) -> Vec<(String, String)> {
    let clients = admin_json(gateway, "GET", "/bridges/devices/clients", "").await;
    clients
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["peer"].to_string(), c["upstream"].to_string()))
        .collect()
}

/// Draining an endpoint through the cluster's admin API keeps its bridge clients on it and
/// sends new ones elsewhere; the cluster removes it, and the bridge closes its stream,
/// once its last client has gone.
#[tokio::test]
async fn cluster_drain_keeps_bridge_clients_and_sends_new_ones_elsewhere() {
    let (a, _) = echo_upstream().await;
    let (b, _) = echo_upstream().await;
    let gateway = TestGateway::start(&gateway_yaml_with(&format!("endpoints: [{a}, {b}]"))).await;
    let addr = gateway.bridge_addr("devices");
    eventually_async("both upstreams are ready", || async {
        let upstreams = admin_json(&gateway, "GET", "/bridges/devices/upstreams", "").await;
        upstreams
            .as_array()
            .unwrap()
            .iter()
            .all(|u| u["ready"] == true)
    })
    .await;
    // Round robin over two ready upstreams: one client each.
    let mut old = Vec::new();
    for i in 0..2 {
        let mut client = Client::connect(addr).await;
        client.echo(&format!("old {i}")).await;
        old.push(client);
    }
    let on = |upstream: std::net::SocketAddr, all: &[(String, String)]| {
        let upstream = format!("\"{upstream}\"");
        all.iter().filter(|(_, u)| *u == upstream).count()
    };
    assert_eq!(on(a, &assignments(&gateway).await), 1);

    let (status, body) = gateway
        .admin_post(&format!("/clusters/device-upstreams/endpoints/{a}/drain"))
        .await;
    assert_eq!(status, 200, "{body}");
    let cluster = gateway.cluster_status("device-upstreams").await;
    assert_eq!(cluster["endpoints"][0]["state"], "draining");
    assert_eq!(cluster["endpoints"][0]["in_flight"], 1, "its bridge client");
    let upstreams = admin_json(&gateway, "GET", "/bridges/devices/upstreams", "").await;
    assert_eq!(upstreams[0]["draining"], true);

    let mut new = Vec::new();
    for i in 0..4 {
        let mut client = Client::connect(addr).await;
        client.echo(&format!("new {i}")).await;
        new.push(client);
    }
    for client in &mut old {
        client.echo("still here").await;
    }
    let all = assignments(&gateway).await;
    assert_eq!((on(a, &all), on(b, &all)), (1, 5), "{all:?}");

    // The old clients leave, a's last one among them: the cluster removes a, and the
    // bridge follows.
    drop(old);
    eventually_async("the drained endpoint is removed", || async {
        let cluster = gateway.cluster_status("device-upstreams").await;
        let upstreams = admin_json(&gateway, "GET", "/bridges/devices/upstreams", "").await;
        cluster["endpoints"].as_array().unwrap().len() == 1
            && upstreams.as_array().unwrap().len() == 1
            && upstreams[0]["address"] == b.to_string()
    })
    .await;
    for client in &mut new {
        client.echo("on b").await;
    }
    gateway.shutdown().await;
}
