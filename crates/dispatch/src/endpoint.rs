//! One discovered endpoint: its channel, connected eagerly in the background.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use yardmaster_core::Backoff;

use crate::ChannelOptions;

/// The first wait before reconnecting to an endpoint that refused.
const BACKOFF_START: Duration = Duration::from_millis(50);

/// An endpoint of a dispatcher, from its discovery until it leaves.
#[derive(Debug)]
pub(crate) struct EndpointEntry {
    address: SocketAddr,
    /// Connects on first use: handed out until the eager connection is up.
    lazy: Channel,
    connected: watch::Receiver<Option<Channel>>,
    /// The dispatcher's count of connected endpoints, lowered when this one leaves.
    ready_count: Arc<watch::Sender<usize>>,
    task: JoinHandle<()>,
}

impl EndpointEntry {
    /// Starts connecting to `address` in the background; `None` if it cannot be a URI.
    pub(crate) fn new(
        address: SocketAddr,
        options: &ChannelOptions,
        ready_count: Arc<watch::Sender<usize>>,
    ) -> Option<EndpointEntry> {
        let endpoint = options.endpoint(address)?;
        let lazy = endpoint.connect_lazy();
        let (tx, connected) = watch::channel(None);
        let count = ready_count.clone();
        let backoff = Backoff {
            base: BACKOFF_START,
            max: options.backoff_max(),
        };
        let task = tokio::spawn(async move {
            let mut failures = 0_u32;
            loop {
                match endpoint.connect().await {
                    Ok(channel) => {
                        tx.send_replace(Some(channel));
                        count.send_modify(|n| *n += 1);
                        return;
                    }
                    Err(error) => {
                        tracing::debug!(%address, %error, "connect failed; retrying");
                        tokio::time::sleep(backoff.ceiling(failures)).await;
                        failures = failures.saturating_add(1);
                    }
                }
            }
        });
        Some(EndpointEntry {
            address,
            lazy,
            connected,
            ready_count,
            task,
        })
    }

    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// The connected channel, or one that connects on first use. Cheap to clone.
    pub(crate) fn channel(&self) -> Channel {
        match &*self.connected.borrow() {
            Some(channel) => channel.clone(),
            None => self.lazy.clone(),
        }
    }
}

impl Drop for EndpointEntry {
    fn drop(&mut self) {
        self.task.abort();
        if self.connected.borrow().is_some() {
            self.ready_count.send_modify(|n| *n = n.saturating_sub(1));
        }
    }
}
