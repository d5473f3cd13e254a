//! The upstreams every target forwards to, in this process on a runtime of their own: the
//! demo Echo gRPC service, four more of it (mirror and fan-out targets), the demo HTTP
//! service, the bridge crate's echo bridge upstream and a plain TCP echo server.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use yardmaster_bridge::EchoUpstream;
use yardmaster_demo::EchoService;

use crate::scenario::FANOUT_ENDPOINTS;

/// Every upstream, serving until dropped.
pub(crate) struct Upstreams {
    /// The Echo gRPC service (h2c).
    pub(crate) grpc: SocketAddr,
    /// More Echo services: the `mirror` copies go to the first two, `fanout` to all.
    pub(crate) grpc_extra: Vec<SocketAddr>,
    /// The HTTP service (HTTP/1.1 and h2).
    pub(crate) http: SocketAddr,
    /// The echo bridge upstream (`yardmaster.bridge.v1.BridgeUpstream`, h2c).
    pub(crate) bridge: SocketAddr,
    /// A plain TCP echo server: every byte read is written back.
    pub(crate) tcp_echo: SocketAddr,
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
        let bind = || runtime.block_on(TcpListener::bind("127.0.0.1:0"));
        let (grpc, http, bridge, tcp_echo) = (bind()?, bind()?, bind()?, bind()?);
        let grpc_addr = grpc.local_addr()?;
        let http_addr = http.local_addr()?;
        let bridge_addr = bridge.local_addr()?;
        let tcp_echo_addr = tcp_echo.local_addr()?;
        let mut grpc_extra = Vec::with_capacity(FANOUT_ENDPOINTS);
        for index in 1..=FANOUT_ENDPOINTS {
            let listener = bind()?;
            grpc_extra.push(listener.local_addr()?);
            runtime.spawn(yardmaster_demo::serve_grpc(
                listener,
                yardmaster_demo::echo_server(EchoService::new(format!("bench-{index}"))),
                std::future::pending(),
            ));
        }
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
        runtime.spawn(yardmaster_demo::serve_grpc(
            bridge,
            EchoUpstream::new().into_server(),
            std::future::pending(),
        ));
        runtime.spawn(serve_tcp_echo(tcp_echo));
        Ok(Upstreams {
            grpc: grpc_addr,
            grpc_extra,
            http: http_addr,
            bridge: bridge_addr,
            tcp_echo: tcp_echo_addr,
            runtime: Some(runtime),
        })
    }
}

/// Echoes every byte back on each accepted connection, until the runtime is dropped.
async fn serve_tcp_echo(listener: TcpListener) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            // Out of file descriptors, say: keep serving the connections already open.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        tokio::spawn(echo_connection(socket));
    }
}

async fn echo_connection(mut socket: TcpStream) {
    let _ = socket.set_nodelay(true);
    let mut buffer = vec![0_u8; 16 * 1024];
    loop {
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => {
                let Some(bytes) = buffer.get(..read) else {
                    return;
                };
                if socket.write_all(bytes).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
impl Upstreams {
    /// Addresses only, nothing serving: for configuration tests.
    pub(crate) fn addresses(grpc: SocketAddr, http: SocketAddr) -> Upstreams {
        let port = |offset: u16| SocketAddr::new(grpc.ip(), grpc.port() + offset);
        Upstreams {
            grpc,
            grpc_extra: (0..FANOUT_ENDPOINTS as u16).map(|i| port(10 + i)).collect(),
            http,
            bridge: port(20),
            tcp_echo: port(21),
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
