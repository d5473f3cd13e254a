//! Self-registration: services tell the gateway where their instances listen, with a lease
//! they renew, and the gateway routes to the live ones.
//!
//! Owns the `yardmaster.registry.v1.Registry` API (`proto/yardmaster/registry/v1/
//! registry.proto`, compiled by `build.rs` without `protoc`), the rules of who may register
//! what ([`Policy`], networks as [`Cidr`]s), and the embedded store, [`Registry`]: the
//! instances in memory, their leases ended on time, and the whole state written atomically
//! to a local file so a restarted gateway keeps them. [`Registry::grpc_service`] serves the
//! API; [`Registry::follow`] feeds a cluster as a discovery source; [`Registry::instances`]
//! shows the state to the admin API as [`InstanceStatus`]es.
//!
//! Guarantees: registering the same service and address again is the same instance (same
//! lease, metadata replaced); an instance leaves once its lease ends (checked at least every
//! 200 ms), and every follower and watcher then sees the new list; a refused call gets a
//! status saying why (`INVALID_ARGUMENT`, `PERMISSION_DENIED`, `UNAUTHENTICATED`,
//! `NOT_FOUND`, `RESOURCE_EXHAUSTED`), never a silent drop. Lease ends are wall-clock times
//! (they must survive a restart), so a jump of the system clock moves them.
//!
//! It does not own listeners, configuration or routing: the binary builds the [`Policy`]
//! from the configuration, mounts the service on a listener's route, and runs `follow` for
//! clusters. The pure transitions (`state`) and checks (`policy`) are apart from the
//! embedded store so that another store (etcd) can reuse them.

mod cidr;
mod error;
mod feed;
mod policy;
mod registry;
mod service;
mod state;
mod state_file;

pub use cidr::Cidr;
pub use policy::{Policy, DEFAULT_TTL};
pub use registry::Registry;
pub use service::RegistryService;
pub use state::InstanceStatus;

/// Code generated from `proto/yardmaster/registry/v1/registry.proto`: the messages, the
/// `registry_client::RegistryClient` and the `registry_server::{Registry, RegistryServer}`
/// pair.
pub mod pb {
    tonic::include_proto!("yardmaster.registry.v1");
}
