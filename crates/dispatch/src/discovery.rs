//! The background task that turns a [`Target`] into the dispatcher's current endpoints.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;

use crate::endpoint::EndpointEntry;
use crate::{ChannelOptions, Target};

/// The current endpoints, by address; replaced (never changed) on each discovery.
pub(crate) type EndpointMap = BTreeMap<SocketAddr, Arc<EndpointEntry>>;

/// What the discovery task writes and the dispatcher reads.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) endpoints: watch::Sender<Arc<EndpointMap>>,
    pub(crate) ready_count: Arc<watch::Sender<usize>>,
    pub(crate) options: ChannelOptions,
}

impl State {
    pub(crate) fn new(options: ChannelOptions) -> State {
        State {
            endpoints: watch::Sender::new(Arc::new(EndpointMap::new())),
            ready_count: Arc::new(watch::Sender::new(0)),
            options,
        }
    }

    /// Makes `addresses` the current endpoints, keeping the entries (and connections) of
    /// those that stay. Entries that leave are dropped, which stops their connecting.
    fn publish(&self, addresses: &[SocketAddr]) {
        let old = self.endpoints.borrow().clone();
        let mut map = EndpointMap::new();
        for &address in addresses {
            let entry = match old.get(&address) {
                Some(entry) => Some(entry.clone()),
                None => EndpointEntry::new(address, &self.options, self.ready_count.clone())
                    .map(Arc::new),
            };
            if let Some(entry) = entry {
                map.insert(address, entry);
            }
        }
        if map.keys().ne(old.keys()) {
            self.endpoints.send_replace(Arc::new(map));
        }
    }
}

/// Follows `target` until the dispatcher is dropped (which aborts this task).
pub(crate) async fn run(target: Target, state: Arc<State>) {
    match target {
        Target::Static(names) => {
            // Host names are resolved once; retried until they resolve.
            loop {
                match resolve(&names).await {
                    Ok(addresses) => return state.publish(&addresses),
                    Err(error) => tracing::warn!(%error, "resolving static endpoints"),
                }
                tokio::time::sleep(state.options.dns_refresh_interval()).await;
            }
        }
        Target::Dns(name) => loop {
            match resolve(std::slice::from_ref(&name)).await {
                Ok(addresses) => state.publish(&addresses),
                // Keep the last endpoints: a resolver hiccup must not empty the set.
                Err(error) => tracing::warn!(%name, %error, "resolving dns target"),
            }
            tokio::time::sleep(state.options.dns_refresh_interval()).await;
        },
        Target::Kubernetes(target) => {
            target.follow(|addresses| state.publish(&addresses)).await;
        }
        Target::Watched(mut addresses) => loop {
            let current = addresses.borrow_and_update().clone();
            state.publish(&current);
            if addresses.changed().await.is_err() {
                return;
            }
        },
    }
}

/// Every address of every `host:port`, sorted and without duplicates.
async fn resolve(names: &[String]) -> std::io::Result<Vec<SocketAddr>> {
    let mut addresses = Vec::new();
    for name in names {
        addresses.extend(tokio::net::lookup_host(name.as_str()).await?);
    }
    addresses.sort();
    addresses.dedup();
    Ok(addresses)
}
