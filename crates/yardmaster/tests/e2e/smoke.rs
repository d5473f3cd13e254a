//! The shortest story: one route, one upstream, one call.

use yardmaster_demo::pb::EchoRequest;
use yardmaster_test_support::{TestGateway, TestUpstream};

#[tokio::test]
async fn unary_call_reaches_upstream_through_gateway() {
    let upstream = TestUpstream::echo("users").await;
    let gateway = TestGateway::start(&format!(
        r#"
listeners:
  - name: public
    listen: 127.0.0.1:0
    routes:
      - match: {{ service: yardmaster.demo.v1.Echo }}
        forward: {{ cluster: echo }}
clusters:
  - name: echo
    endpoints: [{}]
"#,
        upstream.addr()
    ))
    .await;
    let reply = gateway
        .echo_client()
        .await
        .unary(EchoRequest {
            message: "hi".into(),
            ..Default::default()
        })
        .await
        .expect("call through gateway")
        .into_inner();
    assert_eq!(reply.message, "hi");
    assert_eq!(reply.served_by, "users");
    gateway.shutdown().await;
}
