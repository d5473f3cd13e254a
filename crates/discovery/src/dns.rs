//! DNS discovery: A/AAAA records of host names, or SRV records (ports and weights from
//! the records), re-resolved when the answer's TTL runs out, within [`RefreshBounds`].
//!
//! Queries go to the system's name servers (`/etc/resolv.conf`) or to one the operator
//! names. The resolver's cache is off: the refresh schedule already follows the TTLs, and
//! a cached answer would hide a change asked for before the TTL ends.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};
use yardmaster_core::{DiscoveredEndpoint, EndpointChange};

use crate::RefreshBounds;

/// The largest weight an endpoint can have, as in the configuration; SRV weights
/// (0..=65535) are clamped to 1..=this.
const MAX_WEIGHT: u32 = 1000;

/// A host name (or IP literal) and a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    /// A DNS name or an IP address.
    pub host: String,
    /// The port the endpoints listen on.
    pub port: u16,
    /// The weight of each address it resolves to.
    pub weight: u32,
}

/// What is asked of DNS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DnsQuery {
    /// The A and AAAA records of each host, on its port.
    Hosts(Vec<HostPort>),
    /// The SRV records of a name (e.g. `_grpc._tcp.users.internal`): each target's
    /// addresses on the record's port with the record's weight. Only the records of the
    /// lowest priority present are used (RFC 2782: the others are fallbacks).
    Srv(String),
}

/// Endpoints from DNS.
#[derive(Debug)]
pub struct DnsSource {
    query: DnsQuery,
    /// Endpoints always in the set, besides what DNS answers (the IP literals of a static
    /// list that also names hosts).
    fixed: Vec<DiscoveredEndpoint>,
    bounds: RefreshBounds,
    name_server: Option<SocketAddr>,
}

impl DnsSource {
    /// A source asking `query` of `name_server` (the system's when `None`), refreshed
    /// within `bounds`. Resolves nothing until run.
    pub fn new(query: DnsQuery, bounds: RefreshBounds, name_server: Option<SocketAddr>) -> Self {
        DnsSource {
            query,
            fixed: Vec::new(),
            bounds,
            name_server,
        }
    }

    /// Adds endpoints that are always in the set, whatever DNS answers.
    pub fn with_fixed(mut self, fixed: Vec<DiscoveredEndpoint>) -> Self {
        self.fixed = fixed;
        self
    }

    pub(crate) async fn run(self, sink: &mut (impl FnMut(EndpointChange) -> bool + Send)) {
        let resolver = match self.resolver() {
            Ok(resolver) => resolver,
            Err(reason) => {
                sink(EndpointChange::DiscoveryFailed(reason));
                return;
            }
        };
        let mut last: Option<Vec<DiscoveredEndpoint>> = None;
        loop {
            let wait = match self.resolve(&resolver).await {
                Ok((endpoints, valid_until)) => {
                    let wait = self.bounds.wait_until(valid_until);
                    if last.as_ref() != Some(&endpoints) {
                        last = Some(endpoints.clone());
                        if !sink(EndpointChange::Discovered(endpoints)) {
                            return;
                        }
                    }
                    wait
                }
                Err(reason) => {
                    if !sink(EndpointChange::DiscoveryFailed(reason)) {
                        return;
                    }
                    self.bounds.after_failure()
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    fn resolver(&self) -> Result<TokioResolver, String> {
        let mut builder = match self.name_server {
            Some(server) => {
                let connections = [ConnectionConfig::udp(), ConnectionConfig::tcp()]
                    .into_iter()
                    .map(|mut c| {
                        c.port = server.port();
                        c
                    })
                    .collect();
                let servers = vec![NameServerConfig::new(server.ip(), true, connections)];
                Resolver::builder_with_config(
                    ResolverConfig::from_name_servers(servers),
                    TokioRuntimeProvider::default(),
                )
            }
            None => Resolver::builder_tokio()
                .map_err(|e| format!("reading the system's DNS configuration: {e}"))?,
        };
        builder.options_mut().cache_size = 0;
        builder
            .build()
            .map_err(|e| format!("building the DNS resolver: {e}"))
    }

    /// Every endpoint DNS gives now, sorted, and until when the answer holds. An empty
    /// answer is a failure: it must not empty the cluster.
    async fn resolve(
        &self,
        resolver: &TokioResolver,
    ) -> Result<(Vec<DiscoveredEndpoint>, Instant), String> {
        let mut found = BTreeSet::new();
        let valid_until = match &self.query {
            DnsQuery::Hosts(hosts) => resolve_hosts(resolver, hosts, &mut found).await?,
            DnsQuery::Srv(name) => resolve_srv(resolver, name, &mut found).await?,
        };
        if found.is_empty() {
            return Err(format!("{self}: the answer has no addresses"));
        }
        found.extend(self.fixed.iter().copied());
        Ok((found.into_iter().collect(), valid_until))
    }
}

async fn resolve_hosts(
    resolver: &TokioResolver,
    hosts: &[HostPort],
    found: &mut BTreeSet<DiscoveredEndpoint>,
) -> Result<Instant, String> {
    let mut valid_until: Option<Instant> = None;
    for host in hosts {
        let lookup = resolver
            .lookup_ip(host.host.as_str())
            .await
            .map_err(|e| format!("resolving {}: {e}", host.host))?;
        valid_until = Some(earliest(valid_until, lookup.valid_until()));
        found.extend(lookup.iter().map(|ip| DiscoveredEndpoint {
            address: SocketAddr::new(ip, host.port),
            weight: host.weight,
        }));
    }
    Ok(valid_until.unwrap_or_else(Instant::now))
}

async fn resolve_srv(
    resolver: &TokioResolver,
    name: &str,
    found: &mut BTreeSet<DiscoveredEndpoint>,
) -> Result<Instant, String> {
    let lookup = resolver
        .srv_lookup(name)
        .await
        .map_err(|e| format!("resolving SRV {name}: {e}"))?;
    let records: Vec<_> = lookup
        .answers()
        .iter()
        .filter_map(|record| match &record.data {
            RData::SRV(srv) => Some(srv.clone()),
            _ => None,
        })
        .collect();
    let mut valid_until = lookup.valid_until();
    let Some(priority) = records.iter().map(|srv| srv.priority).min() else {
        return Ok(valid_until);
    };
    for srv in records.iter().filter(|srv| srv.priority == priority) {
        let target = srv.target.to_string();
        let addresses = resolver
            .lookup_ip(target.as_str())
            .await
            .map_err(|e| format!("resolving SRV target {target}: {e}"))?;
        valid_until = earliest(Some(valid_until), addresses.valid_until());
        let weight = u32::from(srv.weight).clamp(1, MAX_WEIGHT);
        found.extend(addresses.iter().map(|ip| DiscoveredEndpoint {
            address: SocketAddr::new(ip, srv.port),
            weight,
        }));
    }
    Ok(valid_until)
}

fn earliest(a: Option<Instant>, b: Instant) -> Instant {
    a.map_or(b, |a| a.min(b))
}

impl fmt::Display for DnsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.query {
            DnsQuery::Hosts(hosts) => {
                f.write_str("dns ")?;
                for (i, host) in hosts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{}:{}", host.host, host.port)?;
                }
            }
            DnsQuery::Srv(name) => write!(f, "dns srv {name}")?,
        }
        match self.name_server {
            Some(server) => write!(f, " @{server}"),
            None => Ok(()),
        }
    }
}
