//! The TCP bridge inside the gateway: configured from YAML, operated through the admin
//! API, and shut down with the gateway.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use yardmaster_demo::{EchoUpstream, EchoUpstreamStats};
use yardmaster_test_support::{eventually, http1_send, TestGateway, HANG_LIMIT};

/// An `EchoUpstream` served by tonic on `127.0.0.1:<ephemeral>`.
pub(crate) async fn echo_upstream() -> (SocketAddr, std::sync::Arc<EchoUpstreamStats>) {
    let echo = EchoUpstream::new();
    let stats = echo.stats().clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Detached: the upstream lives as long as the test's runtime.
    tokio::spawn(yardmaster_demo::serve_grpc(
        listener,
        echo.into_server(),
        std::future::pending(),
    ));
    (addr, stats)
}

fn gateway_yaml(upstream: SocketAddr) -> String {
    gateway_yaml_with(&format!("endpoints: [{upstream}]"))
}

/// A gateway with the `lines` bridge `devices` in front of the cluster `device-upstreams`,
/// whose endpoints `source` gives (`endpoints: [...]` or `discovery: ...`).
pub(crate) fn gateway_yaml_with(source: &str) -> String {
    format!(
        r#"
admin:
  listen: 127.0.0.1:0
listeners: []
bridges:
  - name: devices
    listen: 127.0.0.1:0
    cluster: device-upstreams
    framing: lines
clusters:
  - name: device-upstreams
    {source}
"#
    )
}

/// A `lines` client.
pub(crate) struct Client {
    lines: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    write: OwnedWriteHalf,
}

impl Client {
    pub(crate) async fn connect(addr: SocketAddr) -> Client {
        let (read, write) = TcpStream::connect(addr).await.unwrap().into_split();
        Client {
            lines: BufReader::new(read).lines(),
            write,
        }
    }

    pub(crate) async fn recv(&mut self) -> Option<String> {
        tokio::time::timeout(HANG_LIMIT, self.lines.next_line())
            .await
            .expect("a line or the end in time")
            .unwrap_or(None)
    }

    pub(crate) async fn send(&mut self, line: &str) {
        self.write
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }

    pub(crate) async fn echo(&mut self, line: &str) {
        self.send(line).await;
        assert_eq!(self.recv().await.as_deref(), Some(line));
    }
}

async fn admin(
    gateway: &TestGateway,
    method: &str,
    path: &str,
    body: &str,
) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let reply = tokio::time::timeout(HANG_LIMIT, http1_send(gateway.admin_addr(), req))
        .await
        .expect("admin answered in time");
    (reply.status, reply.text().to_owned())
}

pub(crate) async fn admin_json(
    gateway: &TestGateway,
    method: &str,
    path: &str,
    body: &str,
) -> Value {
    let (status, text) = admin(gateway, method, path, body).await;
    assert_eq!(status, StatusCode::OK, "{method} {path}: {text}");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn bridge_clients_are_listed_sent_to_broadcast_to_and_closed_through_the_admin_api() {
    let (upstream, _) = echo_upstream().await;
    let gateway = TestGateway::start(&gateway_yaml(upstream)).await;
    let addr = gateway.bridge_addr("devices");
    let mut first = Client::connect(addr).await;
    first.echo("hello").await;
    let mut second = Client::connect(addr).await;
    second.echo("hi").await;

    let bridges = admin_json(&gateway, "GET", "/bridges", "").await;
    assert_eq!(bridges[0]["name"], "devices");
    assert_eq!(bridges[0]["clients"], 2);
    assert_eq!(bridges[0]["upstreams"][0]["address"], upstream.to_string());

    let clients = admin_json(&gateway, "GET", "/bridges/devices/clients", "").await;
    let clients = clients.as_array().unwrap();
    assert_eq!(clients.len(), 2);
    let first_client = clients.iter().find(|c| c["bytes_in"] == 5).unwrap();
    let id = first_client["id"].as_str().unwrap();
    assert_eq!(first_client["upstream"], upstream.to_string());
    assert_eq!(first_client["active"], true);

    let sent = admin_json(
        &gateway,
        "POST",
        &format!("/bridges/devices/clients/{id}/send"),
        "from admin",
    )
    .await;
    assert_eq!(sent["clients"], 1);
    assert_eq!(first.recv().await.as_deref(), Some("from admin"));

    let broadcast = admin_json(
        &gateway,
        "POST",
        "/bridges/devices/broadcast?scope=active",
        "to all",
    )
    .await;
    assert_eq!(broadcast["clients"], 2);
    assert_eq!(first.recv().await.as_deref(), Some("to all"));
    assert_eq!(second.recv().await.as_deref(), Some("to all"));

    admin_json(
        &gateway,
        "POST",
        &format!("/bridges/devices/clients/{id}/close"),
        "",
    )
    .await;
    assert_eq!(first.recv().await, None);
    second.echo("unaffected").await;

    let (status, text) = admin(
        &gateway,
        "POST",
        &format!("/bridges/devices/clients/{id}/send"),
        "x",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    let (status, _) = admin(
        &gateway,
        "POST",
        "/bridges/devices/broadcast?scope=sometimes",
        "x",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = admin(&gateway, "GET", "/bridges/nope/clients", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, metrics) = gateway.admin_get("/metrics").await;
    assert!(
        metrics.contains(
            "yardmaster_bridge_clients_closed_total{bridge=\"devices\",reason=\"admin_close\"} 1"
        ),
        "{metrics}"
    );
    gateway.shutdown().await;
}

/// The bridge's admin paths for upstreams change its cluster's endpoints, which
/// `/clusters/{name}` shows.
#[tokio::test]
async fn bridge_upstreams_are_added_drained_and_removed_through_the_admin_api() {
    let (a, _) = echo_upstream().await;
    let (b, b_stats) = echo_upstream().await;
    let gateway = TestGateway::start(&gateway_yaml(a)).await;
    let addr = gateway.bridge_addr("devices");
    let mut on_a = Client::connect(addr).await;
    on_a.echo("on a").await;

    let upstreams = admin_json(
        &gateway,
        "POST",
        &format!("/bridges/devices/upstreams?address={b}"),
        "",
    )
    .await;
    assert_eq!(upstreams.as_array().unwrap().len(), 2);
    let (status, _) = admin(
        &gateway,
        "POST",
        &format!("/bridges/devices/upstreams?address={b}"),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = admin(
        &gateway,
        "POST",
        "/bridges/devices/upstreams?address=127.0.0.1:0",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    admin_json(
        &gateway,
        "POST",
        &format!("/bridges/devices/upstreams/{a}/drain"),
        "",
    )
    .await;
    // Polled: readiness is only visible through the admin API.
    let ready_b = async {
        loop {
            let upstreams = admin_json(&gateway, "GET", "/bridges/devices/upstreams", "").await;
            if upstreams[1]["ready"] == true {
                return upstreams;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    let upstreams = tokio::time::timeout(HANG_LIMIT, ready_b).await.unwrap();
    assert_eq!(upstreams[0]["draining"], true);
    let cluster = gateway.cluster_status("device-upstreams").await;
    assert_eq!(cluster["endpoints"][0]["address"], a.to_string());
    assert_eq!(cluster["endpoints"][0]["state"], "draining");
    assert_eq!(cluster["endpoints"][0]["in_flight"], 1, "a's bridge client");
    assert_eq!(cluster["endpoints"][1]["address"], b.to_string());
    assert_eq!(cluster["endpoints"][1]["source"], "admin");

    let mut on_b = Client::connect(addr).await;
    on_b.echo("on b").await;
    assert_eq!(b_stats.opened.load(Ordering::Relaxed), 1);

    // Removing a moves its client to b, which is told the client resumed there.
    admin_json(
        &gateway,
        "POST",
        &format!("/bridges/devices/upstreams/{a}/remove"),
        "",
    )
    .await;
    eventually("the client moved to b", || {
        b_stats.resumed.load(Ordering::Relaxed) == 1
    })
    .await;
    on_a.echo("now on b").await;
    let upstreams = admin_json(&gateway, "GET", "/bridges/devices/upstreams", "").await;
    assert_eq!(upstreams.as_array().unwrap().len(), 1);
    assert_eq!(upstreams[0]["address"], b.to_string());
    assert_eq!(upstreams[0]["clients"], 2);
    let cluster = gateway.cluster_status("device-upstreams").await;
    assert_eq!(cluster["endpoints"].as_array().unwrap().len(), 1);
    gateway.shutdown().await;
}

#[tokio::test]
async fn gateway_shutdown_closes_bridge_clients_and_tells_their_upstream() {
    let (upstream, stats) = echo_upstream().await;
    let gateway = TestGateway::start(&gateway_yaml(upstream)).await;
    let mut client = Client::connect(gateway.bridge_addr("devices")).await;
    client.echo("hello").await;
    gateway.shutdown().await;
    assert_eq!(client.recv().await, None);
    assert_eq!(stats.closed.load(Ordering::Relaxed), 1);
}

const PYTHON_UPSTREAM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/bridge_upstream.py"
);
/// Starting python and generating stubs on a busy 2-core machine can take a while.
const PYTHON_START_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The bridge protocol as documented, implemented by someone else's gRPC stack: the
/// Python grpcio upstream in `examples/` echoes and broadcasts through the gateway. Needs
/// `YARDMASTER_PYTHON` (a python with grpcio and grpcio-tools); skips loudly without it.
#[tokio::test]
async fn python_grpcio_upstream_serves_bridge_clients() {
    let Some(python) = std::env::var("YARDMASTER_PYTHON").ok() else {
        assert!(
            std::env::var("YARDMASTER_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "YARDMASTER_REQUIRE_PYTHON=1 but YARDMASTER_PYTHON is not set"
        );
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"SKIPPED: python bridge upstream (set YARDMASTER_PYTHON to a python with grpcio and grpcio-tools)\n",
        );
        return;
    };
    let mut upstream = tokio::process::Command::new(python)
        .args([PYTHON_UPSTREAM, "--listen", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting examples/bridge_upstream.py");
    let stdout = upstream.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(PYTHON_START_LIMIT, lines.next_line())
        .await
        .expect("the python upstream starts in time")
        .unwrap()
        .expect("a `listening on` line");
    let addr: SocketAddr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .parse()
        .unwrap();

    let gateway = TestGateway::start(&gateway_yaml(addr)).await;
    let bridge = gateway.bridge_addr("devices");
    let mut one = Client::connect(bridge).await;
    let mut two = Client::connect(bridge).await;
    one.echo("hello from one").await;
    two.echo("ünïcode from two").await;
    one.send("/all to everyone").await;
    assert_eq!(one.recv().await.as_deref(), Some("to everyone"));
    assert_eq!(two.recv().await.as_deref(), Some("to everyone"));
    gateway.shutdown().await;
    // The upstream logged both clients' closed events before the gateway finished.
    let mut closed = 0;
    while closed < 2 {
        let line = tokio::time::timeout(HANG_LIMIT, lines.next_line())
            .await
            .expect("upstream output in time")
            .unwrap()
            .expect("the upstream keeps running");
        if line.starts_with("closed ") {
            assert!(line.ends_with(": gateway shutting down"), "{line}");
            closed += 1;
        }
    }
    upstream.kill().await.unwrap();
}
