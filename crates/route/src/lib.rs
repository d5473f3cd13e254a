//! Pure request matching: which route handles a request.
//!
//! Owns the matchers built from a listener's `routes` (authority, path, gRPC service and
//! method, headers) and the ordered [`RouteTable`] that finds the first match. It knows
//! nothing about what a route *does*: the action type `A` is chosen by the caller (the
//! proxy resolves cluster names to clusters once, when a snapshot is built). No I/O, no
//! runtime, no allocation per lookup.

mod grpc_path;
mod matcher;
mod table;

pub use grpc_path::GrpcPath;
pub use matcher::Matcher;
pub use table::{Route, RouteTable};
