//! Route actions that send a request somewhere. Each ends in `Cluster::call`.

pub(crate) mod envelope;
pub(crate) mod fanout;
pub(crate) mod forward;
pub(crate) mod local;
pub(crate) mod mirror;
pub mod own_call;
mod request_head;
pub(crate) mod transcode;
pub(crate) mod whole_body;

/// When the call must end: the client's deadline (`grpc-timeout`) or the route's
/// `timeout` from now, whichever comes first.
pub(crate) fn call_deadline(
    client: Option<tokio::time::Instant>,
    route_timeout: Option<std::time::Duration>,
) -> Option<tokio::time::Instant> {
    let route = route_timeout.map(|timeout| tokio::time::Instant::now() + timeout);
    match (client, route) {
        (Some(client), Some(route)) => Some(client.min(route)),
        (client, route) => client.or(route),
    }
}
