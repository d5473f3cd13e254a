//! Route actions that send a request somewhere. Each ends in `Cluster::call`.

pub(crate) mod fanout;
pub(crate) mod forward;
pub(crate) mod mirror;
mod request_head;
