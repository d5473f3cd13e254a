//! Shared vocabulary of Yardmaster, used by every other crate.
//!
//! Owns the words the data path speaks: the [`Body`] type every hop hands on, gRPC status
//! codes ([`GrpcCode`]), the `grpc-timeout` header ([`grpc_timeout`]), gRPC message framing
//! ([`grpc_frame`]), [`Fault`], which says whose fault an error is, [`Cause`], why the
//! gateway answers a call itself, with the one table of the statuses it then makes
//! ([`Cause::status`]), and [`EndpointChange`], how discovery sources and operators change
//! a cluster's endpoints, and [`Backoff`], how long to wait before trying again. It does no I/O and needs no runtime; network code lives in
//! `proxy`, `cluster` and friends.

mod backoff;
pub mod body;
mod cause;
mod endpoint_change;
mod fault;
pub mod grpc;
pub mod grpc_frame;
pub mod grpc_timeout;
mod unix_time;

pub use backoff::Backoff;
pub use body::{Body, BoxError};
pub use cause::{Cause, Status};
pub use endpoint_change::{DiscoveredEndpoint, EndpointChange, EndpointState};
pub use fault::Fault;
pub use grpc::GrpcCode;
pub use unix_time::unix_ms_now;
