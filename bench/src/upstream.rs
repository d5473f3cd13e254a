//! The upstreams every target forwards to, in this process on a runtime of their own: the
//! demo Echo gRPC service, four more of it (mirror and fan-out targets), the demo HTTP
//! service, the demo crate's echo bridge upstream and a plain TCP echo server. Two more
//! Echo services, the copy targets of the `mirror` scenario, run on threads at the lowest
//! CPU priority, as if on other hosts.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use yardmaster_demo::{EchoService, EchoUpstream};

use crate::scenario::{FANOUT_ENDPOINTS, MIRROR_TARGETS};

/// Every upstream, serving until dropped.
pub(crate) struct Upstreams {
    /// The Echo gRPC service (h2c).
    pub(crate) grpc: SocketAddr,
    /// More Echo services: `fanout` calls go to all, the copies of the `mirror` route
    /// whose copy targets share the cores to the first two.
    pub(crate) grpc_extra: Vec<SocketAddr>,
    /// Two Echo services at the lowest CPU priority: the copy targets of the `mirror`
    /// route, which take only the CPU the rest leaves, as copy targets on other hosts
    /// would take none of this machine's.
    pub(crate) copy_targets: Vec<SocketAddr>,
    /// The HTTP service (HTTP/1.1 and h2).
    pub(crate) http: SocketAddr,
    /// The echo bridge upstream (`yardmaster.bridge.v1.BridgeUpstream`, h2c).
    pub(crate) bridge: SocketAddr,
    /// A plain TCP echo server: every byte read is written back.
    pub(crate) tcp_echo: SocketAddr,
    runtime: Option<Runtime>,
    copy_runtime: Option<Runtime>,
}

/// The nice value of the copy targets' threads: the lowest priority.
#[cfg(target_os = "linux")]
const COPY_TARGET_NICE: i32 = 19;

impl Upstreams {
    /// Binds each on `127.0.0.1:0` and starts serving on two new multi-thread runtimes.
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
        let copy_runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("copy-target")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()
            .context("starting the copy targets' runtime")?;
        let mut copy_targets = Vec::with_capacity(MIRROR_TARGETS);
        for index in 1..=MIRROR_TARGETS {
            let listener = copy_runtime.block_on(TcpListener::bind("127.0.0.1:0"))?;
            copy_targets.push(listener.local_addr()?);
            copy_runtime.spawn(yardmaster_demo::serve_grpc(
                listener,
                yardmaster_demo::echo_server(EchoService::new(format!("copy-{index}"))),
                std::future::pending(),
            ));
        }
        Ok(Upstreams {
            grpc: grpc_addr,
            grpc_extra,
            copy_targets,
            http: http_addr,
            bridge: bridge_addr,
            tcp_echo: tcp_echo_addr,
            runtime: Some(runtime),
            copy_runtime: Some(copy_runtime),
        })
    }
}

/// Lowers the calling thread's CPU priority (Linux: on a thread ID `setpriority(2)`
/// changes that thread alone).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let thread = rustix::thread::gettid();
        if let Err(error) = rustix::process::setpriority_process(Some(thread), COPY_TARGET_NICE) {
            eprintln!("the copy targets run at normal CPU priority: lowering it failed: {error}");
        }
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
            copy_targets: (0..MIRROR_TARGETS as u16).map(|i| port(30 + i)).collect(),
            runtime: None,
            copy_runtime: None,
        }
    }
}

impl Drop for Upstreams {
    fn drop(&mut self) {
        for runtime in [self.runtime.take(), self.copy_runtime.take()]
            .into_iter()
            .flatten()
        {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}
