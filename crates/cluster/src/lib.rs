//! Clusters: named groups of upstream endpoints, how one is chosen, and how to reach it.
//!
//! Owns balancing ([`EndpointSet`] snapshots read lock free by round robin, least request,
//! random, smooth weighted round robin or a consistent hash ring), upstream connections
//! (multiplexed HTTP/2 connections per endpoint, a keep-alive HTTP/1.1 pool), active
//! health checks and passive outlier ejection (background tasks owned by each
//! [`Cluster`] that publish new snapshots), circuit breaking, retries with a budget, and
//! membership: the one place where discovery updates, operator changes and housekeeping
//! change an endpoint set. Bodies and trailers stream through; only a retried
//! request body is kept, up to a limit. It does not own routing, deadlines or the
//! responses shown to clients (see `proxy`).

mod balancer;
mod circuit_breaker;
mod cluster;
mod cluster_set;
mod endpoint;
mod endpoint_channel;
mod endpoint_factory;
mod endpoint_set;
mod endpoint_tasks;
mod endpoint_watch;
mod error;
mod h2_pool;
mod h2_stream;
mod hash_ring;
mod health_check;
mod health_state;
mod home_thread;
mod maintenance;
mod membership;
mod metrics;
mod outlier;
mod replay_body;
mod response_stream;
mod retry;
mod retry_budget;
mod round_robin;
mod set_changes;
mod shared;
mod upstream_body;
mod weighted_schedule;

pub use cluster::{Cluster, ClusterStatus, DiscoveryFeed};
pub use cluster_set::ClusterSet;
pub use endpoint::{Endpoint, EndpointStatus, InFlight};
pub use endpoint_channel::EndpointChannel;
pub use endpoint_set::EndpointSet;
pub use endpoint_tasks::EndpointTasks;
pub use error::ClusterError;
pub use h2_stream::Http2Error;
pub use home_thread::keep_connections_on_this_thread;
pub use membership::DiscoveryStatus;
pub use metrics::ClusterMetrics;
pub use round_robin::RoundRobin;
pub use set_changes::ControlError;
pub use upstream_body::{StreamIdleError, UpstreamBody};
pub use yardmaster_core::EndpointState;
