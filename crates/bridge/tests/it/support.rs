//! What the bridge tests share: a bridge from YAML, waiting, and framed TCP clients.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use yardmaster_bridge::{Bridge, BridgeHandle, BridgeMetrics};
use yardmaster_cluster::{Cluster, ClusterMetrics};

/// Every wait in these tests is bounded by this; it only guards against a hang.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A bridge serving in-process, built from a YAML configuration, with its cluster.
pub(crate) struct TestBridge {
    pub(crate) addr: SocketAddr,
    pub(crate) handle: BridgeHandle,
    /// The bridge's cluster, started (health checks, housekeeping).
    pub(crate) cluster: Arc<Cluster>,
    registry: Registry,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestBridge {
    /// Starts the first bridge of `yaml` (which must listen on `127.0.0.1:0`) and its
    /// cluster (which must list its endpoints).
    pub(crate) async fn start(yaml: &str) -> TestBridge {
        let config =
            yardmaster_config::from_str(yaml, "bridge.yaml").unwrap_or_else(|e| panic!("{e}"));
        let bridge_config = &config.bridges[0];
        let cluster_config = config
            .clusters
            .iter()
            .find(|c| c.name == bridge_config.cluster)
            .unwrap();
        let mut registry = Registry::default();
        let cluster = Arc::new(Cluster::new(
            cluster_config,
            &ClusterMetrics::new(&mut registry),
        ));
        cluster.start();
        let metrics = BridgeMetrics::new(&mut registry);
        let bridge = Bridge::bind(bridge_config, cluster.clone(), &metrics)
            .await
            .unwrap();
        let addr = bridge.local_addr().unwrap();
        let handle = bridge.handle();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(bridge.serve(async {
            let _ = stopped.await;
        }));
        TestBridge {
            addr,
            handle,
            cluster,
            registry,
            stop: Some(stop),
            task,
        }
    }

    /// Waits until `n` upstreams are ready.
    pub(crate) async fn wait_ready_upstreams(&self, n: usize) {
        eventually(|| self.handle.upstreams().iter().filter(|u| u.ready).count() == n).await;
    }

    /// The value of a metric line starting with `prefix` (name and labels), 0 if absent.
    pub(crate) fn metric(&self, prefix: &str) -> u64 {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(prefix))
            .map_or(0, |value| value.trim().parse().unwrap())
    }

    /// Stops the bridge and waits for it to finish.
    pub(crate) async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(WAIT, &mut self.task)
            .await
            .expect("bridge stops")
            .unwrap();
    }
}

/// Polls `condition` every 10 ms until it holds, for at most [`WAIT`]. Use sparingly: only
/// for state that can only be polled.
pub(crate) async fn eventually(mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The YAML of a bridge on `127.0.0.1:0` in front of `upstreams`, with extra bridge keys.
pub(crate) fn bridge_yaml(upstreams: &[SocketAddr], extra: &str) -> String {
    let endpoints: Vec<String> = upstreams.iter().map(ToString::to_string).collect();
    let extra: String = extra
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("    {}\n", l.trim()))
        .collect();
    format!(
        "listeners: []\nbridges:\n  - name: b\n    listen: 127.0.0.1:0\n    cluster: up\n{extra}clusters:\n  - name: up\n    endpoints: [{}]\n",
        endpoints.join(", ")
    )
}

/// A `lines` client of the bridge.
pub(crate) struct LineClient {
    pub(crate) socket: TcpStream,
    buffer: Vec<u8>,
}

impl LineClient {
    pub(crate) async fn connect(addr: SocketAddr) -> LineClient {
        LineClient {
            socket: TcpStream::connect(addr).await.unwrap(),
            buffer: Vec::new(),
        }
    }

    pub(crate) async fn send(&mut self, line: &str) {
        self.socket
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
    }

    /// The next line, without its newline; `None` at end of stream.
    pub(crate) async fn recv(&mut self) -> Option<String> {
        within(async {
            loop {
                if let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = self.buffer.drain(..=end).collect();
                    return Some(String::from_utf8(line[..end].to_vec()).unwrap());
                }
                let mut chunk = [0u8; 4096];
                match self.socket.read(&mut chunk).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                }
            }
        })
        .await
    }

    /// Sends `line` and expects it back.
    pub(crate) async fn echo(&mut self, line: &str) {
        self.send(line).await;
        assert_eq!(self.recv().await.as_deref(), Some(line));
    }

    /// Reads until end of stream; returns how many bytes came before it.
    pub(crate) async fn read_to_end(&mut self) -> usize {
        let mut rest = Vec::new();
        within(async {
            let _ = self.socket.read_to_end(&mut rest).await;
        })
        .await;
        self.buffer.len() + rest.len()
    }
}

/// `future`, bounded by [`WAIT`].
pub(crate) async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, future)
        .await
        .expect("finished within the time limit")
}
