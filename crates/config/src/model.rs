//! The configuration file as serde structs: one struct per YAML mapping.
//!
//! Fields are typed wherever serde can check them while parsing (socket addresses,
//! durations, status codes, regular expressions), so such errors carry the exact location.
//! Cross-references and rules spanning several fields are checked by `validate`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use yardmaster_core::GrpcCode;

use crate::duration;
use crate::pattern::Pattern;
use crate::socket_addr;

mod bridge;
mod cluster;
mod envelope;
mod fanout;
mod mirror;
mod registry;
mod transcode;

pub use bridge::*;
pub use cluster::*;
pub use envelope::*;
pub use fanout::*;
pub use mirror::*;
pub use registry::*;
pub use transcode::*;

/// The whole file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The admin HTTP listener; absent means no admin listener.
    #[serde(default)]
    pub admin: Option<AdminConfig>,
    /// Logging format and the access log.
    #[serde(default)]
    pub log: LogConfig,
    /// How long in-flight calls may take to finish after SIGTERM/SIGINT.
    #[serde(default = "default_drain_timeout", with = "duration")]
    pub drain_timeout: Duration,
    /// Threads serving downstream connections, each with its own upstream connections;
    /// absent means one per CPU core.
    #[serde(default)]
    pub workers: Option<usize>,
    /// Where the gateway accepts downstream connections, each with its ordered routes.
    pub listeners: Vec<ListenerConfig>,
    /// Named groups of upstream endpoints that routes send to.
    #[serde(default)]
    pub clusters: Vec<ClusterConfig>,
    /// TCP bridge listeners: raw TCP clients multiplexed onto gRPC upstream streams.
    #[serde(default)]
    pub bridges: Vec<BridgeConfig>,
    /// Where services register themselves (see `registry` routes and discovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryConfig>,
}

/// 30 s: long enough for ordinary unary calls to finish, short enough for a rolling deploy.
fn default_drain_timeout() -> Duration {
    Duration::from_secs(30)
}

/// The admin listener.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address of the admin HTTP API (`/healthz`, `/ready`, `/config`, `/clusters`, `/metrics`).
    #[serde(deserialize_with = "socket_addr::deserialize")]
    pub listen: SocketAddr,
}

/// Log output.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (default) for people, `json` for log pipelines.
    #[serde(default)]
    pub format: LogFormat,
    /// Whether one line per call is logged at target `yardmaster::access` (default on).
    #[serde(default = "default_true")]
    pub access_log: bool,
}

fn default_true() -> bool {
    true
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            format: LogFormat::default(),
            access_log: true,
        }
    }
}

/// Log line format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// One downstream listener.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Unique name, used in logs and metric labels.
    pub name: String,
    /// Address to bind. HTTP/1.1 and HTTP/2 (prior knowledge) are both served on it.
    #[serde(deserialize_with = "socket_addr::deserialize")]
    pub listen: SocketAddr,
    /// Serve TLS with these PEM files; ALPN then picks `h2` or `http/1.1`.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Routes tried in order; the first that matches handles the request.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Connections served at once; further clients wait in the kernel's accept queue.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Add `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host` to forwarded
    /// requests and `Via` to forwarded requests and responses.
    #[serde(default = "default_forwarded_headers")]
    pub forwarded_headers: bool,
}

fn default_forwarded_headers() -> bool {
    true
}

/// 10,000: far above what one 2-core gateway serves busily, low enough to keep a
/// connection flood from exhausting file descriptors.
fn default_max_connections() -> usize {
    10_000
}

/// Certificate and key of a TLS listener.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the certificate chain, leaf first. Relative paths are relative to the
    /// configuration file.
    pub cert_file: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// One route: what it matches, and exactly one action.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Name used in logs and metrics; defaults to `<listener>#<index>`.
    #[serde(default)]
    pub name: Option<String>,
    /// Conditions that must all hold; an empty match matches every request.
    #[serde(default, rename = "match")]
    pub matcher: MatchConfig,
    /// Action: send the request to a cluster.
    #[serde(default)]
    pub forward: Option<ForwardConfig>,
    /// Action: refuse the request with a fixed status.
    #[serde(default)]
    pub deny: Option<DenyConfig>,
    /// Action: send each call to several clusters, filtered by message type.
    #[serde(default)]
    pub mirror: Option<MirrorConfig>,
    /// Action: send each call to every healthy endpoint of a cluster.
    #[serde(default)]
    pub fanout: Option<FanoutConfig>,
    /// Action: call a gRPC method for an HTTP/JSON request, by descriptors.
    #[serde(default)]
    pub transcode: Option<TranscodeConfig>,
    /// Action: wrap the HTTP request as a gRPC message for a cluster that answers with the
    /// HTTP response.
    #[serde(default)]
    pub envelope: Option<EnvelopeConfig>,
    /// Action: serve the registry's API (`yardmaster.registry.v1.Registry`).
    #[serde(default)]
    pub registry: Option<RegistryRouteConfig>,
}

/// Request conditions of a route. All given conditions must hold.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    /// `:authority` / `Host` without port: exact (`api.example.com`) or a suffix
    /// (`*.example.com`, which does not match `example.com` itself).
    #[serde(default)]
    pub authority: Option<String>,
    /// Request path condition.
    #[serde(default)]
    pub path: Option<PathMatchConfig>,
    /// gRPC service (`package.Service`), exact or with a trailing `*`
    /// (`com.example.internal.*`). Only gRPC requests match.
    #[serde(default)]
    pub service: Option<String>,
    /// gRPC method name, exact or with a trailing `*`. Only gRPC requests match.
    #[serde(default)]
    pub method: Option<String>,
    /// Header (or gRPC metadata) conditions.
    #[serde(default)]
    pub headers: Vec<HeaderMatchConfig>,
}

/// A path condition: exactly one of the three keys.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PathMatchConfig {
    /// The path starts with this string.
    #[serde(default)]
    pub prefix: Option<String>,
    /// The path (without query) equals this string.
    #[serde(default)]
    pub exact: Option<String>,
    /// The path (without query) matches this regular expression in full.
    #[serde(default)]
    pub regex: Option<Pattern>,
}

/// A header condition: the header is present, or (with `exact`) one of its values equals.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatchConfig {
    /// Header name, case-insensitive.
    pub name: String,
    /// Required value; absent means "present with any value".
    #[serde(default)]
    pub exact: Option<String>,
}

/// The `forward` action.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {
    /// Name of the cluster that receives the request.
    pub cluster: String,
    /// Rewrites applied before forwarding.
    #[serde(default)]
    pub rewrite: Option<RewriteConfig>,
    /// The longest a call may take, end to end; a shorter client `grpc-timeout` wins.
    #[serde(default, with = "duration::option")]
    pub timeout: Option<Duration>,
}

/// Rewrites of a forwarded request.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RewriteConfig {
    /// Replaces the part of the path matched by the route's `path.prefix`.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Replaces `:authority` / `Host`.
    #[serde(default)]
    pub host: Option<String>,
}

/// The `deny` action.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DenyConfig {
    /// Status of a denied gRPC call (default `permission_denied`).
    #[serde(default = "default_deny_grpc_status")]
    pub grpc_status: GrpcCode,
    /// HTTP status of a denied non-gRPC request (default 403).
    #[serde(default = "default_deny_http_status")]
    pub http_status: u16,
    /// Message sent as `grpc-message` or as the HTTP body.
    #[serde(default = "default_deny_message")]
    pub message: String,
}

fn default_deny_grpc_status() -> GrpcCode {
    GrpcCode::PermissionDenied
}

fn default_deny_http_status() -> u16 {
    403
}

fn default_deny_message() -> String {
    "denied by gateway policy".to_owned()
}
