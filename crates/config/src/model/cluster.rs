//! Cluster settings: endpoints and their weights, balancing, health checks, outlier
//! detection, circuit breaking, retries and upstream connection management.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{de, Deserialize, Deserializer, Serialize};
use yardmaster_core::GrpcCode;

use crate::duration;
use crate::model::RegistryDiscoveryConfig;
use crate::socket_addr;
pub use crate::socket_addr::EndpointAddress;

/// A named group of upstream endpoints.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Unique name, referenced by routes.
    pub name: String,
    /// How the gateway talks to the endpoints.
    #[serde(default)]
    pub protocol: Protocol,
    /// How long a TCP connect (and, for HTTP/2, the handshake) to an endpoint may take.
    #[serde(default = "default_connect_timeout", with = "duration")]
    pub connect_timeout: Duration,
    /// Endpoints: `"ip:port"`, `"host:port"` (resolved through DNS, as the `dns` source
    /// does) or `{address, weight}`; the short form of `discovery: {static: [...]}`.
    #[serde(default)]
    pub endpoints: Vec<EndpointConfig>,
    /// Where the endpoints come from, when not from `endpoints`: exactly one source.
    #[serde(default)]
    pub discovery: Option<DiscoveryConfig>,
    /// How an endpoint is chosen for each request.
    #[serde(default)]
    pub balancing: BalancingConfig,
    /// Active health checks; absent means every endpoint counts as healthy.
    #[serde(default)]
    pub health_check: Option<HealthCheckConfig>,
    /// Passive ejection of failing endpoints; absent means none.
    #[serde(default)]
    pub outlier_detection: Option<OutlierDetectionConfig>,
    /// When no endpoint is eligible, balance over all of them instead of failing.
    #[serde(default)]
    pub panic_mode: bool,
    /// Limits that make calls fail fast instead of queueing; absent means no limits.
    #[serde(default)]
    pub circuit_breaker: Option<CircuitBreakerConfig>,
    /// Retries of failed calls; absent means no retries.
    #[serde(default)]
    pub retry: Option<RetryConfig>,
    /// HTTP/2 connection management towards the endpoints.
    #[serde(default)]
    pub connection: ConnectionConfig,
    /// The longest one attempt waits for the response head; absent means no limit beyond
    /// the call's deadline. An attempt that times out counts as a failure of its endpoint.
    #[serde(default, with = "duration::option")]
    pub attempt_timeout: Option<Duration>,
    /// Ends a response whose body sends nothing for this long; absent means never.
    #[serde(default, with = "duration::option")]
    pub stream_idle_timeout: Option<Duration>,
}

/// 2 s: far above a healthy connect on any network, short enough to fail over quickly.
fn default_connect_timeout() -> Duration {
    Duration::from_secs(2)
}

/// The protocol spoken to a cluster's endpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// HTTP/2 with prior knowledge (h2c), as gRPC servers speak it.
    #[default]
    Grpc,
    /// HTTP/1.1.
    Http1,
    /// HTTP/2 with prior knowledge (h2c), for plain HTTP services.
    Http2,
}

impl Protocol {
    /// Whether requests to this cluster go over HTTP/2.
    pub fn is_http2(self) -> bool {
        matches!(self, Protocol::Grpc | Protocol::Http2)
    }
}

/// One endpoint: written as `"ip:port"`, `"host:port"` or as a mapping `{address, weight}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EndpointConfig {
    /// `ip:port`, or a host name and port.
    pub address: EndpointAddress,
    /// Relative share of traffic under the `weighted` policy (1..=1000; default 1).
    pub weight: u32,
}

impl EndpointConfig {
    /// An endpoint of weight 1.
    pub fn new(address: SocketAddr) -> EndpointConfig {
        EndpointConfig {
            address: EndpointAddress::Socket(address),
            weight: 1,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointMapping {
    #[serde(deserialize_with = "socket_addr::deserialize_endpoint")]
    address: EndpointAddress,
    #[serde(default = "default_weight")]
    weight: u32,
}

fn default_weight() -> u32 {
    1
}

impl<'de> Deserialize<'de> for EndpointConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<EndpointConfig, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = EndpointConfig;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an endpoint: \"ip:port\", \"host:port\" or {address, weight}")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<EndpointConfig, E> {
                socket_addr::parse_endpoint(text)
                    .map(|address| EndpointConfig { address, weight: 1 })
                    .map_err(E::custom)
            }

            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<EndpointConfig, A::Error> {
                let m = EndpointMapping::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(EndpointConfig {
                    address: m.address,
                    weight: m.weight,
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Where a cluster's endpoints come from: exactly one source.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DiscoveryConfig {
    /// A fixed list, as `endpoints` writes it.
    Static(Vec<EndpointConfig>),
    /// DNS A/AAAA or SRV records.
    Dns(DnsDiscoveryConfig),
    /// A Kubernetes Service's EndpointSlices.
    Kubernetes(KubernetesDiscoveryConfig),
    /// A YAML or JSON file of endpoints, read again when it changes.
    File(FileDiscoveryConfig),
    /// The live instances registered under a service name.
    Registry(RegistryDiscoveryConfig),
}

impl DiscoveryConfig {
    /// The source's kind as the file writes it.
    pub fn kind(&self) -> &'static str {
        match self {
            DiscoveryConfig::Static(_) => "static",
            DiscoveryConfig::Dns(_) => "dns",
            DiscoveryConfig::Kubernetes(_) => "kubernetes",
            DiscoveryConfig::File(_) => "file",
            DiscoveryConfig::Registry(_) => "registry",
        }
    }
}

/// DNS discovery: `name` (A/AAAA) or `srv`, exactly one.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsDiscoveryConfig {
    /// `host:port`: every A and AAAA address of `host`, on `port`.
    #[serde(default)]
    pub name: Option<String>,
    /// An SRV name such as `_grpc._tcp.users.internal`: each record's target on the
    /// record's port, with the record's weight.
    #[serde(default)]
    pub srv: Option<String>,
    /// The shortest wait between two queries, whatever the TTL.
    #[serde(default = "default_min_refresh", with = "duration")]
    pub min_refresh: Duration,
    /// The longest wait between two queries, whatever the TTL.
    #[serde(default = "default_max_refresh", with = "duration")]
    pub max_refresh: Duration,
    /// The name server asked (`ip:port`); absent means the system's (`/etc/resolv.conf`).
    #[serde(default, deserialize_with = "socket_addr::deserialize_option")]
    pub name_server: Option<SocketAddr>,
}

/// 1 s: a TTL of 0 must not mean a query in a loop.
pub fn default_min_refresh() -> Duration {
    Duration::from_secs(1)
}

/// 30 s: a changed record is noticed within half a minute even behind long TTLs.
pub fn default_max_refresh() -> Duration {
    Duration::from_secs(30)
}

/// Kubernetes discovery through the API server.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesDiscoveryConfig {
    /// The Service's name.
    pub service: String,
    /// Its namespace.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// The port: a number, or the name of one of the Service's ports (`grpc`); absent
    /// means the first port of each EndpointSlice.
    #[serde(default)]
    pub port: Option<PortConfig>,
    /// A kubeconfig file whose current context names the API server; absent means the
    /// in-cluster service account, or `KUBECONFIG`.
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
}

fn default_namespace() -> String {
    "default".to_owned()
}

/// A port by number or by name.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum PortConfig {
    /// A port number.
    Number(u16),
    /// A port's name.
    Name(String),
}

/// File discovery.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileDiscoveryConfig {
    /// The file: `endpoints:` followed by a list written as a cluster's `endpoints`
    /// (IP addresses only). Relative to the configuration file's directory.
    pub path: PathBuf,
    /// How often the file is looked at for a change.
    #[serde(default = "default_poll_interval", with = "duration")]
    pub poll_interval: Duration,
}

/// 500 ms: an edit is applied within a second, at the cost of one small read.
pub fn default_poll_interval() -> Duration {
    Duration::from_millis(500)
}

/// How a cluster picks an endpoint.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BalancingConfig {
    /// The policy (default `round_robin`).
    #[serde(default)]
    pub policy: BalancingPolicy,
    /// For `consistent_hash`: what the key is.
    #[serde(default)]
    pub hash_on: Option<HashOn>,
    /// For `hash_on: header`: the header (or gRPC metadata) name.
    #[serde(default)]
    pub hash_header: Option<String>,
}

/// Balancing policies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BalancingPolicy {
    /// Each endpoint in turn.
    #[default]
    RoundRobin,
    /// Power of two choices: of two random endpoints, the one with fewer calls in flight.
    LeastRequest,
    /// Uniformly at random.
    Random,
    /// Smooth weighted round robin by endpoint `weight`.
    Weighted,
    /// The same key goes to the same endpoint (a hash ring).
    ConsistentHash,
}

/// The key of `consistent_hash`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HashOn {
    /// A request header or gRPC metadata key, named by `hash_header`.
    Header,
    /// The `:authority` / `Host`.
    Authority,
    /// The downstream client's IP address.
    ClientAddress,
}

/// Active health checks.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    /// `grpc` (grpc.health.v1.Health/Check), `http` (GET `path`) or `tcp` (connect only).
    pub kind: HealthCheckKind,
    /// For `grpc`: the service name asked about; empty means the whole server.
    #[serde(default)]
    pub service: String,
    /// For `http`: the path to GET.
    #[serde(default)]
    pub path: Option<String>,
    /// For `http`: the lowest passing status (default 200).
    #[serde(default = "default_status_min")]
    pub expected_status_min: u16,
    /// For `http`: the highest passing status (default 399).
    #[serde(default = "default_status_max")]
    pub expected_status_max: u16,
    /// Time between checks of one endpoint.
    #[serde(default = "default_interval", with = "duration")]
    pub interval: Duration,
    /// Up to this much is added at random to each interval, so checks do not synchronise.
    #[serde(default, with = "duration")]
    pub jitter: Duration,
    /// A check that takes longer fails.
    #[serde(default = "default_check_timeout", with = "duration")]
    pub timeout: Duration,
    /// Consecutive passes that make an unhealthy endpoint healthy.
    #[serde(default = "default_healthy_threshold")]
    pub healthy_threshold: u32,
    /// Consecutive failures that make a healthy endpoint unhealthy.
    #[serde(default = "default_unhealthy_threshold")]
    pub unhealthy_threshold: u32,
    /// The state of an endpoint before its first check.
    #[serde(default)]
    pub initial_state: InitialHealth,
}

fn default_status_min() -> u16 {
    200
}

fn default_status_max() -> u16 {
    399
}

/// 5 s: notices a dead endpoint within seconds at negligible cost to it.
fn default_interval() -> Duration {
    Duration::from_secs(5)
}

/// 1 s: a health check is cheap; one that takes longer means the endpoint is in trouble.
fn default_check_timeout() -> Duration {
    Duration::from_secs(1)
}

/// 2: one lucky pass does not bring a flapping endpoint back.
fn default_healthy_threshold() -> u32 {
    2
}

/// 3: one lost check does not take an endpoint out.
fn default_unhealthy_threshold() -> u32 {
    3
}

/// Health check kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthCheckKind {
    /// `grpc.health.v1.Health/Check` answers `SERVING`.
    Grpc,
    /// `GET path` answers a status within the expected range.
    Http,
    /// A TCP connection opens.
    Tcp,
}

/// An endpoint's health before its first check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InitialHealth {
    /// Receives traffic at once.
    #[default]
    Healthy,
    /// Receives traffic only after its first passing check (a ready check).
    Unhealthy,
}

/// Passive outlier detection.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutlierDetectionConfig {
    /// Consecutive failures (connect failure, UNAVAILABLE, HTTP 5xx) that eject an endpoint.
    #[serde(default = "default_consecutive_failures")]
    pub consecutive_failures: u32,
    /// The first ejection's length; each further ejection of the same endpoint lasts longer.
    #[serde(default = "default_base_ejection_time", with = "duration")]
    pub base_ejection_time: Duration,
    /// The longest an ejection lasts.
    #[serde(default = "default_max_ejection_time", with = "duration")]
    pub max_ejection_time: Duration,
    /// At most this percentage of the endpoints is ejected at once (0..=100).
    #[serde(default = "default_max_ejected_percent")]
    pub max_ejected_percent: u32,
}

/// 5: the Envoy default; a few unlucky calls do not eject.
fn default_consecutive_failures() -> u32 {
    5
}

/// 30 s: the Envoy default.
fn default_base_ejection_time() -> Duration {
    Duration::from_secs(30)
}

/// 5 min: an endpoint that keeps failing is still retried now and then.
fn default_max_ejection_time() -> Duration {
    Duration::from_secs(300)
}

/// 50 %: half the capacity always stays in rotation.
fn default_max_ejected_percent() -> u32 {
    50
}

/// Circuit breaking limits of one cluster; each absent limit is unlimited.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreakerConfig {
    /// Calls in flight to the cluster at once.
    #[serde(default)]
    pub max_requests: Option<u32>,
    /// Calls waiting for a connection to open at once.
    #[serde(default)]
    pub max_pending: Option<u32>,
    /// Upstream connections open at once, over all endpoints.
    #[serde(default)]
    pub max_connections: Option<u32>,
}

/// Retries.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in all, the first included (2..=10; default 3).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// gRPC statuses that are retried (default `[unavailable]`); for HTTP requests, 502,
    /// 503 and 504 count as `unavailable`.
    #[serde(default = "default_retry_on")]
    pub retry_on: Vec<GrpcCode>,
    /// Whether a failed connection (nothing reached the endpoint) is retried.
    #[serde(default = "default_true")]
    pub on_connect_failure: bool,
    /// Retries may add at most this percentage of extra load.
    #[serde(default = "default_budget_percent")]
    pub budget_percent: u32,
    /// Retries the budget starts with and can save up, on top of `budget_percent`, so a
    /// quiet cluster can still retry its first failures.
    #[serde(default = "default_budget_burst")]
    pub budget_burst: u32,
    /// The first backoff; each retry doubles it, and a random part of it is waited.
    #[serde(default = "default_backoff_base", with = "duration")]
    pub backoff_base: Duration,
    /// The longest backoff.
    #[serde(default = "default_backoff_max", with = "duration")]
    pub backoff_max: Duration,
    /// A request body larger than this is not kept for replay, so its call is not retried.
    #[serde(default = "default_max_replay_bytes")]
    pub max_replay_bytes: usize,
}

fn default_true() -> bool {
    true
}

fn default_attempts() -> u32 {
    3
}

fn default_retry_on() -> Vec<GrpcCode> {
    vec![GrpcCode::Unavailable]
}

/// 20 %: retries can never more than slightly amplify an outage.
fn default_budget_percent() -> u32 {
    20
}

/// 10: a quiet cluster can still retry its first failures.
fn default_budget_burst() -> u32 {
    10
}

/// 25 ms: a retry goes out quickly but not in the same instant.
fn default_backoff_base() -> Duration {
    Duration::from_millis(25)
}

/// 250 ms: an unlucky call never waits long for its retry.
fn default_backoff_max() -> Duration {
    Duration::from_millis(250)
}

/// 64 KiB: covers most unary requests at a small cost per call.
fn default_max_replay_bytes() -> usize {
    64 * 1024
}

/// HTTP/2 connection management (ignored by `http1` clusters except `idle_timeout`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    /// Streams on one connection before another connection to the endpoint is opened.
    #[serde(default = "default_max_streams")]
    pub max_streams_per_connection: u32,
    /// A connection without streams for this long is closed.
    #[serde(default = "default_idle_timeout", with = "duration")]
    pub idle_timeout: Duration,
    /// Interval of HTTP/2 PINGs that detect a dead peer; absent means none.
    #[serde(default, with = "duration::option")]
    pub keepalive_interval: Option<Duration>,
    /// A PING unanswered for this long closes the connection.
    #[serde(default = "default_keepalive_timeout", with = "duration")]
    pub keepalive_timeout: Duration,
}

/// 100: the common SETTINGS_MAX_CONCURRENT_STREAMS of gRPC servers.
fn default_max_streams() -> u32 {
    100
}

/// 5 min: keeps warm connections through lulls, frees those of a retired endpoint.
fn default_idle_timeout() -> Duration {
    Duration::from_secs(300)
}

/// 20 s: a dead peer is noticed quickly once a PING is sent.
fn default_keepalive_timeout() -> Duration {
    Duration::from_secs(20)
}

impl Default for ConnectionConfig {
    fn default() -> ConnectionConfig {
        ConnectionConfig {
            max_streams_per_connection: default_max_streams(),
            idle_timeout: default_idle_timeout(),
            keepalive_interval: None,
            keepalive_timeout: default_keepalive_timeout(),
        }
    }
}
