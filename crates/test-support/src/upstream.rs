//! Upstreams for tests: the demo echo service and HTTP service, killable at will.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};
use yardmaster_demo::pb::echo_client::EchoClient;
use yardmaster_demo::{EchoService, EchoStats};

/// A demo `Echo` gRPC upstream on `127.0.0.1:<ephemeral>`.
pub struct TestUpstream {
    addr: SocketAddr,
    stats: EchoStats,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestUpstream {
    /// Starts an echo upstream that reports `name` as `served_by`.
    pub async fn echo(name: &str) -> TestUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding upstream");
        let addr = listener.local_addr().expect("upstream address");
        let service = EchoService::new(name);
        let stats = service.stats();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(yardmaster_demo::serve_grpc(
            listener,
            yardmaster_demo::echo_server(service),
            async move {
                let _ = stopped.await;
            },
        ));
        TestUpstream {
            addr,
            stats,
            stop: Some(stop),
            task,
        }
    }

    /// The upstream's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its call counters.
    pub fn stats(&self) -> &EchoStats {
        &self.stats
    }

    /// Kills it like a crashed process: every connection and stream is cut at once.
    pub async fn kill(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }

    /// Stops it gracefully: GOAWAY, in-flight calls finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// The demo HTTP upstream on `127.0.0.1:<ephemeral>`.
pub struct HttpUpstream {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl HttpUpstream {
    /// Starts the demo HTTP service, reporting `name` as `served_by`.
    pub async fn start(name: &str) -> HttpUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding upstream");
        let addr = listener.local_addr().expect("upstream address");
        let task = tokio::spawn(yardmaster_demo::serve_http(
            listener,
            name.to_owned(),
            std::future::pending(),
        ));
        HttpUpstream { addr, task }
    }

    /// The upstream's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for HttpUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Drop for TestUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A demo `Echo` client for `addr` over h2c, with message limits raised to 256 MiB.
pub async fn echo_client(addr: SocketAddr) -> EchoClient<Channel> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint URI")
        .connect()
        .await
        .expect("connecting the echo client");
    EchoClient::new(channel)
        .max_decoding_message_size(yardmaster_demo::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(yardmaster_demo::MAX_MESSAGE_BYTES)
}
