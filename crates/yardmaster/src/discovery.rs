//! Building each cluster's discovery source from its configuration, and starting it on
//! the cluster that owns the endpoint set.

use yardmaster_cluster::Cluster;
use yardmaster_config::{
    ClusterConfig, DiscoveryConfig, DnsDiscoveryConfig, EndpointAddress, EndpointConfig,
    KubernetesDiscoveryConfig, PortConfig,
};
use yardmaster_core::DiscoveredEndpoint;
use yardmaster_discovery::{
    DnsQuery, DnsSource, FileSource, HostPort, KubernetesSource, PortRef, RefreshBounds, Source,
};
use yardmaster_registry::Registry;

/// Starts `cluster`'s discovery source as one of its tasks; `registry` is the gateway's
/// registry, for clusters that follow it.
pub(crate) fn follow(cluster: &Cluster, registry: Option<&Registry>) {
    if let Some(DiscoveryConfig::Registry(config)) = &cluster.config().discovery {
        let service = config.service.clone();
        match registry {
            Some(registry) => {
                let registry = registry.clone();
                cluster.follow(format!("registry {service}"), |feed| async move {
                    registry
                        .follow(&service, move |change| feed.send(change))
                        .await;
                });
            }
            // Validation refuses a registry source without a registry.
            None => tracing::error!(cluster = %cluster.name(), "no registry to follow"),
        }
        return;
    }
    let source = source(cluster.config());
    cluster.follow(source.to_string(), |feed| {
        source.run(move |change| feed.send(change))
    });
}

/// The source a validated cluster configuration names: `endpoints` (a static list, with
/// host names resolved through DNS) or `discovery`.
fn source(config: &ClusterConfig) -> Source {
    match &config.discovery {
        None => static_list(&config.endpoints),
        Some(DiscoveryConfig::Static(endpoints)) => static_list(endpoints),
        Some(DiscoveryConfig::Dns(dns)) => Source::Dns(dns_source(dns)),
        Some(DiscoveryConfig::Kubernetes(k8s)) => Source::Kubernetes(kubernetes_source(k8s)),
        Some(DiscoveryConfig::File(file)) => Source::File(FileSource::new(
            file.path.clone(),
            parse_endpoint_file,
            file.poll_interval,
        )),
        // Followed through the registry by `follow`.
        Some(DiscoveryConfig::Registry(_)) => Source::Static(Vec::new()),
    }
}

/// A list of addresses is sent once; host names in it make it a DNS source that always
/// includes the addresses.
fn static_list(endpoints: &[EndpointConfig]) -> Source {
    let mut fixed = Vec::new();
    let mut hosts = Vec::new();
    for endpoint in endpoints {
        match &endpoint.address {
            EndpointAddress::Socket(address) => fixed.push(DiscoveredEndpoint {
                address: *address,
                weight: endpoint.weight,
            }),
            EndpointAddress::Name { host, port } => hosts.push(HostPort {
                host: host.clone(),
                port: *port,
                weight: endpoint.weight,
            }),
        }
    }
    let bounds = RefreshBounds {
        min: yardmaster_config::default_min_refresh(),
        max: yardmaster_config::default_max_refresh(),
    };
    Source::list(fixed, hosts, bounds)
}

fn dns_source(dns: &DnsDiscoveryConfig) -> DnsSource {
    let query = match (&dns.name, &dns.srv) {
        (_, Some(srv)) => DnsQuery::Srv(srv.clone()),
        (Some(name), None) => match yardmaster_config::parse_endpoint_address(name) {
            Ok(EndpointAddress::Name { host, port }) => DnsQuery::Hosts(vec![HostPort {
                host,
                port,
                weight: 1,
            }]),
            // Validation refuses anything but `host:port` (and a config without `name` or
            // `srv`), so nothing else reaches here; an empty query would find nothing.
            _ => DnsQuery::Hosts(Vec::new()),
        },
        (None, None) => DnsQuery::Hosts(Vec::new()),
    };
    let bounds = RefreshBounds {
        min: dns.min_refresh,
        max: dns.max_refresh,
    };
    DnsSource::new(query, bounds, dns.name_server)
}

fn kubernetes_source(k8s: &KubernetesDiscoveryConfig) -> KubernetesSource {
    let port = k8s.port.as_ref().map(|port| match port {
        PortConfig::Number(number) => PortRef::Number(*number),
        PortConfig::Name(name) => PortRef::Name(name.clone()),
    });
    let source = KubernetesSource::new(&k8s.service, &k8s.namespace, port);
    match &k8s.kubeconfig {
        Some(path) => source.with_kubeconfig(path.clone()),
        None => source,
    }
}

/// The configuration crate's endpoint file parser, in the shape file sources take.
fn parse_endpoint_file(file: &str, text: &str) -> Result<Vec<DiscoveredEndpoint>, String> {
    let endpoints =
        yardmaster_config::parse_endpoint_file(text, file).map_err(|e| e.to_string())?;
    Ok(endpoints
        .iter()
        .filter_map(|e| {
            Some(DiscoveredEndpoint {
                address: e.address.socket()?,
                weight: e.weight,
            })
        })
        .collect())
}
