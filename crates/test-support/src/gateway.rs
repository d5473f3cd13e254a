//! A gateway in the test's own runtime.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use tonic::transport::Channel;
use yardmaster::{Gateway, GatewayHandle};
use yardmaster_demo::pb::echo_client::EchoClient;

use crate::http1_send;

/// A running gateway built from YAML. Listeners should use `127.0.0.1:0`.
pub struct TestGateway {
    handle: GatewayHandle,
}

impl TestGateway {
    /// Loads, validates, binds and starts the gateway described by `yaml`.
    pub async fn start(yaml: &str) -> TestGateway {
        let config = yardmaster_config::from_str(yaml, "test.yaml")
            .unwrap_or_else(|errors| panic!("test config is invalid:\n{errors}"));
        let handle = Gateway::bind(config)
            .await
            .expect("binding the test gateway")
            .spawn()
            .expect("starting the test gateway");
        TestGateway { handle }
    }

    /// The address of the first listener.
    pub fn addr(&self) -> SocketAddr {
        self.handle
            .addrs()
            .first()
            .expect("the gateway has a listener")
            .1
    }

    /// The address of the listener called `name`.
    pub fn listener_addr(&self, name: &str) -> SocketAddr {
        self.handle.addr(name).expect("no such listener")
    }

    /// The address of the TCP bridge called `name`.
    pub fn bridge_addr(&self, name: &str) -> SocketAddr {
        self.handle.bridge_addr(name).expect("no such bridge")
    }

    /// `http://<first listener>`.
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The admin API address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.handle
            .admin_addr()
            .expect("the test config has an admin listener")
    }

    /// `GET path` on the admin API over a fresh HTTP/1.1 connection: the status and the
    /// body as text.
    pub async fn admin_get(&self, path: &str) -> (StatusCode, String) {
        let req = Request::get(path)
            .body(Full::new(Bytes::new()))
            .expect("valid admin request");
        let reply = tokio::time::timeout(crate::HANG_LIMIT, http1_send(self.admin_addr(), req))
            .await
            .expect("admin answered in time");
        (reply.status, reply.text().to_owned())
    }

    /// `POST path` (with an empty body) on the admin API: the status and the body as text.
    pub async fn admin_post(&self, path: &str) -> (StatusCode, String) {
        let req = Request::post(path)
            .body(Full::new(Bytes::new()))
            .expect("valid admin request");
        let reply = tokio::time::timeout(crate::HANG_LIMIT, http1_send(self.admin_addr(), req))
            .await
            .expect("admin answered in time");
        (reply.status, reply.text().to_owned())
    }

    /// `GET /clusters/{name}` on the admin API, parsed.
    pub async fn cluster_status(&self, name: &str) -> serde_json::Value {
        let (status, body) = self.admin_get(&format!("/clusters/{name}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_str(&body).expect("cluster status is JSON")
    }

    /// A demo `Echo` client connected through the first listener.
    pub async fn echo_client(&self) -> EchoClient<Channel> {
        crate::echo_client(self.addr()).await
    }

    /// Stops the gateway, draining in-flight calls.
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}
