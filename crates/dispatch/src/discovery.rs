//! The background task that turns a [`Target`] into the dispatcher's current endpoints.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use yardmaster_core::{DiscoveredEndpoint, EndpointChange};
use yardmaster_discovery::{DnsQuery, DnsSource, HostPort, RefreshBounds, Source};

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
    pub(crate) fn publish(&self, addresses: &[SocketAddr]) {
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

/// Follows `target` until the dispatcher is dropped (which aborts this task). Static and
/// DNS targets resolve through the discovery crate's DNS source (host names re-resolved as
/// their TTLs say); a failed refresh keeps the last endpoints.
pub(crate) async fn run(target: Target, state: Arc<State>) {
    let source = match target {
        Target::Static(names) => source_of(names, &state.options),
        Target::Dns(name) => source_of(vec![name], &state.options),
        Target::Kubernetes(source) => Source::Kubernetes(source),
        Target::Watched(mut addresses) => loop {
            let current = addresses.borrow_and_update().clone();
            state.publish(&current);
            if addresses.changed().await.is_err() {
                return;
            }
        },
    };
    let description = source.to_string();
    source
        .run(|change| {
            match change {
                EndpointChange::Discovered(endpoints) => {
                    let addresses: Vec<SocketAddr> =
                        endpoints.iter().map(|e| e.address).collect();
                    state.publish(&addresses);
                }
                EndpointChange::DiscoveryFailed(error) => {
                    tracing::warn!(target = %description, %error, "discovery failed; keeping the last endpoints");
                }
                // Sources send only discovery changes.
                _ => {}
            }
            true
        })
        .await;
}

/// The source of `host:port` names: addresses are fixed, names are asked of DNS every
/// [`ChannelOptions::dns_refresh`].
fn source_of(names: Vec<String>, options: &ChannelOptions) -> Source {
    let mut fixed = Vec::new();
    let mut hosts = Vec::new();
    for name in names {
        match name.parse::<SocketAddr>() {
            Ok(address) => fixed.push(DiscoveredEndpoint::new(address)),
            Err(_) => {
                let (host, port) = name.rsplit_once(':').unwrap_or((name.as_str(), "0"));
                hosts.push(HostPort {
                    host: host.to_owned(),
                    port: port.parse().unwrap_or(0),
                    weight: 1,
                });
            }
        }
    }
    if hosts.is_empty() {
        return Source::Static(fixed);
    }
    let every = options.dns_refresh_interval();
    let bounds = RefreshBounds {
        min: every,
        max: every,
    };
    Source::Dns(DnsSource::new(DnsQuery::Hosts(hosts), bounds, None).with_fixed(fixed))
}
