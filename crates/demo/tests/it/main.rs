//! Integration tests of the demo upstreams: each test binds `127.0.0.1:0`, serves, and
//! drives the upstream with real tonic and hyper clients over loopback.

// Marks the whole binary as test code, so the helpers below get the same `unwrap`/`expect`
// allowance from clippy.toml as the `#[tokio::test]` functions.
#![cfg(test)]

mod cancellation;
mod descriptor;
mod garbage;
mod grpc_calls;
mod grpc_metadata;
mod http_upstream;
mod large_messages;
mod shutdown;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use yardmaster_demo::pb::echo_client::EchoClient;
use yardmaster_demo::pb::EchoRequest;
use yardmaster_demo::{
    echo_server, serve_grpc, serve_http, EchoService, EchoStats, MAX_MESSAGE_BYTES,
};

/// Guards against hangs only; tests wait for events, never for time.
const HANG_LIMIT: Duration = Duration::from_secs(10);

/// Resolves when the test asks the upstream to shut down.
type ShutdownSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A running upstream (gRPC echo or HTTP) on a loopback port, aborted when dropped.
struct Upstream {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Upstream {
    /// Serves an [`EchoService`] named `name`; returns it with the service's stats.
    async fn echo(name: &str) -> (Self, EchoStats) {
        let service = EchoService::new(name);
        let stats = service.stats();
        let upstream = Self::start(|listener, shutdown| {
            tokio::spawn(serve_grpc(listener, echo_server(service), shutdown))
        })
        .await;
        (upstream, stats)
    }

    /// Serves the HTTP demo upstream named `name`.
    async fn http(name: &str) -> Self {
        let name = name.to_owned();
        Self::start(|listener, shutdown| tokio::spawn(serve_http(listener, name, shutdown))).await
    }

    async fn start(spawn: impl FnOnce(TcpListener, ShutdownSignal) -> JoinHandle<()>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let task = spawn(
            listener,
            Box::pin(async move {
                let _ = shutdown_rx.await;
            }),
        );
        Self {
            addr,
            shutdown: Some(shutdown),
            task,
        }
    }

    /// A tonic client with the same 256 MiB message limits as the server.
    async fn echo_client(&self) -> EchoClient<Channel> {
        EchoClient::connect(format!("http://{}", self.addr))
            .await
            .unwrap()
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }

    fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    /// Signals shutdown and waits (bounded) for the serve future to return.
    async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            shutdown.send(()).unwrap();
        }
        tokio::time::timeout(HANG_LIMIT, &mut self.task)
            .await
            .expect("serve returns after shutdown")
            .unwrap();
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn request(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.to_owned(),
        ..EchoRequest::default()
    }
}
