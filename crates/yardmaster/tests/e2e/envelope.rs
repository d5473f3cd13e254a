//! The forwarding envelope: any HTTP request, wrapped as `yardmaster.forward.v1.
//! HttpRequest`, reaches an `HttpForwarder` upstream (the demo's `HttpEcho`, which
//! describes what it got), and its `HttpResponse` is the HTTP response.

use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};
use yardmaster_test_support::{h2_send, http1_send, HttpUpstream, RefusingPort, TestGateway};

async fn gateway(upstream: std::net::SocketAddr, options: &str) -> TestGateway {
    TestGateway::start(&format!(
        r#"
listeners:
  - name: web
    listen: 127.0.0.1:0
    routes:
      - name: wrapped
        envelope: {{ cluster: forwarder, timeout: 5s{options} }}
clusters:
  - name: forwarder
    protocol: grpc
    endpoints: [{upstream}]
"#
    ))
    .await
}

fn request(method: Method, uri: &str, body: &'static [u8]) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("x-multi", "one")
        .header("x-multi", "two")
        .header(header::CONNECTION, "x-hop")
        .header("x-hop", "dropped")
        .body(Full::new(Bytes::from_static(body)))
        .unwrap()
}

#[tokio::test]
async fn any_http_request_is_wrapped_and_the_response_unwrapped() {
    let upstream = HttpUpstream::forwarder("fwd-1").await;
    let gateway = gateway(upstream.addr(), "").await;
    let addr = gateway.addr();
    for (reply, version) in [
        (
            http1_send(
                addr,
                request(Method::PUT, "/v1/items/a%20b?x=1&y=2", b"payload"),
            )
            .await,
            "1.1",
        ),
        (
            h2_send(
                addr,
                request(Method::PUT, "/v1/items/a%20b?x=1&y=2", b"payload"),
            )
            .await,
            "2",
        ),
    ] {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.headers["x-served-by"], "fwd-1");
        assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
        let seen: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(seen["method"], "PUT");
        assert_eq!(seen["path"], "/v1/items/a%20b");
        assert_eq!(seen["query"], "x=1&y=2");
        assert_eq!(seen["body"], "payload");
        assert_eq!(
            seen["headers"]["x-multi"],
            json!(["one", "two"]),
            "HTTP/{version}"
        );
        assert_eq!(
            seen["headers"]["host"],
            json!([addr.to_string()]),
            "HTTP/{version}"
        );
        assert!(
            seen["headers"].get("x-hop").is_none(),
            "hop-by-hop headers stay: {seen}"
        );
        assert!(seen["headers"]["x-forwarded-for"].is_array(), "{seen}");
        let remote = seen["remote_address"].as_str().unwrap();
        assert!(remote.starts_with("127.0.0.1:"), "{remote}");
    }
    // The forwarder's status is the response's.
    let reply = http1_send(addr, request(Method::GET, "/status/418", b"")).await;
    assert_eq!(reply.status, StatusCode::IM_A_TEAPOT);
}

#[tokio::test]
async fn failures_are_http_errors_and_the_gateway_keeps_serving() {
    let upstream = HttpUpstream::forwarder("fwd-2").await;
    let gateway = gateway(upstream.addr(), ", max_body_bytes: 16").await;
    let addr = gateway.addr();
    // A gRPC error from the forwarder: its mapped HTTP status and message.
    let reply = http1_send(addr, request(Method::GET, "/fail", b"")).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        reply.text().contains("the forwarder failed on purpose"),
        "{}",
        reply.text()
    );
    // A body over the limit.
    let reply = http1_send(addr, request(Method::POST, "/big", &[b'x'; 64])).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.text()
    );
    // No forwarder at all.
    let dead = RefusingPort::bind();
    let unreachable = gateway_for(dead.addr()).await;
    let reply = http1_send(unreachable.addr(), request(Method::GET, "/", b"")).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text()
    );

    let reply = http1_send(addr, request(Method::GET, "/still", b"")).await;
    assert_eq!(reply.status, StatusCode::OK);
}

async fn gateway_for(upstream: std::net::SocketAddr) -> TestGateway {
    gateway(upstream, "").await
}

/// `examples/envelope.yaml` as written, on free ports: the requests its header shows work.
#[tokio::test]
async fn the_envelope_example_serves_its_requests() {
    let upstream = HttpUpstream::forwarder("example").await;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/envelope.yaml"
    ))
    .unwrap()
    .replace("127.0.0.1:8080", "127.0.0.1:0")
    .replace("127.0.0.1:50071", &upstream.addr().to_string());
    let gateway = TestGateway::start(&text).await;
    let reply = http1_send(
        gateway.addr(),
        request(Method::PUT, "/app/items/7?x=1", b"hello"),
    )
    .await;
    let seen: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(
        (seen["path"].as_str(), seen["body"].as_str()),
        (Some("/app/items/7"), Some("hello"))
    );
    let reply = http1_send(gateway.addr(), request(Method::GET, "/app/status/404", b"")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    // Outside /app/ no route matches.
    let reply = http1_send(gateway.addr(), request(Method::GET, "/other", b"")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.headers.get("x-served-by").is_none());
}
