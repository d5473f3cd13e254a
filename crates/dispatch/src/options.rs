//! How a [`Dispatcher`](crate::Dispatcher) connects to its endpoints.

use std::time::Duration;

use yardmaster_config::{
    BalancingConfig, ClusterConfig, ConnectionConfig, HealthCheckConfig, HealthCheckKind,
    InitialHealth, Protocol,
};

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
    /// each endpoint checked with a TCP connect every 2 s.
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

    /// How often each endpoint is checked with a TCP connect: an endpoint that refuses is
    /// tried again this often, and one that stops accepting is taken out within it.
    pub fn reconnect_backoff_max(mut self, max: Duration) -> ChannelOptions {
        self.reconnect_backoff_max = max;
        self
    }

    pub(crate) fn dns_refresh_interval(&self) -> Duration {
        self.dns_refresh
    }

    /// The configuration of the dispatcher's cluster, named `name`: HTTP/2 towards every
    /// endpoint, and a TCP health check every `reconnect_backoff_max` that makes a new
    /// endpoint eligible once it accepts a connection and takes one that refuses out.
    pub(crate) fn cluster(&self, name: &str) -> ClusterConfig {
        let connection = ConnectionConfig {
            keepalive_interval: self.keepalive_interval,
            ..ConnectionConfig::default()
        };
        ClusterConfig {
            name: name.to_owned(),
            protocol: Protocol::Grpc,
            connect_timeout: self.connect_timeout,
            endpoints: Vec::new(),
            discovery: None,
            balancing: BalancingConfig::default(),
            health_check: Some(HealthCheckConfig {
                kind: HealthCheckKind::Tcp,
                service: String::new(),
                path: None,
                expected_status_min: 200,
                expected_status_max: 399,
                interval: self.reconnect_backoff_max,
                jitter: Duration::ZERO,
                timeout: self.connect_timeout,
                healthy_threshold: 1,
                unhealthy_threshold: 1,
                initial_state: InitialHealth::Unhealthy,
            }),
            outlier_detection: None,
            panic_mode: false,
            circuit_breaker: None,
            retry: None,
            connection,
            attempt_timeout: None,
            stream_idle_timeout: None,
        }
    }
}
