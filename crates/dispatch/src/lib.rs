//! Fan a gRPC call out to every endpoint behind one target, following endpoints as they
//! come and go: the library half of Yardmaster's fan-out, usable without the gateway.
//!
//! A [`Dispatcher`] is built from a target (`static://a:1,b:2`, `dns://name:port`,
//! `kubernetes://service.namespace[:port]` or a [`watch`](tokio::sync::watch) of
//! addresses the caller supplies) and [`ChannelOptions`].
//! It is built on the gateway's own pieces: the endpoints are a cluster's (`yardmaster-cluster`),
//! found by a discovery source (`yardmaster-discovery`), checked with a TCP connect in the
//! background, and reached over the cluster's multiplexed HTTP/2 connections; a fan-out runs
//! on the same [`EndpointTasks`](yardmaster_cluster::EndpointTasks) as the gateway's
//! `fanout` route action. [`Dispatcher::ready`] waits for the first endpoint that accepts
//! connections. [`Dispatcher::fanout`] runs a closure for every such endpoint with an
//! [`EndpointChannel`] (any tonic client works over it) and collects the [`Outcome`]s;
//! [`Dispatcher::fanout_subscribe`] also runs it for endpoints that appear later, until its
//! [`Subscription`] is dropped.
//!
//! Closures run in their own tasks: no lock is held while they run, and one that errors
//! or panics affects only its endpoint. When an endpoint leaves (or stops accepting
//! connections), its closure is cancelled (its calls are reset at once) and reported with
//! [`CancelReason::EndpointLeft`].
//!
//! Host names are resolved through the discovery crate's DNS source, and Kubernetes
//! Services ([`KubernetesSource`]) by listing and watching their EndpointSlices, keeping
//! the endpoints that are ready and not terminating.
//!
//! It does not own load balancing, retries or the gateway's routing (see the `proxy`
//! and `cluster` crates).
//!
//! ```no_run
//! use std::time::Duration;
//! use yardmaster_dispatch::{ChannelOptions, Dispatcher, Outcome};
//! # async fn demo() -> Result<(), yardmaster_dispatch::DispatchError> {
//! let dispatcher = Dispatcher::new("static://10.0.0.1:50051,10.0.0.2:50051", ChannelOptions::default())?;
//! dispatcher.ready(Duration::from_secs(5)).await?;
//! let outcomes = dispatcher
//!     .fanout(|endpoint, channel| async move {
//!         // Any tonic client works here, e.g. `MyClient::new(channel).ping(..).await`.
//!         drop(channel);
//!         Ok::<_, tonic::Status>(endpoint.port())
//!     })
//!     .await;
//! for (endpoint, outcome) in outcomes {
//!     match outcome {
//!         Outcome::Finished(Ok(port)) => println!("{endpoint}: {port}"),
//!         Outcome::Finished(Err(status)) => println!("{endpoint} failed: {status}"),
//!         other => println!("{endpoint}: {other:?}"),
//!     }
//! }
//! # Ok(())
//! # }
//! ```

mod discovery;
mod dispatcher;
mod options;
mod subscription;
mod target;

pub use dispatcher::{DispatchError, Dispatcher};
pub use options::ChannelOptions;
pub use subscription::{CancelReason, Event, Outcome, Subscription};
pub use target::{Target, TargetError};
pub use yardmaster_cluster::EndpointChannel;
pub use yardmaster_discovery::{KubernetesSource, PortRef};
