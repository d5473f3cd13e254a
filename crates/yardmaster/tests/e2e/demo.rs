//! `yardmaster demo` does what its guide promises.

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use yardmaster::demo::{Demo, DemoArgs};
use yardmaster_demo::pb::EchoRequest;
use yardmaster_test_support::echo_client;

#[tokio::test]
async fn demo_serves_grpc_round_robin_http_and_denials() {
    let demo = Demo::start(&DemoArgs {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin: "127.0.0.1:0".parse().unwrap(),
    })
    .await
    .expect("demo starts");
    let gateway = demo.gateway_addr().unwrap();
    let mut client = echo_client(gateway).await;

    let mut served_by = Vec::new();
    for _ in 0..2 {
        let reply = client
            .unary(EchoRequest {
                message: "hello".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.message, "hello");
        served_by.push(reply.served_by);
    }
    served_by.sort();
    assert_eq!(served_by, ["echo-a", "echo-b"]);

    let mut denied = tonic::Request::new(EchoRequest::default());
    denied
        .metadata_mut()
        .insert("x-internal", "yes".parse().unwrap());
    let status = client.unary(denied).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert_eq!(status.message(), "internal callers only");

    let http = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let get = |path: String| {
        let http = http.clone();
        async move {
            let response = http.get(path.parse().unwrap()).await.unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8(body.to_vec()).unwrap())
        }
    };
    let (status, body) = get(format!("http://{gateway}/api/hello")).await;
    assert_eq!(status, 200);
    assert!(body.contains(r#""path":"/hello""#), "{body}");
    assert!(body.contains(r#""served_by":"web""#), "{body}");
    let (status, body) = get(format!("http://{gateway}/internal/secrets")).await;
    assert_eq!(status, 403);
    assert_eq!(body, "internal paths are not exposed\n");
    let json = yardmaster_test_support::http1_send(
        gateway,
        http::Request::post("/yardmaster.demo.v1.Echo/Unary")
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from_static(
                br#"{"message": "hi"}"#,
            )))
            .unwrap(),
    )
    .await;
    assert_eq!(json.status, 200, "{}", json.text());
    assert!(
        json.text()
            .starts_with(r#"{"message":"hi","servedBy":"echo-"#),
        "{}",
        json.text()
    );
    let admin = demo.admin_addr().unwrap();
    let (status, body) = get(format!("http://{admin}/clusters")).await;
    assert_eq!(status, 200);
    assert!(body.contains(r#""name": "echo""#), "{body}");

    tokio::time::timeout(Duration::from_secs(10), demo.shutdown())
        .await
        .expect("demo shuts down");
}
