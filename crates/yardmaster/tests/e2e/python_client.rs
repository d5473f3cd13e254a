//! An implementation nobody here wrote, Python grpcio, calls the demo Echo service through
//! the gateway (`tests/python/echo_client.py`). Needs `YARDMASTER_PYTHON`: a python with
//! grpcio and grpcio-tools (`.ci/run` sets one up); skips loudly without it.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use yardmaster_test_support::{TestGateway, TestUpstream};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/python/echo_client.py"
);
/// Longer than the usual 10 s guard: it covers starting python and generating stubs with
/// protoc on a 2-core machine that may be compiling at the same time. Each call inside the
/// script has its own 10 s deadline.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);
/// Non-ASCII and `%` make the gateway percent-encode `grpc-message`.
const DENY_MESSAGE: &str = "internal callers only: 100% — ünïcode";
/// What the script prints last when every check passed (then grpcio's version).
const SUMMARY: &str = "echo_client.py: all 7 checks passed";

#[tokio::test]
async fn python_grpcio_client_calls_all_shapes_through_gateway() {
    let Some(python) = python_with_grpcio().await else {
        return;
    };
    let alpha = TestUpstream::echo("alpha").await;
    let beta = TestUpstream::echo("beta").await;
    let gateway = TestGateway::start(&format!(
        r#"
listeners:
  - name: public
    listen: 127.0.0.1:0
    routes:
      - name: deny-internal
        match:
          service: yardmaster.demo.*
          headers:
            - name: x-internal
        deny: {{ grpc_status: permission_denied, message: "{DENY_MESSAGE}" }}
      - name: echo
        match: {{ service: yardmaster.demo.v1.Echo }}
        forward: {{ cluster: echo }}
clusters:
  - name: echo
    endpoints: [{}, {}]
"#,
        alpha.addr(),
        beta.addr()
    ))
    .await;

    let output = Command::new(&python)
        .arg(SCRIPT)
        .args(["--target", &gateway.addr().to_string()])
        .args(["--upstreams", "alpha,beta", "--deny-message", DENY_MESSAGE])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, output)
        .await
        .expect("echo_client.py finishes")
        .expect("running echo_client.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        output.status.success(),
        "echo_client.py failed ({}):\n{report}",
        output.status
    );
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with(SUMMARY),
        "unexpected summary line:\n{report}"
    );

    // Seven calls reach the upstreams; the two denied calls never leave the gateway.
    assert_eq!(alpha.stats().calls() + beta.stats().calls(), 7, "{report}");
    gateway.shutdown().await;
}

/// `YARDMASTER_PYTHON` if it can import grpcio and grpcio-tools. Otherwise prints a loud
/// skip and returns `None`, or fails when `YARDMASTER_REQUIRE_PYTHON=1` (as in CI).
async fn python_with_grpcio() -> Option<String> {
    let python = std::env::var("YARDMASTER_PYTHON").ok();
    let problem = match &python {
        None => "YARDMASTER_PYTHON is not set".to_owned(),
        Some(python) => match has_grpcio(python).await {
            Ok(()) => return python.clone().into(),
            Err(problem) => problem,
        },
    };
    assert!(
        std::env::var("YARDMASTER_REQUIRE_PYTHON").as_deref() != Ok("1"),
        "YARDMASTER_REQUIRE_PYTHON=1 but {problem}"
    );
    // Straight to the process's stderr: the test harness captures `eprintln!` of passing
    // tests, and a skip must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: python grpcio client (set YARDMASTER_PYTHON to a python with grpcio and \
         grpcio-tools): {problem}"
    );
    None
}

async fn has_grpcio(python: &str) -> Result<(), String> {
    assert!(Path::new(SCRIPT).is_file(), "missing {SCRIPT}");
    let probe = Command::new(python)
        .args(["-c", "import grpc, grpc_tools.protoc"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(SCRIPT_TIMEOUT, probe).await {
        Ok(Ok(output)) if output.status.success() => Ok(()),
        Ok(Ok(output)) => Err(format!(
            "{python} cannot import grpc and grpc_tools: {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        )),
        Ok(Err(error)) => Err(format!("cannot run {python}: {error}")),
        Err(_) => Err(format!("{python} did not answer within {SCRIPT_TIMEOUT:?}")),
    }
}
