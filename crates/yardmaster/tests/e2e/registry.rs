//! Self-registration through the gateway: instances register over the `registry` route,
//! a cluster with `discovery: {registry: ...}` routes to them, and they leave when they
//! deregister or their lease ends. The embedded store keeps them across a restart.

use std::path::Path;
use std::time::Duration;

use tonic::transport::Channel;
use yardmaster_demo::pb::EchoRequest;
use yardmaster_registry::pb::registry_client::RegistryClient;
use yardmaster_registry::pb::{DeregisterRequest, ListRequest, RegisterRequest};
use yardmaster_test_support::{TestGateway, TestUpstream};

const ECHO: &str = "yardmaster.demo.v1.Echo";

fn config(state: &Path) -> String {
    format!(
        r#"
admin:
  listen: 127.0.0.1:0
registry:
  path: "{state}"
  allow: [127.0.0.0/8]
  min_ttl: 1s
listeners:
  - name: public
    listen: 127.0.0.1:0
    routes:
      - name: registration
        match: {{ service: yardmaster.registry.v1.Registry }}
        registry: {{}}
      - name: echo
        match: {{ service: {ECHO} }}
        forward: {{ cluster: echo }}
clusters:
  - name: echo
    protocol: grpc
    discovery: {{ registry: {{ service: {ECHO} }} }}
"#,
        state = state.display()
    )
}

async fn registry_client(gateway: &TestGateway) -> RegistryClient<Channel> {
    RegistryClient::connect(gateway.uri()).await.unwrap()
}

fn register(address: &str, ttl_seconds: u32) -> RegisterRequest {
    RegisterRequest {
        service: ECHO.to_owned(),
        address: address.to_owned(),
        ttl_seconds,
        ..RegisterRequest::default()
    }
}

/// Whether an echo call through the gateway is answered by `served_by`, within 5 s.
async fn reaches(gateway: &TestGateway, served_by: Option<&str>) -> bool {
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut client = gateway.echo_client().await;
        let reply = client.unary(EchoRequest::default()).await;
        let got = reply.ok().map(|r| r.into_inner().served_by);
        if got.as_deref() == served_by {
            return true;
        }
        if tokio::time::Instant::now() > until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn registered_instances_are_routable_until_they_leave() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = TestGateway::start(&config(&dir.path().join("registry.json"))).await;
    let upstream = TestUpstream::echo("registered").await;
    let mut registry = registry_client(&gateway).await;
    assert!(reaches(&gateway, None).await, "no instance, no route");

    let lease = registry
        .register(register(&upstream.addr().to_string(), 30))
        .await
        .unwrap()
        .into_inner();
    assert!(reaches(&gateway, Some("registered")).await);
    let list = registry
        .list(ListRequest {
            service: ECHO.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.instances.len(), 1);
    assert_eq!(list.instances[0].address, upstream.addr().to_string());
    let (status, body) = gateway
        .admin_get(&format!("/registry?service={ECHO}"))
        .await;
    assert_eq!(status, http::StatusCode::OK);
    let shown: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(shown[0]["address"], upstream.addr().to_string(), "{body}");
    assert_eq!(shown[0]["lease_id"], lease.lease_id.as_str(), "{body}");

    // Registering again is the same instance.
    let again = registry
        .register(register(&upstream.addr().to_string(), 30))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.lease_id, lease.lease_id);

    registry
        .deregister(DeregisterRequest {
            lease_id: lease.lease_id,
        })
        .await
        .unwrap();
    assert!(reaches(&gateway, None).await, "deregistered, not routed");

    // A lease that is not renewed ends.
    registry
        .register(register(&upstream.addr().to_string(), 1))
        .await
        .unwrap();
    assert!(reaches(&gateway, Some("registered")).await);
    assert!(reaches(&gateway, None).await, "expired, not routed");
}

#[tokio::test]
async fn bad_registrations_get_clear_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = TestGateway::start(&config(&dir.path().join("registry.json"))).await;
    let mut registry = registry_client(&gateway).await;
    for (request, code, says) in [
        (
            register("10.1.2.3:50051", 30),
            tonic::Code::PermissionDenied,
            "127.0.0.0/8",
        ),
        (
            register("not-an-address", 30),
            tonic::Code::InvalidArgument,
            "not-an-address",
        ),
        (
            register("127.0.0.1:50051", 86_400),
            tonic::Code::InvalidArgument,
            "ttl",
        ),
        (
            RegisterRequest {
                service: String::new(),
                ..register("127.0.0.1:50051", 30)
            },
            tonic::Code::InvalidArgument,
            "service",
        ),
    ] {
        let status = registry.register(request).await.unwrap_err();
        assert_eq!(status.code(), code, "{status:?}");
        assert!(status.message().contains(says), "{status:?}");
    }
    // Still serving.
    let list = registry
        .list(ListRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(list.instances.is_empty());
}

#[tokio::test]
async fn a_restarted_gateway_keeps_its_registrations() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("registry.json");
    let upstream = TestUpstream::echo("kept").await;
    let first = TestGateway::start(&config(&state)).await;
    registry_client(&first)
        .await
        .register(register(&upstream.addr().to_string(), 60))
        .await
        .unwrap();
    assert!(reaches(&first, Some("kept")).await);
    first.shutdown().await;

    let second = TestGateway::start(&config(&state)).await;
    assert!(
        reaches(&second, Some("kept")).await,
        "relearnt from the file"
    );
    let list = registry_client(&second)
        .await
        .list(ListRequest {
            service: ECHO.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.instances.len(), 1);
}

/// `examples/registry.yaml` and `examples/register_upstream.py`: a Python grpcio service
/// registers itself through the gateway, is routed to, and deregisters on SIGTERM. Needs
/// `YARDMASTER_PYTHON` (grpcio, grpcio-tools); skips loudly without it.
#[tokio::test]
async fn a_python_service_registers_itself_through_the_example() {
    use tokio::io::AsyncBufReadExt;
    let Some(python) = std::env::var("YARDMASTER_PYTHON").ok() else {
        assert!(
            std::env::var("YARDMASTER_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "YARDMASTER_REQUIRE_PYTHON=1 but YARDMASTER_PYTHON is not set"
        );
        eprintln!("\n*** SKIPPED a_python_service_registers_itself_through_the_example: set YARDMASTER_PYTHON to a python with grpcio and grpcio-tools ***\n");
        return;
    };
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(format!("{examples}/registry.yaml"))
        .unwrap()
        .replace("127.0.0.1:8080", "127.0.0.1:0")
        .replace(
            "path: registry.json",
            &format!("path: \"{}\"", dir.path().join("r.json").display()),
        );
    let gateway = TestGateway::start(&text).await;
    let mut service = tokio::process::Command::new(python)
        .arg(format!("{examples}/register_upstream.py"))
        .args(["--gateway", &gateway.addr().to_string(), "--ttl", "5"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(service.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("the python service registers in time")
        .unwrap()
        .unwrap();
    assert!(first.starts_with("registered 127.0.0.1:"), "{first}");
    assert!(reaches(&gateway, Some("python")).await);

    let pid = service.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let last = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("the python service deregisters in time")
        .unwrap();
    assert_eq!(last.as_deref(), Some("deregistered"));
    assert!(reaches(&gateway, None).await);
}
