//! The registry served over loopback by a real tonic server and driven by the generated
//! client: registration, listing, watching and refusals as a registrant sees them.

// Marks the whole binary as test code, so the helpers below get the same `unwrap`/`expect`
// allowance from clippy.toml as the test functions.
#![cfg(test)]

mod grpc;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Channel;
use yardmaster_registry::pb::registry_client::RegistryClient;
use yardmaster_registry::{Policy, Registry};

/// Guards against hangs only; tests wait for events, never for time.
const HANG_LIMIT: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test if it takes longer than [`HANG_LIMIT`].
async fn bounded<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG_LIMIT, future)
        .await
        .expect("no answer in time")
}

/// Registrations from loopback, with `tokens`.
fn loopback_policy(tokens: &[&str]) -> Policy {
    Policy {
        allow: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
        tokens: tokens.iter().map(|token| (*token).to_owned()).collect(),
        min_ttl: Duration::from_secs(1),
        max_ttl: Duration::from_secs(3600),
        max_instances: 100,
    }
}

/// A registry served on a loopback port; shut down when dropped.
struct Served {
    registry: Registry,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Served {
    async fn start(policy: Policy) -> Served {
        let registry = Registry::open(None, policy).unwrap();
        registry.start();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, signal) = oneshot::channel::<()>();
        let service = registry.grpc_service();
        let task = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .serve_with_incoming_shutdown(service, TcpListenerStream::new(listener), async {
                    let _ = signal.await;
                })
                .await
                .unwrap();
        });
        Served {
            registry,
            addr,
            shutdown: Some(shutdown),
            task,
        }
    }

    async fn client(&self) -> RegistryClient<Channel> {
        bounded(RegistryClient::connect(format!("http://{}", self.addr)))
            .await
            .unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.task.abort();
    }
}
