//! Clusters whose endpoints come from discovery: DNS records served by a real name server
//! on loopback, and a watched endpoint file; records and files change while calls flow.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use yardmaster_test_support::{
    endpoint_slice, eventually_async, SrvRecord, TestGateway, TestKubernetesApi, TestNameServer,
    TestUpstream,
};

use crate::balancing::{served_by, spread};

/// A gateway with one cluster `upstream` whose `discovery` is `source` (YAML flow map).
async fn gateway_discovering(source: &str, settings: &str) -> TestGateway {
    let cluster = format!("    discovery: {source}\n{settings}");
    TestGateway::start(&crate::balancing::cluster_gateway_yaml(&cluster)).await
}

/// Two echo upstreams on 127.0.0.2 and 127.0.0.3 with one port, so A records alone tell
/// them apart.
async fn upstreams_on_one_port() -> (TestUpstream, TestUpstream) {
    loop {
        let a = TestUpstream::echo_on("a", SocketAddr::from(([127, 0, 0, 2], 0))).await;
        let port = a.addr().port();
        let bind_b = SocketAddr::from(([127, 0, 0, 3], port));
        // The port may be taken on 127.0.0.3; try another.
        if std::net::TcpListener::bind(bind_b).is_ok() {
            let b = TestUpstream::echo_on("b", bind_b).await;
            return (a, b);
        }
    }
}

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

/// A `dns` source of `name:port` asked of `server`, refreshed within 50 ms and `max`.
fn dns_source(name: &str, port: u16, server: SocketAddr, max: &str) -> String {
    format!(
        "{{dns: {{name: '{name}:{port}', name_server: '{server}', min_refresh: 50ms, max_refresh: {max}}}}}"
    )
}

/// Waits until the cluster has received `n` endpoint sets from its source.
async fn wait_for_updates(gateway: &TestGateway, n: u64) {
    eventually_async("the source's set is applied", || async {
        discovery_status(gateway).await["updates_total"] == n
    })
    .await;
}

/// Waits until the cluster has counted one more failed refresh than it has now.
async fn wait_for_another_error(gateway: &TestGateway) {
    let errors = || async {
        discovery_status(gateway).await["errors_total"]
            .as_u64()
            .unwrap()
    };
    let before = errors().await;
    eventually_async("the failure is recorded", || async {
        errors().await > before
    })
    .await;
}

/// The cluster's `discovery` status from the admin API.
async fn discovery_status(gateway: &TestGateway) -> serde_json::Value {
    gateway.cluster_status("upstream").await["discovery"].clone()
}

/// Calls go where the A records point, and follow them when they change.
#[tokio::test]
async fn dns_endpoints_follow_the_records() {
    let (a, b) = upstreams_on_one_port().await;
    let dns = TestNameServer::start().await;
    dns.set_addresses("users.test", &[ip(2)], 1);
    let source = dns_source("users.test", a.addr().port(), dns.addr(), "200ms");
    let gateway = gateway_discovering(&source, "").await;
    let mut client = gateway.echo_client().await;
    eventually_async("the first answer is applied", || async {
        gateway.cluster_status("upstream").await["endpoints"][0]["address"] == a.addr().to_string()
    })
    .await;
    assert_eq!(served_by(&mut client).await, "a");

    dns.set_addresses("users.test", &[ip(3)], 1);
    eventually_async("calls follow the new record", || async {
        served_by(&mut client.clone()).await == "b"
    })
    .await;
    let cluster = gateway.cluster_status("upstream").await;
    assert_eq!(cluster["endpoints"][0]["source"], "dns", "{cluster:#}");
    let discovery = &cluster["discovery"];
    assert_eq!(discovery["kind"], "dns");
    assert!(
        discovery["updates_total"].as_u64().unwrap() >= 2,
        "{discovery:#}"
    );
    assert!(
        discovery["source"].as_str().unwrap().contains("users.test"),
        "{discovery:#}"
    );
    drop(b);
}

/// SERVFAIL and NXDOMAIN never empty a cluster: the last set keeps serving, and the
/// failure shows on the admin API and in the metrics.
#[tokio::test]
async fn failed_dns_answers_keep_the_last_endpoints() {
    let (a, _b) = upstreams_on_one_port().await;
    let dns = TestNameServer::start().await;
    dns.set_addresses("users.test", &[ip(2)], 0);
    let source = dns_source("users.test", a.addr().port(), dns.addr(), "100ms");
    let gateway = gateway_discovering(&source, "").await;
    let mut client = gateway.echo_client().await;
    wait_for_updates(&gateway, 1).await;

    for code in [ResponseCode::ServFail, ResponseCode::NXDomain] {
        dns.fail("users.test", code);
        wait_for_another_error(&gateway).await;
        assert_eq!(served_by(&mut client).await, "a");
    }
    let status = discovery_status(&gateway).await;
    assert!(status["last_error"].as_str().is_some(), "{status:#}");
    let (_, metrics) = gateway.admin_get("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("yardmaster_discovery_errors_total{cluster=\"upstream\"}")),
        "{metrics}"
    );

    // An empty answer is a failure too.
    dns.set_addresses("users.test", &[], 0);
    wait_for_another_error(&gateway).await;
    assert_eq!(served_by(&mut client).await, "a");
}

/// The TTL sets when a name is asked again: a 1 s TTL is refreshed although
/// `max_refresh` is long, and a long TTL is cut to `max_refresh`.
#[tokio::test]
async fn dns_refreshes_follow_the_ttl_within_the_bounds() {
    let a = TestUpstream::echo("a").await;
    let dns = TestNameServer::start().await;
    dns.set_addresses("short.test", &[ip(1)], 1);
    dns.set_addresses("long.test", &[ip(1)], 3600);
    let port = a.addr().port();
    let server = dns.addr();
    let short = format!("{{dns: {{name: 'short.test:{port}', name_server: '{server}', min_refresh: 10ms, max_refresh: 1h}}}}");
    let long = format!("{{dns: {{name: 'long.test:{port}', name_server: '{server}', min_refresh: 10ms, max_refresh: 100ms}}}}");
    let _short = gateway_discovering(&short, "").await;
    let _long = gateway_discovering(&long, "").await;
    yardmaster_test_support::eventually("both names are asked again and again", || {
        dns.queries("short.test") >= 3 && dns.queries("long.test") >= 3
    })
    .await;
}

/// SRV records give ports and weights, and the weights reach `weighted` balancing.
#[tokio::test]
async fn srv_weights_reach_weighted_balancing() {
    let (a, b) = (TestUpstream::echo("a").await, TestUpstream::echo("b").await);
    let dns = TestNameServer::start().await;
    dns.set_addresses("a.test", &[ip(1)], 60);
    dns.set_addresses("b.test", &[ip(1)], 60);
    let record = |port: u16, weight: u16, target: &str| SrvRecord {
        priority: 10,
        weight,
        port,
        target: target.to_owned(),
    };
    dns.set_srv(
        "_grpc._tcp.users.test",
        &[
            record(a.addr().port(), 3, "a.test"),
            record(b.addr().port(), 1, "b.test"),
            // A fallback of lower preference is not used while the others answer.
            SrvRecord {
                priority: 20,
                ..record(1, 1, "a.test")
            },
        ],
        60,
    );
    let source = format!(
        "{{dns: {{srv: _grpc._tcp.users.test, name_server: '{}'}}}}",
        dns.addr()
    );
    let gateway = gateway_discovering(&source, "    balancing: { policy: weighted }").await;
    eventually_async("the SRV answer is applied", || async {
        gateway.cluster_status("upstream").await["endpoints"]
            .as_array()
            .is_some_and(|e| e.len() == 2)
    })
    .await;
    let cluster = gateway.cluster_status("upstream").await;
    let weight_of = |addr: SocketAddr| {
        cluster["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["address"] == addr.to_string())
            .map(|e| e["weight"].clone())
    };
    assert_eq!(weight_of(a.addr()), Some(3.into()), "{cluster:#}");
    assert_eq!(weight_of(b.addr()), Some(1.into()), "{cluster:#}");
    let counts = spread(&gateway.echo_client().await, 40, 1).await;
    assert_eq!((counts["a"], counts["b"]), (30, 10), "{counts:?}");
}

/// A host name in `endpoints` is resolved (here through the system's resolver, which
/// reads /etc/hosts) instead of being refused.
#[tokio::test]
async fn host_names_in_endpoints_are_resolved() {
    let a = TestUpstream::echo("a").await;
    let yaml = crate::balancing::gateway_yaml(&[format!("localhost:{}", a.addr().port())], "");
    let gateway = TestGateway::start(&yaml).await;
    eventually_async("localhost is resolved", || async {
        gateway.cluster_status("upstream").await["endpoints"][0]["address"] == a.addr().to_string()
    })
    .await;
    assert_eq!(served_by(&mut gateway.echo_client().await).await, "a");
}

/// An edit of the endpoint file is applied; a broken edit keeps the last good set and
/// shows the error, with file, line and field, on the admin API.
#[tokio::test]
async fn file_edits_are_applied_and_broken_ones_are_reported() {
    let (a, b) = (TestUpstream::echo("a").await, TestUpstream::echo("b").await);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.yaml");
    std::fs::write(&file, format!("endpoints: [{}]\n", a.addr())).unwrap();
    let source = format!(
        "{{file: {{path: '{}', poll_interval: 50ms}}}}",
        file.display()
    );
    let gateway = gateway_discovering(&source, "").await;
    let mut client = gateway.echo_client().await;
    wait_for_updates(&gateway, 1).await;
    assert_eq!(served_by(&mut client).await, "a");

    std::fs::write(&file, format!("endpoints:\n  - {}\n", b.addr())).unwrap();
    eventually_async("the edit is applied", || async {
        served_by(&mut client.clone()).await == "b"
    })
    .await;

    std::fs::write(&file, "endpoints:\n  - 127.0.0.1:0\n").unwrap();
    eventually_async("the broken edit is reported", || async {
        discovery_status(&gateway).await["last_error"].is_string()
    })
    .await;
    let error = discovery_status(&gateway).await["last_error"].clone();
    let expected = format!(
        "{}:2:5: endpoints[0]: 127.0.0.1:0 has port 0; write the port the endpoint listens on",
        file.display()
    );
    assert_eq!(error, expected.as_str());
    assert_eq!(served_by(&mut client).await, "b");
}

/// Eight callers for ten seconds while the file replaces every endpoint, one by one, and
/// each replaced upstream shuts down once the gateway has let it go: no call fails.
#[tokio::test]
async fn replacing_every_endpoint_under_load_fails_no_call() {
    let mut live = Vec::new();
    for name in ["a0", "a1", "a2"] {
        live.push(TestUpstream::echo(name).await);
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.yaml");
    let write = |upstreams: &[TestUpstream]| {
        let list: Vec<String> = upstreams.iter().map(|u| u.addr().to_string()).collect();
        std::fs::write(&file, format!("endpoints: [{}]\n", list.join(", "))).unwrap();
    };
    write(&live);
    let source = format!(
        "{{file: {{path: '{}', poll_interval: 50ms}}}}",
        file.display()
    );
    let gateway = gateway_discovering(&source, "").await;
    let client = gateway.echo_client().await;
    wait_for_updates(&gateway, 1).await;

    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0_u64, Vec::new());
                while tokio::time::Instant::now() < until {
                    match crate::balancing::unary(&mut client, Default::default()).await {
                        Ok(_) => ok += 1,
                        Err(status) => failed.push(status.to_string()),
                    }
                }
                (ok, failed)
            })
        })
        .collect();

    for round in 0..6 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let fresh = TestUpstream::echo(&format!("b{round}")).await;
        let old = live.remove(0);
        live.push(fresh);
        write(&live);
        let gone = old.addr().to_string();
        eventually_async("the replaced endpoint leaves", || async {
            let cluster = gateway.cluster_status("upstream").await;
            !cluster["endpoints"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["address"] == gone.as_str())
        })
        .await;
        old.stop().await;
    }

    let (mut ok, mut failed) = (0, Vec::new());
    for caller in callers {
        let (o, f) = caller.await.unwrap();
        ok += o;
        failed.extend(f);
    }
    assert!(
        failed.is_empty(),
        "{} of {} calls failed: {:?}",
        failed.len(),
        ok + failed.len() as u64,
        &failed[..failed.len().min(5)]
    );
    assert!(ok > 100, "only {ok} calls made");
    let names: Vec<_> = spread(&client, 30, 3).await.into_keys().collect();
    assert!(names.iter().all(|n| n.starts_with('b')), "{names:?}");
}

/// What an operator sets through the admin API holds across discovery updates: a disabled
/// endpoint stays disabled, a drained one stays out, until enabled.
#[tokio::test]
async fn operator_changes_hold_when_the_source_lists_the_endpoint_again() {
    let (a, b, c) = (
        TestUpstream::echo("a").await,
        TestUpstream::echo("b").await,
        TestUpstream::echo("c").await,
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.yaml");
    let write = |upstreams: &[&TestUpstream]| {
        let list: Vec<String> = upstreams.iter().map(|u| u.addr().to_string()).collect();
        std::fs::write(&file, format!("endpoints: [{}]\n", list.join(", "))).unwrap();
    };
    write(&[&a, &b]);
    let source = format!(
        "{{file: {{path: '{}', poll_interval: 50ms}}}}",
        file.display()
    );
    let gateway = gateway_discovering(&source, "").await;
    wait_for_updates(&gateway, 1).await;
    let post = |what: String| {
        let gateway = &gateway;
        async move {
            let (status, body) = gateway.admin_post(&what).await;
            assert_eq!(status, 200, "{what}: {body}");
        }
    };
    post(format!("/clusters/upstream/endpoints/{}/disable", a.addr())).await;
    post(format!("/clusters/upstream/endpoints/{}/drain", b.addr())).await;
    let gone = b.addr().to_string();
    eventually_async("the idle drained endpoint is removed", || async {
        let cluster = gateway.cluster_status("upstream").await;
        !cluster["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["address"] == gone.as_str())
    })
    .await;

    write(&[&a, &b, &c]);
    wait_for_updates(&gateway, 2).await;
    let cluster = gateway.cluster_status("upstream").await;
    let endpoints = cluster["endpoints"].as_array().unwrap();
    let state_of = |addr: SocketAddr| {
        endpoints
            .iter()
            .find(|e| e["address"] == addr.to_string())
            .map(|e| e["state"].clone())
    };
    assert_eq!(state_of(a.addr()), Some("disabled".into()), "{cluster:#}");
    assert_eq!(state_of(b.addr()), None, "drained b stays out: {cluster:#}");
    assert_eq!(state_of(c.addr()), Some("active".into()), "{cluster:#}");
    let counts = spread(&gateway.echo_client().await, 6, 1).await;
    assert_eq!(counts.get("c"), Some(&6), "{counts:?}");

    post(format!("/clusters/upstream/endpoints/{}/enable", b.addr())).await;
    let counts = spread(&gateway.echo_client().await, 6, 1).await;
    assert_eq!(
        (counts.get("b"), counts.get("c")),
        (Some(&3), Some(&3)),
        "{counts:?}"
    );
}

/// A Service's EndpointSlices through a kubeconfig: a terminating endpoint gets no call,
/// one that becomes ready gets calls, one that starts terminating leaves.
#[tokio::test]
async fn kubernetes_endpoints_follow_readiness() {
    let (a, b) = (TestUpstream::echo("a").await, TestUpstream::echo("b").await);
    let slices = vec![
        endpoint_slice("users-a", a.addr(), true, "8"),
        endpoint_slice("users-b", b.addr(), false, "9"),
    ];
    let api = TestKubernetesApi::start(slices, "10").await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = api.kubeconfig(dir.path());
    let source = format!(
        "{{kubernetes: {{service: users, namespace: shop, port: grpc, kubeconfig: '{}'}}}}",
        kubeconfig.display()
    );
    let gateway = gateway_discovering(&source, "").await;
    wait_for_updates(&gateway, 1).await;
    let client = gateway.echo_client().await;
    assert_eq!(spread(&client, 4, 1).await.get("a"), Some(&4));

    api.send("MODIFIED", endpoint_slice("users-b", b.addr(), true, "11"));
    eventually_async("b takes calls once ready", || async {
        served_by(&mut client.clone()).await == "b"
    })
    .await;

    api.send("MODIFIED", endpoint_slice("users-a", a.addr(), false, "12"));
    let gone = a.addr().to_string();
    eventually_async("terminating a leaves", || async {
        let cluster = gateway.cluster_status("upstream").await;
        !cluster["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["address"] == gone.as_str())
    })
    .await;
    assert_eq!(spread(&client, 4, 1).await.get("b"), Some(&4));
    let cluster = gateway.cluster_status("upstream").await;
    assert_eq!(
        cluster["endpoints"][0]["source"], "kubernetes",
        "{cluster:#}"
    );
}

/// A watch the API server expires (410 Gone) is resumed by listing again: the endpoint set
/// is not lost meanwhile, and changes after the resume are followed.
#[tokio::test]
async fn an_expired_kubernetes_watch_resumes_without_losing_endpoints() {
    let (a, b, c) = (
        TestUpstream::echo("a").await,
        TestUpstream::echo("b").await,
        TestUpstream::echo("c").await,
    );
    let api =
        TestKubernetesApi::start(vec![endpoint_slice("users-a", a.addr(), true, "8")], "10").await;
    let dir = tempfile::tempdir().unwrap();
    let source = format!(
        "{{kubernetes: {{service: users, namespace: shop, kubeconfig: '{}'}}}}",
        api.kubeconfig(dir.path()).display()
    );
    let gateway = gateway_discovering(&source, "").await;
    let endpoint_count = || async {
        gateway.cluster_status("upstream").await["endpoints"]
            .as_array()
            .map_or(0, Vec::len)
    };
    yardmaster_test_support::eventually("the watch is open", || api.watches_opened() == 1).await;
    api.send("ADDED", endpoint_slice("users-b", b.addr(), true, "11"));
    eventually_async("b joins", || async { endpoint_count().await == 2 }).await;

    api.expire_watches();
    yardmaster_test_support::eventually("a new watch is open", || api.watches_opened() == 2).await;
    assert_eq!(endpoint_count().await, 2, "the set survived the expiry");
    let status = discovery_status(&gateway).await;
    assert_eq!(status["errors_total"], 0, "{status:#}");

    api.send("ADDED", endpoint_slice("users-c", c.addr(), true, "12"));
    eventually_async("c joins after the resume", || async {
        endpoint_count().await == 3
    })
    .await;
    let counts = spread(&gateway.echo_client().await, 9, 1).await;
    assert_eq!(counts.len(), 3, "{counts:?}");
}
