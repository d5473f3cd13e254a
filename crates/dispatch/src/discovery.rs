//! Following a [`Target`]: the discovery crate's source for it, feeding the dispatcher's
//! cluster.

use yardmaster_cluster::DiscoveryFeed;
use yardmaster_core::{DiscoveredEndpoint, EndpointChange};
use yardmaster_discovery::{HostPort, RefreshBounds, Source};

use crate::{ChannelOptions, Target};

/// Feeds `target`'s endpoints to the cluster behind `feed` until the cluster is gone.
/// Static and DNS targets resolve through the discovery crate's DNS source, every
/// [`ChannelOptions::dns_refresh`]; a failed refresh keeps the last endpoints.
pub(crate) async fn run(target: Target, options: ChannelOptions, feed: DiscoveryFeed) {
    let source = match target {
        Target::Static(names) => source_of(names, &options),
        Target::Dns(name) => source_of(vec![name], &options),
        Target::Kubernetes(source) => Source::Kubernetes(source),
        Target::Watched(mut addresses) => loop {
            let current = addresses.borrow_and_update().clone();
            let listed = current.into_iter().map(DiscoveredEndpoint::new).collect();
            if !feed.send(EndpointChange::Discovered(listed)) || addresses.changed().await.is_err()
            {
                return;
            }
        },
    };
    source.run(move |change| feed.send(change)).await;
}

/// The source of `host:port` names: addresses are fixed, names are asked of DNS.
fn source_of(names: Vec<String>, options: &ChannelOptions) -> Source {
    let mut fixed = Vec::new();
    let mut hosts = Vec::new();
    for name in names {
        match name.parse() {
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
    let every = options.dns_refresh_interval();
    let bounds = RefreshBounds {
        min: every,
        max: every,
    };
    Source::list(fixed, hosts, bounds)
}
