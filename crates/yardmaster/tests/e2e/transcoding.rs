//! Transcoding: HTTP/JSON requests become gRPC calls to the echo upstream, by the
//! descriptors of its `.proto` file compiled at startup, at `POST /package.Service/Method`
//! or by `google.api.http` bindings (annotations and rules in the file); statuses come
//! back as `google.rpc.Status` JSON with the HTTP status of the standard mapping.

use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::Full;
use prost::Message as _;
use serde_json::{json, Value};
use yardmaster_demo::pb::EchoReply;
use yardmaster_test_support::{
    grpc_frame, h2_send, http1_send, HttpReply, RawBody, RawGrpcUpstream, RefusingPort,
    TestGateway, TestUpstream,
};

const ECHO_PROTO: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../proto/yardmaster/demo/v1/echo.proto"
);

/// Path `/yardmaster.demo.v1.Echo/*` is transcoded to cluster `echo`, with `options`
/// (YAML flow-mapping entries) added to the action.
async fn gateway(upstream: std::net::SocketAddr, options: &str) -> TestGateway {
    TestGateway::start(&format!(
        r#"
listeners:
  - name: rest
    listen: 127.0.0.1:0
    routes:
      - name: echo-json
        match: {{ path: {{ prefix: /yardmaster.demo.v1.Echo/ }} }}
        transcode: {{ cluster: echo, proto_files: ["{ECHO_PROTO}"], timeout: 5s{options} }}
clusters:
  - name: echo
    protocol: grpc
    endpoints: [{upstream}]
"#
    ))
    .await
}

fn post(path: &str, content_type: Option<&str>, body: &str) -> Request<Full<Bytes>> {
    let mut req = Request::builder().method(Method::POST).uri(path);
    if let Some(content_type) = content_type {
        req = req.header(header::CONTENT_TYPE, content_type);
    }
    req.body(Full::new(Bytes::from(body.to_owned()))).unwrap()
}

fn json_of(reply: &HttpReply) -> Value {
    assert_eq!(
        reply.headers.get(header::CONTENT_TYPE).unwrap(),
        "application/json",
        "{}",
        reply.text()
    );
    serde_json::from_slice(&reply.body).unwrap_or_else(|e| panic!("{e}: {}", reply.text()))
}

const UNARY: &str = "/yardmaster.demo.v1.Echo/Unary";

#[tokio::test]
async fn json_request_calls_the_method_and_the_reply_comes_back_as_json() {
    let upstream = TestUpstream::echo("json-1").await;
    let gateway = gateway(upstream.addr(), "").await;
    let body = r#"{"message": "hello", "payload": "AAEC"}"#;
    for reply in [
        http1_send(gateway.addr(), post(UNARY, Some("application/json"), body)).await,
        h2_send(
            gateway.addr(),
            post(UNARY, Some("application/json; charset=utf-8"), body),
        )
        .await,
    ] {
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(
            json_of(&reply),
            json!({"message": "hello", "payload": "AAEC", "servedBy": "json-1"})
        );
    }
    // No body at all is the empty request message.
    let reply = http1_send(gateway.addr(), post(UNARY, None, "")).await;
    assert_eq!(json_of(&reply), json!({"servedBy": "json-1"}));
}

#[tokio::test]
async fn json_options_shape_the_reply() {
    let upstream = TestUpstream::echo("json-2").await;
    let options = ", emit_defaults: true, proto_field_names: true";
    let gateway = gateway(upstream.addr(), options).await;
    let reply = http1_send(gateway.addr(), post(UNARY, None, r#"{"message": "x"}"#)).await;
    let body = json_of(&reply);
    assert_eq!(body["served_by"], "json-2");
    assert_eq!(body["payload"], "");
}

#[tokio::test]
async fn upstream_statuses_map_to_http_statuses_with_a_status_body() {
    let upstream = TestUpstream::echo("json-3").await;
    let gateway = gateway(upstream.addr(), "").await;
    for (code, http) in [
        (3, StatusCode::BAD_REQUEST),
        (5, StatusCode::NOT_FOUND),
        (7, StatusCode::FORBIDDEN),
        (8, StatusCode::TOO_MANY_REQUESTS),
        (14, StatusCode::SERVICE_UNAVAILABLE),
        (16, StatusCode::UNAUTHORIZED),
    ] {
        let body = format!(r#"{{"failCode": {code}, "failMessage": "no such thing: é"}}"#);
        let reply = http1_send(gateway.addr(), post(UNARY, None, &body)).await;
        assert_eq!(reply.status, http, "code {code}: {}", reply.text());
        assert_eq!(
            json_of(&reply),
            json!({"code": code, "message": "no such thing: é", "details": []})
        );
    }
}

#[tokio::test]
async fn bad_requests_get_clear_client_errors_and_the_gateway_keeps_serving() {
    let upstream = TestUpstream::echo("json-4").await;
    let gateway = gateway(upstream.addr(), ", max_message_bytes: 4096").await;
    let addr = gateway.addr();
    let deep = format!("{{\"message\": {}{}}}", "[".repeat(1000), "]".repeat(1000));
    let huge = format!("{{\"message\": \"{}\"}}", "a".repeat(8192));
    let cases: Vec<(Request<Full<Bytes>>, StatusCode, &str)> = vec![
        (
            post(UNARY, None, "{\"message\": "),
            StatusCode::BAD_REQUEST,
            "invalid JSON body",
        ),
        (
            post(UNARY, None, r#"{"count": "many"}"#),
            StatusCode::BAD_REQUEST,
            "invalid JSON body at count",
        ),
        (
            post(UNARY, None, r#"{"colour": "red"}"#),
            StatusCode::BAD_REQUEST,
            "colour",
        ),
        (
            post(UNARY, None, &deep),
            StatusCode::BAD_REQUEST,
            "invalid JSON body",
        ),
        (
            post(UNARY, None, &huge),
            StatusCode::PAYLOAD_TOO_LARGE,
            "limit of 4096 bytes",
        ),
        (
            post(UNARY, Some("text/plain"), "{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        (
            post("/yardmaster.demo.v1.Echo/Nope", None, "{}"),
            StatusCode::NOT_FOUND,
            "no binding of the route takes /yardmaster.demo.v1.Echo/Nope",
        ),
        (
            Request::get(UNARY).body(Full::new(Bytes::new())).unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "takes POST, not GET",
        ),
    ];
    for (req, status, says) in cases {
        let reply = http1_send(addr, req).await;
        assert_eq!(reply.status, status, "{}", reply.text());
        let message = json_of(&reply)["message"].as_str().unwrap().to_owned();
        assert!(message.contains(says), "{status}: {message}");
        if status == StatusCode::METHOD_NOT_ALLOWED {
            assert_eq!(reply.headers.get(header::ALLOW).unwrap(), "POST");
        }
    }
    let invalid_utf8 = Request::post(UNARY)
        .body(Full::new(Bytes::from_static(b"{\"message\": \"\xff\"}")))
        .unwrap();
    assert_eq!(
        http1_send(addr, invalid_utf8).await.status,
        StatusCode::BAD_REQUEST
    );
    let reply = http1_send(addr, post(UNARY, None, r#"{"message": "still here"}"#)).await;
    assert_eq!(json_of(&reply)["message"], "still here");
}

#[tokio::test]
async fn gateway_failures_are_status_bodies_too() {
    let dead = RefusingPort::bind();
    let unreachable = gateway(dead.addr(), "").await;
    let reply = http1_send(unreachable.addr(), post(UNARY, None, "{}")).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text()
    );
    assert_eq!(json_of(&reply)["code"], 14);

    let upstream = TestUpstream::echo("json-5").await;
    let slow = gateway(upstream.addr(), "").await;
    // The client's deadline, as `grpc-timeout`, ends a slow call.
    let mut req = post(UNARY, None, r#"{"delayMs": 2000}"#);
    req.headers_mut()
        .insert("grpc-timeout", http::HeaderValue::from_static("100m"));
    let reply = http1_send(slow.addr(), req).await;
    assert_eq!(
        reply.status,
        StatusCode::GATEWAY_TIMEOUT,
        "{}",
        reply.text()
    );
    assert_eq!(json_of(&reply)["code"], 4);
}

#[tokio::test]
async fn curl_gets_json_back() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("\n*** SKIPPED curl_gets_json_back: curl is not installed ***\n");
        return;
    }
    let upstream = TestUpstream::echo("json-6").await;
    let gateway = gateway(upstream.addr(), "").await;
    let url = format!("http://{}{UNARY}", gateway.addr());
    let output = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-H",
            "Content-Type: application/json",
        ])
        .args(["-d", r#"{"message": "from curl"}"#, &url])
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let body: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(body, json!({"message": "from curl", "servedBy": "json-6"}));
}

/// The echo service's `.proto` with `google.api.http` annotations on `Unary`: the same
/// wire messages, so the echo upstream serves it unchanged.
const ANNOTATED_ECHO_PROTO: &str = r#"
syntax = "proto3";
package yardmaster.demo.v1;
import "google/api/annotations.proto";
service Echo {
  rpc Unary(EchoRequest) returns (EchoReply) {
    option (google.api.http) = {
      get: "/v1/echo/{message}"
      additional_bindings { post: "/v1/echo" body: "*" }
      additional_bindings { put: "/v1/echo/{message}:shout" body: "payload" response_body: "message" }
    };
  }
  rpc ServerStream(EchoRequest) returns (stream EchoReply);
}
message EchoRequest {
  string message = 1;
  bytes payload = 2;
  uint32 count = 3;
  uint32 delay_ms = 4;
  int32 fail_code = 5;
  string fail_message = 6;
}
message EchoReply {
  string message = 1;
  bytes payload = 2;
  string served_by = 3;
}
"#;

/// Paths under `/v2/` are transcoded to cluster `echo` by a rule in the file over the
/// demo's unannotated proto; every other path by the annotations of `proto`.
async fn rest_gateway(upstream: std::net::SocketAddr, proto: &std::path::Path) -> TestGateway {
    TestGateway::start(&format!(
        r#"
listeners:
  - name: rest
    listen: 127.0.0.1:0
    routes:
      - name: echo-rules
        match: {{ path: {{ prefix: /v2/ }} }}
        transcode:
          cluster: echo
          proto_files: ["{ECHO_PROTO}"]
          http_rules:
            - selector: yardmaster.demo.v1.Echo.Unary
              get: "/v2/echo/{{message=**}}"
              response_body: served_by
      - name: echo-annotated
        match: {{ path: {{ prefix: / }} }}
        transcode: {{ cluster: echo, proto_files: ["{proto}"], post_grpc_paths: false }}
clusters:
  - name: echo
    protocol: grpc
    endpoints: [{upstream}]
"#,
        proto = proto.display()
    ))
    .await
}

fn request(method: Method, path: &str, body: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

#[tokio::test]
async fn annotations_and_file_rules_bind_verbs_paths_queries_and_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let proto = dir.path().join("echo_annotated.proto");
    std::fs::write(&proto, ANNOTATED_ECHO_PROTO).unwrap();
    let upstream = TestUpstream::echo("rest-1").await;
    let gateway = rest_gateway(upstream.addr(), &proto).await;
    let addr = gateway.addr();

    // GET with a path variable (percent-decoded) and query parameters.
    let reply = http1_send(
        addr,
        request(Method::GET, "/v1/echo/hello%20there?payload=AAEC", ""),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        json_of(&reply),
        json!({"message": "hello there", "payload": "AAEC", "servedBy": "rest-1"})
    );
    // A path variable is data: encoded slashes and dots stay in the field, never in the
    // gRPC path (the echo would not answer another method).
    let reply = http1_send(
        addr,
        request(Method::GET, "/v1/echo/..%2F..%2Fadmin%3Fx", ""),
    )
    .await;
    assert_eq!(json_of(&reply)["message"], "../../admin?x");
    let reply = http1_send(addr, request(Method::GET, "/v1/echo/../admin", "")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text());
    // An additional binding: POST with the whole message as the body.
    let reply = h2_send(
        addr,
        request(Method::POST, "/v1/echo", r#"{"message": "posted"}"#),
    )
    .await;
    assert_eq!(json_of(&reply)["message"], "posted");
    // A body into one field, a verb, and response_body: the reply is one JSON string.
    let reply = http1_send(
        addr,
        request(Method::PUT, "/v1/echo/loud:shout", r#""AAEC""#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(json_of(&reply), json!("loud"));
    // A rule in the file, `**` keeping slashes, response_body of a string field.
    let reply = http1_send(addr, request(Method::GET, "/v2/echo/a/b/c", "")).await;
    assert_eq!(json_of(&reply), json!("rest-1"));

    // Misses: 404 for an unknown path, 405 naming the verbs the path takes, 400 naming a
    // bad query parameter; `post_grpc_paths: false` hides the gRPC path.
    let cases = [
        (
            request(Method::GET, "/v1/nothing", ""),
            StatusCode::NOT_FOUND,
            "no binding",
        ),
        (
            request(Method::DELETE, "/v1/echo/x", ""),
            StatusCode::METHOD_NOT_ALLOWED,
            "takes GET, not DELETE",
        ),
        (
            request(Method::GET, "/v1/echo/x?count=lots", ""),
            StatusCode::BAD_REQUEST,
            "count",
        ),
        (
            request(Method::GET, "/v1/echo/x?nope=1", ""),
            StatusCode::BAD_REQUEST,
            "no field `nope`",
        ),
        (
            request(Method::GET, "/v1/echo/%ff", ""),
            StatusCode::BAD_REQUEST,
            "not UTF-8",
        ),
        (
            request(Method::GET, "/v1/echo/x", "{}"),
            StatusCode::BAD_REQUEST,
            "takes no body",
        ),
        (
            request(Method::POST, UNARY, "{}"),
            StatusCode::NOT_FOUND,
            "no binding",
        ),
    ];
    for (req, status, says) in cases {
        let reply = http1_send(addr, req).await;
        assert_eq!(reply.status, status, "{}", reply.text());
        let message = json_of(&reply)["message"].as_str().unwrap().to_owned();
        assert!(message.contains(says), "{status}: {message}");
        if status == StatusCode::METHOD_NOT_ALLOWED {
            assert_eq!(reply.headers.get(header::ALLOW).unwrap(), "GET");
        }
    }

    // curl, as a REST client would call it.
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("\n*** SKIPPED the curl part of annotations_and_file_rules_bind_verbs_paths_queries_and_bodies: curl is not installed ***\n");
        return;
    }
    let url = format!("http://{addr}/v1/echo/from%20curl?payload=AAEC");
    let output = tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", &url])
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let body: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        body,
        json!({"message": "from curl", "payload": "AAEC", "servedBy": "rest-1"})
    );
}

/// `examples/transcoding.yaml` as written, but on free ports and with absolute proto
/// paths: the requests its header comments show work.
#[tokio::test]
async fn the_transcoding_example_serves_its_requests() {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let text = std::fs::read_to_string(format!("{examples}/transcoding.yaml")).unwrap();
    let upstream = TestUpstream::echo("example").await;
    let text = text
        .replace("127.0.0.1:8080", "127.0.0.1:0")
        .replace("127.0.0.1:9901", "127.0.0.1:0")
        .replace("127.0.0.1:50051", &upstream.addr().to_string())
        .replace(
            "[echo_rest.proto]",
            &format!("[\"{examples}/echo_rest.proto\"]"),
        )
        .replace("[../proto/", &format!("[{examples}/../proto/"));
    let gateway = TestGateway::start(&text).await;
    let addr = gateway.addr();
    let get = |path: &str| request(Method::GET, path, "");
    let cases = [
        (
            get("/v1/echo/hi?payload=AAEC"),
            json!({"message": "hi", "payload": "AAEC", "servedBy": "example"}),
        ),
        (
            request(Method::POST, "/v1/echo", r#"{"message": "hi"}"#),
            json!({"message": "hi", "servedBy": "example"}),
        ),
        (
            request(Method::PUT, "/v1/echo/hi:payload", r#""AAEC""#),
            json!("hi"),
        ),
        (
            get("/v2/say/hello/world"),
            json!({"message": "hello/world", "servedBy": "example"}),
        ),
        (
            request(Method::POST, UNARY, r#"{"message": "hi"}"#),
            json!({"message": "hi", "servedBy": "example"}),
        ),
        (
            request(
                Method::POST,
                UNARY,
                r#"{"failCode": 5, "failMessage": "no such user"}"#,
            ),
            json!({"code": 5, "message": "no such user", "details": []}),
        ),
    ];
    for (req, want) in cases {
        let shown = format!("{} {}", req.method(), req.uri());
        let reply = http1_send(addr, req).await;
        assert_eq!(json_of(&reply), want, "{shown}");
    }
    // The annotated route describes itself.
    let reply = http1_send(addr, get("/v1/openapi.json")).await;
    let document = json_of(&reply);
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["title"], "Echo REST API");
    let paths = document["paths"].as_object().unwrap();
    let mut listed: Vec<&String> = paths.keys().collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            "/v1/echo",
            "/v1/echo/{message}",
            "/v1/echo/{message}:payload"
        ]
    );
    let get_echo = &paths["/v1/echo/{message}"]["get"];
    assert_eq!(get_echo["parameters"][0]["name"], "message");
    assert_eq!(get_echo["parameters"][0]["in"], "path");
    let schemas = document["components"]["schemas"].as_object().unwrap();
    assert!(
        schemas.contains_key("yardmaster.demo.v1.EchoReply"),
        "{document}"
    );
    assert_eq!(
        schemas["yardmaster.demo.v1.EchoRequest"]["properties"]["payload"]["contentEncoding"],
        "base64"
    );

    let stream = r#"{"message": "tick", "count": 3, "delayMs": 50}"#;
    let reply = http1_send(addr, request(Method::POST, SERVER_STREAM, stream)).await;
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/x-ndjson");
    assert_eq!(reply.text().lines().count(), 3, "{}", reply.text());
}

#[tokio::test]
async fn headers_cross_as_metadata_both_ways_and_set_the_deadline() {
    let upstream = TestUpstream::echo("meta").await;
    let options = r#", forward_headers: [x-echo-tenant, "x-trailer-*"], timeout_header: x-timeout"#;
    let gateway = gateway(upstream.addr(), options).await;
    let addr = gateway.addr();
    let with_headers = |body: &str, headers: &[(&'static str, &'static str)]| {
        let mut req = post(UNARY, None, body);
        for (name, value) in headers {
            req.headers_mut()
                .insert(*name, http::HeaderValue::from_static(value));
        }
        req
    };
    // The echo upstream answers request metadata `x-echo-*` with response metadata of the
    // same name: the allowed header and the `Grpc-Metadata-` one arrive, the other not.
    let req = with_headers(
        r#"{"message": "m"}"#,
        &[
            ("x-echo-tenant", "7"),
            ("x-echo-secret", "no"),
            ("grpc-metadata-x-echo-trace", "t1"),
        ],
    );
    let reply = http1_send(addr, req).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let header = |name: &str| {
        reply
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(header("grpc-metadata-x-echo-tenant").as_deref(), Some("7"));
    assert_eq!(header("grpc-metadata-x-echo-trace").as_deref(), Some("t1"));
    assert_eq!(header("grpc-metadata-x-echo-secret"), None);
    assert_eq!(header("grpc-metadata-content-type"), None);

    // A failure's trailers come back as headers too (`x-trailer-*` by prefix).
    let req = with_headers(
        r#"{"failCode": 8, "failMessage": "slow down"}"#,
        &[("x-trailer-retry-after", "3")],
    );
    let reply = http1_send(addr, req).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        reply
            .headers
            .get("grpc-metadata-x-trailer-retry-after")
            .unwrap(),
        "3"
    );
    assert_eq!(reply.headers.get("grpc-metadata-grpc-status"), None);

    // The timeout header is a deadline; a value that is not a duration is 400.
    let reply = http1_send(
        addr,
        with_headers(r#"{"delayMs": 2000}"#, &[("x-timeout", "100ms")]),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::GATEWAY_TIMEOUT,
        "{}",
        reply.text()
    );
    let reply = http1_send(addr, with_headers("{}", &[("x-timeout", "soon")])).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(json_of(&reply)["message"]
        .as_str()
        .unwrap()
        .contains("x-timeout"));
}

/// Sends `req` over HTTP/1.1 and returns the response with its body still streaming.
async fn open_stream(
    addr: std::net::SocketAddr,
    req: Request<Full<Bytes>>,
) -> (
    http::response::Parts,
    hyper::body::Incoming,
    tokio::task::JoinHandle<()>,
) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut req = req;
    req.headers_mut()
        .insert(header::HOST, http::HeaderValue::from_static("gateway"));
    let (parts, body) = sender.send_request(req).await.unwrap().into_parts();
    (parts, body, task)
}

/// The body's lines (NDJSON) or events (SSE, split on blank lines), read to the end.
async fn read_all(body: hyper::body::Incoming) -> String {
    use http_body_util::BodyExt;
    let bytes = tokio::time::timeout(std::time::Duration::from_secs(20), body.collect())
        .await
        .expect("the stream ends")
        .unwrap()
        .to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

const SERVER_STREAM: &str = "/yardmaster.demo.v1.Echo/ServerStream";

#[tokio::test]
async fn server_streams_are_ndjson_or_server_sent_events() {
    let upstream = TestUpstream::echo("stream").await;
    let gateway = gateway(upstream.addr(), "").await;
    let addr = gateway.addr();

    let (parts, body, _task) = open_stream(
        addr,
        post(SERVER_STREAM, None, r#"{"message": "s", "count": 3}"#),
    )
    .await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(parts.headers[header::CONTENT_TYPE], "application/x-ndjson");
    let lines: Vec<Value> = read_all(body)
        .await
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            json!({"result": {"message": "s", "servedBy": "stream"}}),
            json!({"result": {"message": "s", "servedBy": "stream", "index": 1}}),
            json!({"result": {"message": "s", "servedBy": "stream", "index": 2}}),
        ]
    );

    let mut req = post(SERVER_STREAM, None, r#"{"message": "e", "count": 2}"#);
    req.headers_mut().insert(
        header::ACCEPT,
        http::HeaderValue::from_static("text/event-stream"),
    );
    let (parts, body, _task) = open_stream(addr, req).await;
    assert_eq!(parts.headers[header::CONTENT_TYPE], "text/event-stream");
    assert_eq!(
        read_all(body).await,
        "data: {\"message\":\"e\",\"servedBy\":\"stream\"}\n\n\
         data: {\"message\":\"e\",\"servedBy\":\"stream\",\"index\":1}\n\n"
    );
}

#[tokio::test]
async fn a_stream_that_fails_midway_ends_with_its_status() {
    let upstream = TestUpstream::echo("stream-fail").await;
    let failing_gateway = gateway(upstream.addr(), "").await;
    let addr = failing_gateway.addr();
    let failing = r#"{"count": 5, "failAfter": 2, "failCode": 14, "failMessage": "gone"}"#;

    let (parts, body, _task) = open_stream(addr, post(SERVER_STREAM, None, failing)).await;
    assert_eq!(parts.status, StatusCode::OK);
    let text = read_all(body).await;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(lines[2]).unwrap(),
        json!({"error": {"code": 14, "message": "gone", "details": []}})
    );

    let mut req = post(SERVER_STREAM, None, failing);
    req.headers_mut().insert(
        header::ACCEPT,
        http::HeaderValue::from_static("text/event-stream"),
    );
    let (_, body, _task) = open_stream(addr, req).await;
    let text = read_all(body).await;
    let (_, last_event) = text.trim_end().rsplit_once("\n\n").unwrap();
    let status = last_event.strip_prefix("event: error\ndata: ").unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(status).unwrap(),
        json!({"code": 14, "message": "gone", "details": []}),
        "{text}"
    );

    // Failing before any reply is an ordinary error response with the mapped status.
    let reply = http1_send(
        addr,
        post(
            SERVER_STREAM,
            None,
            r#"{"failCode": 5, "failMessage": "none"}"#,
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text());
    assert_eq!(json_of(&reply)["code"], 5);

    // An upstream that stops mid-stream without a status: the stream still ends with
    // one, not silently.
    let cut = RawGrpcUpstream::start(|_| {
        let reply = EchoReply {
            message: "partial".to_owned(),
            ..EchoReply::default()
        };
        let mut response = http::Response::new(RawBody::without_trailers([grpc_frame(
            &reply.encode_to_vec(),
        )]));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/grpc"),
        );
        response
    })
    .await;
    let cut_gateway = gateway(cut.addr(), "").await;
    let (_, body, _task) = open_stream(cut_gateway.addr(), post(SERVER_STREAM, None, "{}")).await;
    let text = read_all(body).await;
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0], json!({"result": {"message": "partial"}}));
    assert_eq!(lines[1]["error"]["code"], 13, "{text}");
}

#[tokio::test]
async fn replies_are_written_as_they_arrive() {
    let upstream = TestUpstream::echo("stream-live").await;
    let gateway = gateway(upstream.addr(), "").await;
    // Two replies 1.5 s apart: the first is out while the second is still to come.
    let (_, mut body, _task) = open_stream(
        gateway.addr(),
        post(
            SERVER_STREAM,
            None,
            r#"{"message": "live", "count": 2, "delayMs": 1500}"#,
        ),
    )
    .await;
    use http_body_util::BodyExt;
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), body.frame())
        .await
        .expect("the first reply arrives")
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    assert!(
        first.starts_with(b"{\"result\":{\"message\":\"live\""),
        "{first:?}"
    );
    let second = tokio::time::timeout(std::time::Duration::from_millis(500), body.frame()).await;
    assert!(
        second.is_err(),
        "the second reply came with the first: buffered"
    );
}

const CLIENT_STREAM: &str = "/yardmaster.demo.v1.Echo/ClientStream";
const BIDI: &str = "/yardmaster.demo.v1.Echo/Bidi";

#[tokio::test]
async fn client_streams_are_ndjson_request_bodies() {
    let upstream = TestUpstream::echo("client-stream").await;
    let gateway = gateway(upstream.addr(), ", max_message_bytes: 64").await;
    let addr = gateway.addr();
    let lines = "{\"message\": \"a\"}\n\n{\"message\": \"b\"}\n{\"message\": \"c\"}";
    let reply = http1_send(
        addr,
        post(CLIENT_STREAM, Some("application/x-ndjson"), lines),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        json_of(&reply),
        json!({"message": "a,b,c", "received": 3, "servedBy": "client-stream"})
    );
    // Bidirectional: one reply line per request line.
    let reply = h2_send(
        addr,
        post(BIDI, None, "{\"message\": \"x\"}\n{\"message\": \"y\"}\n"),
    )
    .await;
    let replies: Vec<Value> = reply
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(replies.len(), 2, "{}", reply.text());
    assert_eq!(replies[1]["result"]["message"], "y");

    // A bad line is the client's error, named by its line; so is one over the limit.
    let reply = http1_send(
        addr,
        post(
            CLIENT_STREAM,
            None,
            "{\"message\": \"a\"}\n{\"count\": \"x\"}\n",
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    let message = json_of(&reply)["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("line 2 of the request") && message.contains("count"),
        "{message}"
    );
    let long = format!("{{\"message\": \"{}\"}}\n", "a".repeat(100));
    let reply = http1_send(addr, post(CLIENT_STREAM, None, &long)).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.text()
    );
    let reply = http1_send(addr, post(CLIENT_STREAM, Some("text/csv"), "a,b\n")).await;
    assert_eq!(
        reply.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{}",
        reply.text()
    );
    let reply = http1_send(addr, post(UNARY, None, r#"{"message": "still here"}"#)).await;
    assert_eq!(json_of(&reply)["message"], "still here");
}

#[tokio::test]
async fn a_bidirectional_call_answers_each_line_as_it_comes() {
    use http_body_util::BodyExt;
    let upstream = TestUpstream::echo("bidi-live").await;
    let gateway = gateway(upstream.addr(), "").await;
    let (tx, rx) = tokio::sync::mpsc::channel::<
        Result<hyper::body::Frame<Bytes>, std::convert::Infallible>,
    >(4);
    let body = http_body_util::StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    let stream = tokio::net::TcpStream::connect(gateway.addr())
        .await
        .unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    let _connection = tokio::spawn(connection);
    let req = Request::post(BIDI)
        .header(header::HOST, "gateway")
        .body(body)
        .unwrap();
    tx.send(Ok(hyper::body::Frame::data(Bytes::from_static(
        b"{\"message\": \"one\"}\n",
    ))))
    .await
    .unwrap();
    let within = std::time::Duration::from_secs(10);
    // The reply to the first line comes while the request is still open.
    let response = tokio::time::timeout(within, sender.send_request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let first = tokio::time::timeout(within, body.frame())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(first
        .data_ref()
        .unwrap()
        .starts_with(b"{\"result\":{\"message\":\"one\""));
    tx.send(Ok(hyper::body::Frame::data(Bytes::from_static(
        b"{\"message\": \"two\"}\n",
    ))))
    .await
    .unwrap();
    drop(tx);
    let rest = tokio::time::timeout(within, body.collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    let rest: Value = serde_json::from_slice(rest.trim_ascii()).unwrap();
    assert_eq!(rest["result"]["message"], "two");
}

/// A gateway whose `transcode` route takes its descriptors from the server reflection
/// of cluster `echo` (`upstream`), with a rule for `Unary` and the admin API.
async fn reflection_gateway(upstream: std::net::SocketAddr) -> TestGateway {
    TestGateway::start(&format!(
        r#"
admin:
  listen: 127.0.0.1:0
listeners:
  - name: rest
    listen: 127.0.0.1:0
    routes:
      - name: echo-reflected
        match: {{ path: {{ prefix: / }} }}
        transcode:
          cluster: echo
          reflection: {{ refresh: 1h }}
          http_rules:
            - selector: yardmaster.demo.v1.Echo.Unary
              get: /v1/say/{{message}}
clusters:
  - name: echo
    protocol: grpc
    endpoints: [{upstream}]
"#
    ))
    .await
}

/// Sends `req` until the route's descriptors are loaded (not 503), for up to 10 s.
async fn once_loaded(
    addr: std::net::SocketAddr,
    req: impl Fn() -> Request<Full<Bytes>>,
) -> HttpReply {
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let reply = http1_send(addr, req()).await;
        if reply.status != StatusCode::SERVICE_UNAVAILABLE || tokio::time::Instant::now() > until {
            return reply;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn descriptors_come_from_server_reflection_v1_and_v1alpha() {
    for v1alpha in [false, true] {
        let upstream = TestUpstream::echo_with_reflection("reflected", v1alpha).await;
        let gateway = reflection_gateway(upstream.addr()).await;
        let addr = gateway.addr();
        let reply = once_loaded(addr, || request(Method::GET, "/v1/say/hi", "")).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "v1alpha {v1alpha}: {}",
            reply.text()
        );
        assert_eq!(
            json_of(&reply),
            json!({"message": "hi", "servedBy": "reflected"})
        );
        // Methods without a rule, at their gRPC path; streams too.
        let reply = http1_send(addr, post(SERVER_STREAM, None, r#"{"count": 2}"#)).await;
        assert_eq!(reply.text().lines().count(), 2, "{}", reply.text());

        let (status, body) = gateway.admin_get("/descriptors").await;
        assert_eq!(status, StatusCode::OK);
        let sources: Value = serde_json::from_str(&body).unwrap();
        let source = &sources[0];
        assert_eq!(source["route"], "echo-reflected");
        assert_eq!(source["cluster"], "echo");
        assert_eq!(source["services"], json!(["yardmaster.demo.v1.Echo"]));
        assert_eq!(source["bindings"], 4);
        assert!(source["loaded_at"].is_u64(), "{source}");
        assert_eq!(source["failures"], 0);
    }
}

#[tokio::test]
async fn without_reflection_calls_get_503_and_the_failure_is_shown_and_counted() {
    // The plain echo upstream has no reflection service.
    let upstream = TestUpstream::echo("no-reflection").await;
    let gateway = reflection_gateway(upstream.addr()).await;
    let addr = gateway.addr();
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let source = loop {
        let (_, body) = gateway.admin_get("/descriptors").await;
        let sources: Value = serde_json::from_str(&body).unwrap();
        if sources[0]["failures"].as_u64() >= Some(1) || tokio::time::Instant::now() > until {
            break sources[0].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let error = source["last_error"].as_str().unwrap_or_default().to_owned();
    assert!(
        error.contains("grpc.reflection.v1alpha.ServerReflection"),
        "{source}"
    );
    assert_eq!(source["services"], json!([]));

    let reply = http1_send(addr, request(Method::GET, "/v1/say/hi", "")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let body = json_of(&reply);
    assert_eq!(body["code"], 14);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("not loaded yet") && message.contains("reflection"),
        "{message}"
    );

    let (_, metrics) = gateway.admin_get("/metrics").await;
    assert!(
        metrics.lines().any(|line| line
            .starts_with("yardmaster_transcode_reflection_failures_total{")
            && line.contains("route=\"echo-reflected\"")),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_last_good_descriptors() {
    let upstream = TestUpstream::echo_with_reflection("refresh", false).await;
    let gateway = reflection_gateway(upstream.addr()).await;
    let addr = gateway.addr();
    let reply = once_loaded(addr, || request(Method::GET, "/v1/say/a", "")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());

    drop(upstream);
    let refresh = Request::post("/descriptors/refresh")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let reply = http1_send(gateway.admin_addr(), refresh).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text());
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    let source = loop {
        let (_, body) = gateway.admin_get("/descriptors").await;
        let sources: Value = serde_json::from_str(&body).unwrap();
        if sources[0]["failures"].as_u64() >= Some(1) || tokio::time::Instant::now() > until {
            break sources[0].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(source["last_error"].is_string(), "{source}");
    assert_eq!(
        source["services"],
        json!(["yardmaster.demo.v1.Echo"]),
        "{source}"
    );
    // The bindings stay: the call fails for want of an endpoint, not of descriptors.
    let reply = http1_send(addr, request(Method::GET, "/v1/say/b", "")).await;
    let message = json_of(&reply)["message"].as_str().unwrap().to_owned();
    assert!(!message.contains("not loaded"), "{message}");
}

const NOTES_UPSTREAM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/notes_upstream.py"
);

/// Someone else's gRPC stack as the reflection source: the Python grpcio upstream of
/// `examples/` with grpcio-reflection, its annotated service learnt from it alone,
/// through `examples/transcoding-reflection.yaml`. Needs `YARDMASTER_PYTHON` (grpcio,
/// grpcio-tools, grpcio-reflection); skips loudly without it.
#[tokio::test]
async fn python_grpcio_reflection_upstream_becomes_a_rest_api() {
    use tokio::io::AsyncBufReadExt;
    let Some(python) = std::env::var("YARDMASTER_PYTHON").ok() else {
        assert!(
            std::env::var("YARDMASTER_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "YARDMASTER_REQUIRE_PYTHON=1 but YARDMASTER_PYTHON is not set"
        );
        eprintln!("\n*** SKIPPED python_grpcio_reflection_upstream_becomes_a_rest_api: set YARDMASTER_PYTHON to a python with grpcio, grpcio-tools and grpcio-reflection ***\n");
        return;
    };
    let mut upstream = tokio::process::Command::new(python)
        .args([NOTES_UPSTREAM, "--listen", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting examples/notes_upstream.py");
    let stdout = upstream.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let first = tokio::time::timeout(std::time::Duration::from_secs(60), lines.next_line())
        .await
        .expect("the python upstream starts in time")
        .unwrap()
        .expect("a `listening on` line");
    let addr = first
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{first:?}"));

    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let text = std::fs::read_to_string(format!("{examples}/transcoding-reflection.yaml"))
        .unwrap()
        .replace("127.0.0.1:8080", "127.0.0.1:0")
        .replace("127.0.0.1:9901", "127.0.0.1:0")
        .replace("127.0.0.1:50061", addr);
    let gateway = TestGateway::start(&text).await;
    let gw = gateway.addr();

    let create = || {
        request(
            Method::POST,
            "/v1/notes",
            r#"{"text": "buy milk", "tags": ["home"]}"#,
        )
    };
    let reply = once_loaded(gw, create).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let note = json_of(&reply);
    assert_eq!(note["text"], "buy milk");
    assert_eq!(note["tags"], json!(["home"]));
    assert!(
        note["createdUnixMs"].is_string(),
        "int64 as a string: {note}"
    );
    let id = note["id"].as_str().unwrap().to_owned();

    let reply = http1_send(gw, request(Method::GET, &format!("/v1/notes/{id}"), "")).await;
    assert_eq!(json_of(&reply), note);
    http1_send(
        gw,
        request(
            Method::POST,
            "/v1/notes",
            r#"{"text": "call", "tags": ["work"]}"#,
        ),
    )
    .await;
    let reply = http1_send(gw, request(Method::GET, "/v1/notes?tag=home", "")).await;
    assert_eq!(json_of(&reply), json!([note]));

    let reply = http1_send(gw, request(Method::GET, "/v1/notes/nope", "")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        json_of(&reply),
        json!({"code": 5, "message": "no note 'nope'", "details": []})
    );
    let reply = http1_send(gw, request(Method::POST, "/v1/notes", "{}")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = http1_send(gw, request(Method::DELETE, &format!("/v1/notes/{id}"), "")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = http1_send(gw, request(Method::PUT, "/v1/notes", "")).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);

    let (_, body) = gateway.admin_get("/descriptors").await;
    let sources: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(sources[0]["services"], json!(["notes.v1.Notes"]), "{body}");
    upstream.kill().await.unwrap();
}
