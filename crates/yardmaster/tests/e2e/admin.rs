//! The admin API: health, readiness, the effective configuration, cluster state and the
//! metrics that gRPC calls leave behind.

use std::net::SocketAddr;
use std::time::Duration;

use http::StatusCode;
use serde_json::{json, Value};
use tokio::time::timeout;
use yardmaster_demo::pb::EchoRequest;
use yardmaster_test_support::{
    echo_client, grpc_frame, RawH2Client, RefusingPort, TestGateway, TestUpstream, HANG_LIMIT,
};

/// Listener `public`: calls with `x-target: dead` go to cluster `dead` (nothing listens),
/// other Echo calls to cluster `echo` by the unnamed route `public#1`; other services
/// match nothing.
fn config(echo: SocketAddr, dead: SocketAddr) -> String {
    format!(
        r#"
admin:
  listen: 127.0.0.1:0
drain_timeout: 5s
listeners:
  - name: public
    listen: 127.0.0.1:0
    routes:
      - name: dead
        match:
          service: yardmaster.demo.v1.Echo
          headers: [{{ name: x-target, exact: dead }}]
        forward: {{ cluster: dead }}
      - match: {{ service: yardmaster.demo.v1.Echo }}
        forward: {{ cluster: echo }}
clusters:
  - name: echo
    endpoints: [{echo}]
  - name: dead
    connect_timeout: 500ms
    endpoints: [{dead}]
"#
    )
}

fn request(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.to_owned(),
        ..EchoRequest::default()
    }
}

#[tokio::test]
async fn healthz_and_ready_answer_ok_while_serving() {
    let upstream = TestUpstream::echo("echo").await;
    let dead = RefusingPort::bind();
    let gateway = TestGateway::start(&config(upstream.addr(), dead.addr())).await;

    assert_eq!(
        gateway.admin_get("/healthz").await,
        (StatusCode::OK, "ok\n".to_owned())
    );
    assert_eq!(
        gateway.admin_get("/ready").await,
        (StatusCode::OK, "ready\n".to_owned())
    );
    gateway.shutdown().await;
}

#[tokio::test]
async fn unknown_admin_path_is_404_listing_the_known_ones() {
    let upstream = TestUpstream::echo("echo").await;
    let dead = RefusingPort::bind();
    let gateway = TestGateway::start(&config(upstream.addr(), dead.addr())).await;

    assert_eq!(
        gateway.admin_get("/nope").await,
        (
            StatusCode::NOT_FOUND,
            "not found; try /healthz /ready /config /clusters /descriptors /registry /metrics\n"
                .to_owned()
        )
    );
}

/// `/config` is the configuration after validation: defaults and route names filled in.
#[tokio::test]
async fn config_shows_the_effective_configuration() {
    let upstream = TestUpstream::echo("echo").await;
    let dead_port = RefusingPort::bind();
    let dead = dead_port.addr();
    let gateway = TestGateway::start(&config(upstream.addr(), dead)).await;

    let (status, body) = gateway.admin_get("/config").await;
    assert_eq!(status, StatusCode::OK);
    let config: Value = serde_json::from_str(&body).unwrap();

    assert_eq!(config["drain_timeout"], "5s");
    assert_eq!(config["admin"]["listen"], "127.0.0.1:0");
    assert_eq!(
        config["log"],
        json!({ "format": "text", "access_log": true })
    );
    let listener = &config["listeners"][0];
    assert_eq!(listener["name"], "public");
    assert_eq!(listener["max_connections"], 10_000);
    let names: Vec<&str> = listener["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|route| route["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dead", "public#1"]);
    assert_eq!(listener["routes"][1]["forward"]["cluster"], "echo");
    assert_eq!(
        config["clusters"][0]["endpoints"][0]["address"],
        upstream.addr().to_string()
    );
    assert_eq!(config["clusters"][0]["protocol"], "grpc");
    assert_eq!(config["clusters"][0]["connect_timeout"], "2s");
    assert_eq!(config["clusters"][1]["connect_timeout"], "500ms");
}

/// Polls `/metrics` until `line` is in it: counters are updated as response bodies end,
/// which may be just after the client has its answer. Use sparingly.
async fn metrics_with(gateway: &TestGateway, line: &str) -> String {
    let poll = async {
        loop {
            let (status, text) = gateway.admin_get("/metrics").await;
            assert_eq!(status, StatusCode::OK);
            if text.lines().any(|l| l == line) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    match timeout(HANG_LIMIT, poll).await {
        Ok(text) => text,
        Err(_) => {
            let (_, text) = gateway.admin_get("/metrics").await;
            panic!("metrics never showed {line:?}:\n{text}");
        }
    }
}

/// Three OK calls, one failed by the upstream, two to a cluster whose endpoint is down and
/// one that no route matches: each counted once with its route, cluster and status.
#[tokio::test]
async fn metrics_count_calls_by_route_cluster_and_status() {
    let upstream = TestUpstream::echo("echo").await;
    let dead_port = RefusingPort::bind();
    let dead = dead_port.addr();
    let gateway = TestGateway::start(&config(upstream.addr(), dead)).await;
    let mut client = echo_client(gateway.addr()).await;

    for i in 0..3 {
        client.unary(request(&i.to_string())).await.unwrap();
    }
    let failed = client
        .unary(EchoRequest {
            fail_code: tonic::Code::NotFound as i32,
            fail_message: "no such user".into(),
            ..request("fail")
        })
        .await
        .unwrap_err();
    assert_eq!(failed.code(), tonic::Code::NotFound);
    for _ in 0..2 {
        let mut call = tonic::Request::new(request("to the dead"));
        call.metadata_mut()
            .insert("x-target", "dead".parse().unwrap());
        let status = client.unary(call).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable);
    }
    let mut raw = RawH2Client::connect(gateway.addr()).await;
    let missing = raw
        .send(raw.grpc_request("/other.v1.Missing/Call", grpc_frame(b"")))
        .await;
    assert_eq!(missing.grpc_status(), Some("12"));

    let route = r#"listener="public",route="public#1",cluster="echo""#;
    let expected = [
        format!("yardmaster_requests_total{{{route},code=\"OK\"}} 3"),
        format!("yardmaster_requests_total{{{route},code=\"NOT_FOUND\"}} 1"),
        r#"yardmaster_requests_total{listener="public",route="dead",cluster="dead",code="UNAVAILABLE"} 2"#.to_owned(),
        r#"yardmaster_requests_total{listener="public",route="no_route",cluster="",code="UNIMPLEMENTED"} 1"#.to_owned(),
        r#"yardmaster_request_duration_seconds_count{listener="public",route="public#1"} 4"#.to_owned(),
        r#"yardmaster_request_duration_seconds_count{listener="public",route="dead"} 2"#.to_owned(),
        format!(
            "yardmaster_upstream_requests_total{{cluster=\"echo\",endpoint=\"{}\"}} 4",
            upstream.addr()
        ),
        format!("yardmaster_upstream_connect_errors_total{{cluster=\"dead\",endpoint=\"{dead}\"}} 2"),
        format!(
            "yardmaster_upstream_connect_errors_total{{cluster=\"echo\",endpoint=\"{}\"}} 0",
            upstream.addr()
        ),
    ];
    // The last counter of the batch to be updated: the no-route call's.
    let text = metrics_with(&gateway, &expected[3]).await;
    for line in &expected {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    let buckets = text
        .lines()
        .filter(|l| {
            l.starts_with("yardmaster_request_duration_seconds_bucket{")
                && l.contains(r#"route="public#1""#)
        })
        .count();
    assert_eq!(buckets, 22, "21 buckets and +Inf:\n{text}");
    assert!(
        text.contains("# TYPE yardmaster_request_duration_seconds histogram"),
        "{text}"
    );
}

#[tokio::test]
async fn clusters_show_endpoint_state_and_counters() {
    let upstream = TestUpstream::echo("echo").await;
    let dead_port = RefusingPort::bind();
    let dead = dead_port.addr();
    let gateway = TestGateway::start(&config(upstream.addr(), dead)).await;
    let mut client = echo_client(gateway.addr()).await;
    client.unary(request("hello")).await.unwrap();
    let mut call = tonic::Request::new(request("to the dead"));
    call.metadata_mut()
        .insert("x-target", "dead".parse().unwrap());
    client.unary(call).await.unwrap_err();

    let (status, body) = gateway.admin_get("/clusters").await;

    assert_eq!(status, StatusCode::OK);
    let clusters: Value = serde_json::from_str(&body).unwrap();
    // The fields this test is about; the API shows more (health, balancing, ejection).
    let shown: Vec<Value> = clusters
        .as_array()
        .unwrap()
        .iter()
        .map(|cluster| {
            let endpoints: Vec<Value> = cluster["endpoints"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    json!({
                        "address": e["address"],
                        "connections": e["connections"],
                        "requests_total": e["requests_total"],
                        "connect_errors_total": e["connect_errors_total"],
                    })
                })
                .collect();
            json!({
                "name": cluster["name"],
                "protocol": cluster["protocol"],
                "endpoints": endpoints,
            })
        })
        .collect();
    assert_eq!(
        shown,
        [
            json!({
                "name": "echo",
                "protocol": "grpc",
                "endpoints": [{
                    "address": upstream.addr().to_string(),
                    "connections": 1,
                    "requests_total": 1,
                    "connect_errors_total": 0,
                }],
            }),
            json!({
                "name": "dead",
                "protocol": "grpc",
                "endpoints": [{
                    "address": dead.to_string(),
                    "connections": 0,
                    "requests_total": 1,
                    "connect_errors_total": 1,
                }],
            }),
        ]
    );
}
