//! Route actions that send a request somewhere. Each ends in `Cluster::call`.

pub(crate) mod forward;
