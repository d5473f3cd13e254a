//! The data path: listeners, the edge service, the routing pipeline and dispatch.
//!
//! Owns everything a request meets between the downstream socket and `Cluster::call`:
//! accepting connections (HTTP/1.1 and HTTP/2 on one port, TLS with ALPN), loading one
//! [`Snapshot`] per request, finding the route, applying its action, forwarding with
//! `X-Forwarded-*` and hop-by-hop handling, gRPC deadlines, and turning every failure into
//! a response (`error_response`), trailers-only for gRPC. It does not own matching
//! (`route`), endpoint choice and connections (`cluster`) or the file format (`config`).
//!
//! Main types: [`Snapshot`] (one immutable config version), [`Edge`] (the front of one
//! listener, where protocol layers plug in), [`Pipeline`] (routing and dispatch as a tower
//! service), [`serve`] (the accept loop), [`Workers`] (the threads serving connections),
//! [`ProxyMetrics`], [`tls::acceptor`].

mod call_id;
mod call_record;
mod dispatch;
mod edge;
mod error_response;
mod forwarded;
mod listener;
mod metrics;
mod pipeline;
mod response_body;
mod snapshot;
mod snapshot_error;
pub mod tls;
mod upgrade;
mod workers;

pub use dispatch::local::{LocalService, LocalServices};
pub use dispatch::mirror::CopyRuntime;
pub use dispatch::own_call;
pub use dispatch::transcode::reflection::fetch as fetch_reflected_descriptors;
pub use edge::Edge;
pub use listener::{serve, ListenerSettings};
pub use metrics::ProxyMetrics;
pub use pipeline::Pipeline;
pub use response_body::ProxyBody;
pub use snapshot::Snapshot;
pub use snapshot_error::SnapshotError;
pub use workers::Workers;
