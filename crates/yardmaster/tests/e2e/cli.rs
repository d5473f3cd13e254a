//! The `yardmaster` binary as a user runs it: version and help, `check` on good and broken
//! files, and `run` serving calls and draining on SIGTERM.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, Command};
use tokio::time::timeout;
use yardmaster_demo::pb::EchoRequest;
use yardmaster_test_support::{echo_client, eventually, TestUpstream, HANG_LIMIT};

const BIN: &str = env!("CARGO_BIN_EXE_yardmaster");
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");

/// Runs the binary with `args` in directory `dir` and waits for it to exit.
async fn yardmaster(dir: &Path, args: &[&str]) -> Output {
    let run = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .kill_on_drop(true)
        .output();
    timeout(HANG_LIMIT, run)
        .await
        .expect("yardmaster exited in time")
        .expect("running yardmaster")
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn version_prints_name_and_crate_version() {
    let output = yardmaster(Path::new("."), &["--version"]).await;

    assert!(output.status.success());
    assert_eq!(
        text(&output.stdout),
        format!("yardmaster {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn help_lists_every_command() {
    let output = yardmaster(Path::new("."), &["--help"]).await;

    assert!(output.status.success());
    let help = text(&output.stdout);
    assert!(help.starts_with("A gRPC-native gateway"), "{help}");
    for command in [
        "  run    Run the gateway described by a configuration file",
        "  check  Validate a configuration file: print every error, exit non-zero if any",
        "  demo   ",
        "  call   ",
    ] {
        assert!(help.contains(command), "{command:?} missing from:\n{help}");
    }
}

#[tokio::test]
async fn check_passes_every_example() {
    let expected = [
        ("balancing.yaml", "1 listeners, 2 routes, 2 clusters"),
        (
            "bridge.yaml",
            "0 listeners, 0 routes, 2 clusters, 2 bridges",
        ),
        ("discovery-dns.yaml", "1 listeners, 2 routes, 3 clusters"),
        ("discovery-file.yaml", "1 listeners, 1 routes, 1 clusters"),
        (
            "discovery-kubernetes.yaml",
            "1 listeners, 1 routes, 1 clusters",
        ),
        ("envelope.yaml", "1 listeners, 1 routes, 1 clusters"),
        ("fanout.yaml", "1 listeners, 2 routes, 1 clusters"),
        ("grpc-gateway.yaml", "1 listeners, 3 routes, 2 clusters"),
        (
            "http-reverse-proxy.yaml",
            "1 listeners, 3 routes, 2 clusters",
        ),
        ("mirror.yaml", "1 listeners, 1 routes, 4 clusters"),
        ("registry.yaml", "1 listeners, 2 routes, 1 clusters"),
        ("tls.yaml", "1 listeners, 1 routes, 1 clusters"),
        (
            "transcoding-reflection.yaml",
            "1 listeners, 1 routes, 1 clusters",
        ),
        ("transcoding.yaml", "1 listeners, 3 routes, 1 clusters"),
    ];
    let mut on_disk: Vec<String> = std::fs::read_dir(EXAMPLES)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    on_disk.sort();
    let listed: Vec<&str> = expected.iter().map(|(file, _)| *file).collect();
    assert_eq!(on_disk, listed, "a new example needs its line here");

    for (file, summary) in expected {
        let output = yardmaster(Path::new(EXAMPLES), &["check", "--config", file]).await;
        assert!(output.status.success(), "{file}: {}", text(&output.stderr));
        assert_eq!(text(&output.stdout), format!("{file}: OK ({summary})\n"));
    }
}

/// Writes `yaml` to `broken.yaml` in a fresh directory, runs `check` on it and returns
/// stderr, asserting a failed exit.
async fn check_fails(yaml: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.yaml"), yaml).unwrap();
    let output = yardmaster(dir.path(), &["check", "--config", "broken.yaml"]).await;
    assert!(!output.status.success(), "check accepted:\n{yaml}");
    assert!(output.stdout.is_empty());
    text(&output.stderr).to_owned()
}

/// Parse errors stop at the first one; each names file, line, column and field path.
#[tokio::test]
async fn check_reports_parse_errors_with_location_and_field_path() {
    let cases = [
        (
            "unknown key",
            "listeners:\n  - name: public\n    listen: 127.0.0.1:8080\n    bogus: 1\n",
            "broken.yaml:4:5: listeners[0].bogus: unknown key `bogus` (allowed keys: name, listen, tls, routes, max_connections, forwarded_headers)",
        ),
        (
            "wrong type",
            "listeners:\n  - name: public\n    listen: 127.0.0.1:8080\n    max_connections: many\n",
            "broken.yaml:4:22: listeners[0].max_connections: \"many\" is not a whole number",
        ),
        (
            "bad address",
            "listeners:\n  - name: public\n    listen: 127.0.0.1:8080\nclusters:\n  - name: users\n    endpoints: [127.0.0.1:50051, \"10.0.0.x:80\"]\n",
            "broken.yaml:6:34: clusters[0].endpoints[1]: \"10.0.0.x:80\" is not an endpoint address (write IP:port or host:port, e.g. 127.0.0.1:8080, [::1]:8080 or users.internal:50051)",
        ),
    ];
    for (case, yaml, error) in cases {
        let stderr = check_fails(yaml).await;
        assert_eq!(
            stderr,
            format!("error: invalid configuration:\n{error}\n"),
            "{case}"
        );
    }
}

/// Rule violations are all reported in one pass, in file order.
#[tokio::test]
async fn check_reports_every_rule_violation_at_once() {
    let stderr = check_fails(
        r#"admin:
  listen: 127.0.0.1:9901
listeners:
  - name: public
    listen: 127.0.0.1:8080
    routes:
      - forward: { cluster: user }
  - name: public
    listen: 0.0.0.0:8080
  - name: metrics
    listen: 127.0.0.1:9901
clusters:
  - name: users
    endpoints: [127.0.0.1:50051]
  - name: users
    endpoints: [127.0.0.1:50052]
"#,
    )
    .await;

    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "error: invalid configuration:",
            "broken.yaml:7:29: listeners[0].routes[0].forward.cluster: unknown cluster \"user\"; defined clusters: users, users",
            "broken.yaml:8:11: listeners[1].name: listener name \"public\" is already used by listeners[0]; names must be unique",
            "broken.yaml:9:13: listeners[1].listen: 0.0.0.0:8080 overlaps listeners[0].listen (127.0.0.1:8080); give each listener its own port",
            "broken.yaml:11:13: listeners[2].listen: 127.0.0.1:9901 overlaps admin.listen (127.0.0.1:9901); give each listener its own port",
            "broken.yaml:15:11: clusters[1].name: cluster name \"users\" is already used by clusters[0]; names must be unique",
        ]
    );
}

#[tokio::test]
async fn check_of_a_missing_file_says_it_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let output = yardmaster(dir.path(), &["check", "--config", "absent.yaml"]).await;

    assert!(!output.status.success());
    assert_eq!(
        text(&output.stderr),
        "error: invalid configuration:\nabsent.yaml: cannot read: No such file or directory (os error 2)\n"
    );
}

/// `check` reads the endpoint file of a `file` discovery source too, and names its file,
/// line and field.
#[tokio::test]
async fn check_reports_errors_in_discovery_endpoint_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gateway.yaml"),
        "listeners:\n  - name: public\n    listen: 127.0.0.1:8080\n    routes: [{ forward: { cluster: users } }]\nclusters:\n  - name: users\n    discovery:\n      file: { path: users.yaml }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("users.yaml"),
        "endpoints:\n  - 127.0.0.1:50051\n  - address: 127.0.0.1:50052\n    weight: 0\n",
    )
    .unwrap();

    let output = yardmaster(dir.path(), &["check", "--config", "gateway.yaml"]).await;
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("error: cluster \"users\": invalid endpoint file:\n"),
        "{stderr}"
    );
    assert!(stderr.contains("users.yaml:4:"), "{stderr}");
    assert!(stderr.contains("endpoints[1].weight"), "{stderr}");

    std::fs::remove_file(dir.path().join("users.yaml")).unwrap();
    let output = yardmaster(dir.path(), &["check", "--config", "gateway.yaml"]).await;
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("users.yaml: No such file or directory"),
        "{}",
        text(&output.stderr)
    );
}

/// Reads the JSON log on stderr until the `listening` line of listener `name`.
async fn listening_addr(stderr: &mut BufReader<ChildStderr>, name: &str) -> SocketAddr {
    let mut line = String::new();
    loop {
        line.clear();
        let read = timeout(HANG_LIMIT, stderr.read_line(&mut line))
            .await
            .expect("log line in time")
            .unwrap();
        assert!(read > 0, "yardmaster exited before listening");
        let Ok(entry) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let fields = &entry["fields"];
        if fields["message"] == "listening" && fields["listener"] == name {
            return fields["addr"].as_str().unwrap().parse().unwrap();
        }
    }
}

fn sigterm(child: &Child) {
    let pid = child.id().expect("yardmaster still running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

/// `run` serves calls; on SIGTERM a call already in flight still completes, and the
/// process exits with success well within the drain timeout.
#[tokio::test]
async fn run_serves_calls_and_drains_in_flight_call_on_sigterm() {
    let upstream = TestUpstream::echo("echo").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gateway.yaml"),
        format!(
            r#"
log: {{ format: json }}
drain_timeout: 5s
listeners:
  - name: public
    listen: 127.0.0.1:0
    routes:
      - forward: {{ cluster: echo }}
clusters:
  - name: echo
    endpoints: [{}]
"#,
            upstream.addr()
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["run", "--config", "gateway.yaml"])
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let addr = listening_addr(&mut stderr, "public").await;
    // Keep draining the log so the process never blocks on a full pipe.
    let log = tokio::spawn(async move {
        let mut rest = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut rest).await;
        rest
    });

    let mut client = echo_client(addr).await;
    let reply = client
        .unary(EchoRequest {
            message: "first".into(),
            ..EchoRequest::default()
        })
        .await
        .expect("call through the binary")
        .into_inner();
    assert_eq!(
        (reply.message.as_str(), reply.served_by.as_str()),
        ("first", "echo")
    );

    let slow = tokio::spawn(async move {
        client
            .unary(EchoRequest {
                message: "in flight".into(),
                delay_ms: 500,
                ..EchoRequest::default()
            })
            .await
    });
    eventually("the slow call reaches the upstream", || {
        upstream.stats().calls() == 2
    })
    .await;
    sigterm(&child);

    let reply = timeout(HANG_LIMIT, slow)
        .await
        .expect("in-flight call ended in time")
        .unwrap()
        .expect("in-flight call completed during drain")
        .into_inner();
    assert_eq!(reply.message, "in flight");
    let status = timeout(Duration::from_secs(5), child.wait())
        .await
        .expect("exited within the drain timeout")
        .unwrap();
    let log = log.await.unwrap();
    assert!(status.success(), "exit {status:?}; log:\n{log}");
    assert!(
        log.contains("shutting down: draining in-flight calls"),
        "{log}"
    );
    assert!(log.contains(r#""message":"stopped""#), "{log}");
}

#[tokio::test]
async fn run_with_missing_certificate_fails_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gateway.yaml"),
        r#"
listeners:
  - name: secure
    listen: 127.0.0.1:0
    tls: { cert_file: missing.pem, key_file: missing-key.pem }
    routes:
      - forward: { cluster: echo }
clusters:
  - name: echo
    endpoints: [127.0.0.1:50051]
"#,
    )
    .unwrap();

    let output = yardmaster(dir.path(), &["run", "--config", "gateway.yaml"]).await;

    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    // Relative to the configuration file, which is in the working directory.
    assert_eq!(
        stderr,
        "error: loading TLS for listener \"secure\": reading certificates from missing.pem: \
         I/O error: No such file or directory (os error 2)\n"
    );
}

/// `yardmaster call` against `addr` with `args`: stdout on success, stderr on failure.
async fn call(addr: std::net::SocketAddr, args: &[&str]) -> Result<String, String> {
    let addr = addr.to_string();
    let mut all = vec!["call", "--gateway", addr.as_str()];
    all.extend_from_slice(args);
    let output = yardmaster(Path::new("."), &all).await;
    if output.status.success() {
        Ok(text(&output.stdout).to_owned())
    } else {
        Err(text(&output.stderr).to_owned())
    }
}

#[tokio::test]
async fn call_lists_describes_and_calls_any_service_by_reflection() {
    let upstream = TestUpstream::echo_with_reflection("called", false).await;
    let addr = upstream.addr();
    assert_eq!(
        call(addr, &["list"]).await.unwrap(),
        "yardmaster.demo.v1.Echo\n"
    );
    let service = call(addr, &["describe", "yardmaster.demo.v1.Echo"])
        .await
        .unwrap();
    assert_eq!(
        service,
        "service yardmaster.demo.v1.Echo {\n\
         \x20 rpc Unary(yardmaster.demo.v1.EchoRequest) returns (yardmaster.demo.v1.EchoReply);\n\
         \x20 rpc ServerStream(yardmaster.demo.v1.EchoRequest) returns (stream yardmaster.demo.v1.EchoReply);\n\
         \x20 rpc ClientStream(stream yardmaster.demo.v1.EchoRequest) returns (yardmaster.demo.v1.EchoReply);\n\
         \x20 rpc Bidi(stream yardmaster.demo.v1.EchoRequest) returns (stream yardmaster.demo.v1.EchoReply);\n\
         }\n"
    );
    let message = call(addr, &["describe", "yardmaster.demo.v1.EchoReply"])
        .await
        .unwrap();
    assert!(
        message.starts_with(
            "message yardmaster.demo.v1.EchoReply {\n  string message = 1;\n  bytes payload = 2;\n"
        ),
        "{message}"
    );
    let method = call(addr, &["describe", "yardmaster.demo.v1.Echo/Unary"])
        .await
        .unwrap();
    assert_eq!(
        method,
        "rpc Unary(yardmaster.demo.v1.EchoRequest) returns (yardmaster.demo.v1.EchoReply);\n"
    );

    let reply = call(
        addr,
        &[
            "yardmaster.demo.v1.Echo/Unary",
            "-d",
            r#"{"message": "hi"}"#,
        ],
    )
    .await
    .unwrap();
    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(
        reply,
        serde_json::json!({"message": "hi", "servedBy": "called"})
    );
    let stream = call(
        addr,
        &[
            "yardmaster.demo.v1.Echo/ClientStream",
            "-d",
            r#"{"message": "a"}"#,
            "-d",
            r#"{"message": "b"}"#,
        ],
    )
    .await
    .unwrap();
    assert!(stream.contains(r#""message": "a,b""#), "{stream}");
    let replies = call(
        addr,
        &[
            "yardmaster.demo.v1.Echo/ServerStream",
            "-d",
            r#"{"count": 2}"#,
        ],
    )
    .await
    .unwrap();
    assert_eq!(replies.matches("servedBy").count(), 2, "{replies}");

    let error = call(
        addr,
        &[
            "yardmaster.demo.v1.Echo/Unary",
            "-d",
            r#"{"failCode": 5, "failMessage": "gone"}"#,
        ],
    )
    .await
    .unwrap_err();
    assert!(error.contains("NotFound: gone"), "{error}");
    let error = call(
        addr,
        &["yardmaster.demo.v1.Echo/Unary", "-d", r#"{"nope": 1}"#],
    )
    .await
    .unwrap_err();
    assert!(
        error.contains("request message 1") && error.contains("nope"),
        "{error}"
    );
    let error = call(addr, &["yardmaster.demo.v1.Echo/Nope"])
        .await
        .unwrap_err();
    assert!(error.contains("no method"), "{error}");
    let error = call(addr, &["describe", "no.Such"]).await.unwrap_err();
    assert!(
        error.contains("no service, method, message or enum"),
        "{error}"
    );
}

#[tokio::test]
async fn call_takes_proto_files_when_the_server_has_no_reflection() {
    let upstream = TestUpstream::echo("plain").await;
    let addr = upstream.addr();
    let error = call(addr, &["list"]).await.unwrap_err();
    assert!(
        error.contains("server reflection") && error.contains("--proto"),
        "{error}"
    );
    let proto = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../proto/yardmaster/demo/v1/echo.proto"
    );
    let reply = call(
        addr,
        &[
            "--proto",
            proto,
            "yardmaster.demo.v1.Echo/Unary",
            "-d",
            r#"{"message": "p"}"#,
        ],
    )
    .await
    .unwrap();
    assert!(reply.contains(r#""servedBy": "plain""#), "{reply}");
}
