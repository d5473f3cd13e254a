//! The upstreams every target forwards to: the demo Echo gRPC service and the demo HTTP
//! service, in this process on a runtime of their own.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use yardmaster_demo::EchoService;

/// Both upstreams, serving until dropped.
pub(crate) struct Upstreams {
    /// The Echo gRPC service (h2c).
    pub(crate) grpc: SocketAddr,
    /// The HTTP service (HTTP/1.1 and h2).
    pub(crate) http: SocketAddr,
    runtime: Option<Runtime>,
}

impl Upstreams {
    /// Binds both on `127.0.0.1:0` and starts serving on a new multi-thread runtime.
    pub(crate) fn start() -> anyhow::Result<Upstreams> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("upstream")
            .enable_all()
            .build()
            .context("starting the upstreams' runtime")?;
        let (grpc, http) = runtime.block_on(async {
            let grpc = TcpListener::bind("127.0.0.1:0").await?;
            let http = TcpListener::bind("127.0.0.1:0").await?;
            Ok::<_, std::io::Error>((grpc, http))
        })?;
        let grpc_addr = grpc.local_addr()?;
        let http_addr = http.local_addr()?;
        // Both serve until the runtime is dropped with `Upstreams`.
        runtime.spawn(yardmaster_demo::serve_grpc(
            grpc,
            yardmaster_demo::echo_server(EchoService::new("bench")),
            std::future::pending(),
        ));
        runtime.spawn(yardmaster_demo::serve_http(
            http,
            "bench",
            std::future::pending(),
        ));
        Ok(Upstreams {
            grpc: grpc_addr,
            http: http_addr,
            runtime: Some(runtime),
        })
    }
}

#[cfg(test)]
impl Upstreams {
    /// Addresses only, nothing serving: for configuration tests.
    pub(crate) fn addresses(grpc: SocketAddr, http: SocketAddr) -> Upstreams {
        Upstreams {
            grpc,
            http,
            runtime: None,
        }
    }
}

impl Drop for Upstreams {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}
