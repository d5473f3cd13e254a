//! Clusters: named groups of upstream endpoints and the clients that reach them.
//!
//! Owns choosing an endpoint ([`RoundRobin`] over an [`EndpointSet`] snapshot) and sending a
//! request to it over a pooled connection: one multiplexed HTTP/2 connection per endpoint
//! for `grpc`/`http2` clusters, a keep-alive HTTP/1.1 pool for `http1` clusters. Bodies and
//! trailers stream through; nothing is buffered. It does not own routing, deadlines or the
//! responses shown to clients (see `proxy`), nor where endpoints come from (discovery and
//! health checks will write new [`EndpointSet`] snapshots; the data path only reads them).

mod cluster;
mod cluster_set;
mod endpoint;
mod error;
mod h2_connection;
mod metrics;
mod round_robin;

pub use cluster::{Cluster, ClusterStatus};
pub use cluster_set::ClusterSet;
pub use endpoint::{Endpoint, EndpointSet, EndpointStatus};
pub use error::ClusterError;
pub use metrics::ClusterMetrics;
pub use round_robin::RoundRobin;
