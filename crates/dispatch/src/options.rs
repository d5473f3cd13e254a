//! How a [`Dispatcher`](crate::Dispatcher) connects to its endpoints.

use std::net::SocketAddr;
use std::time::Duration;

use tonic::transport::Endpoint;

/// Connection settings for every endpoint of a dispatcher. Built from
/// `ChannelOptions::default()` and the setters.
#[derive(Clone, Debug)]
pub struct ChannelOptions {
    connect_timeout: Duration,
    keepalive_interval: Option<Duration>,
    dns_refresh: Duration,
    reconnect_backoff_max: Duration,
}

impl Default for ChannelOptions {
    /// Connect within 2 s (far above a healthy connect, short enough to move on), no
    /// HTTP/2 keepalive pings (gRPC servers refuse frequent ones), DNS every 30 s, and
    /// reconnect attempts at most 2 s apart.
    fn default() -> ChannelOptions {
        ChannelOptions {
            connect_timeout: Duration::from_secs(2),
            keepalive_interval: None,
            dns_refresh: Duration::from_secs(30),
            reconnect_backoff_max: Duration::from_secs(2),
        }
    }
}

impl ChannelOptions {
    /// How long one TCP connect may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> ChannelOptions {
        self.connect_timeout = timeout;
        self
    }

    /// Send HTTP/2 PINGs this often on idle connections (off by default).
    pub fn keepalive_interval(mut self, interval: Duration) -> ChannelOptions {
        self.keepalive_interval = Some(interval);
        self
    }

    /// How often a `dns://` target is resolved again.
    pub fn dns_refresh(mut self, interval: Duration) -> ChannelOptions {
        self.dns_refresh = interval;
        self
    }

    /// The longest wait between two connection attempts to an endpoint that refuses.
    pub fn reconnect_backoff_max(mut self, max: Duration) -> ChannelOptions {
        self.reconnect_backoff_max = max;
        self
    }

    pub(crate) fn dns_refresh_interval(&self) -> Duration {
        self.dns_refresh
    }

    pub(crate) fn backoff_max(&self) -> Duration {
        self.reconnect_backoff_max
    }

    /// The tonic endpoint for `address`, plaintext HTTP/2.
    pub(crate) fn endpoint(&self, address: SocketAddr) -> Option<Endpoint> {
        let endpoint = Endpoint::from_shared(format!("http://{address}")).ok()?;
        let endpoint = endpoint
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true);
        Some(match self.keepalive_interval {
            Some(interval) => endpoint.http2_keep_alive_interval(interval),
            None => endpoint,
        })
    }
}
