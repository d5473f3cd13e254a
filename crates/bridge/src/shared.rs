//! The state a bridge's accept loop, sessions, upstream tasks and handles share, and
//! what they do with it: connecting to an upstream and delivering a frame to a client.

use std::net::SocketAddr;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tonic::transport::Channel;
use yardmaster_config::BridgeConfig;

use crate::frame::Codec;
use crate::link::stopped;
use crate::metrics::BridgeSeries;
use crate::registry::{Client, Refused, Registry};
use crate::upstream::{Upstream, UpstreamSet};

/// State shared by a bridge's accept loop, sessions, upstream tasks and handles.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) name: Arc<str>,
    pub(crate) config: BridgeConfig,
    pub(crate) connect_timeout: Duration,
    pub(crate) codec: Codec,
    pub(crate) registry: Registry,
    pub(crate) upstreams: UpstreamSet,
    pub(crate) metrics: BridgeSeries,
    /// Sessions running now, counted from accept (before the client is registered).
    pub(crate) sessions: AtomicUsize,
}

impl Shared {
    /// Opens an HTTP/2 connection to an endpoint, with PINGs every `keepalive_interval`.
    pub(crate) async fn connect(&self, address: SocketAddr) -> Result<Channel, String> {
        let interval = self.config.keepalive_interval;
        tonic::transport::Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| e.to_string())?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(interval)
            .keep_alive_timeout(interval)
            .keep_alive_while_idle(true)
            .connect()
            .await
            .map_err(|e| format!("connecting: {}", with_sources(&e)))
    }

    /// Connects to `upstream`, giving up with "stopped" as soon as `stop` is set; the error is
    /// the reason the stream to it ends.
    pub(crate) async fn connect_unless_stopped(
        &self,
        upstream: &Upstream,
        stop: &watch::Receiver<bool>,
    ) -> Result<Channel, String> {
        tokio::select! {
            channel = self.connect(upstream.address()) => channel,
            () = stopped(stop) => Err("stopped".to_owned()),
        }
    }

    /// Queues a frame from an upstream for a client, counting what was refused.
    pub(crate) fn deliver(&self, client: &Client, payload: Bytes) {
        match client.enqueue(payload) {
            Ok(()) => {}
            Err(Refused::QueueFull) => tracing::debug!(
                bridge = %self.name,
                client = %client.id_text,
                "send queue full; closing the client"
            ),
            Err(Refused::Closing) => {}
        }
    }
}

/// An error and its sources, `outer: inner: innermost` (tonic's transport error alone
/// only says "transport error").
fn with_sources(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}
