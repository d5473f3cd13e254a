//! Endpoint discovery: where a cluster's endpoints come from, as a stream of
//! [`EndpointChange`]s.
//!
//! Owns the sources: a fixed list ([`Source::Static`]), DNS A/AAAA and SRV records
//! re-resolved as their TTLs say ([`DnsSource`]), a Kubernetes Service's EndpointSlices
//! listed and watched through the API server ([`KubernetesSource`]), and a YAML or JSON
//! file that other tools write ([`FileSource`]). A source sends its whole current set
//! ([`EndpointChange::Discovered`]) each time it changes, and
//! [`EndpointChange::DiscoveryFailed`] when it cannot refresh: a failure never empties a
//! set by itself.
//!
//! It does not own endpoint state (connections, health, ejection, operator changes): the
//! cluster that receives the changes does. Nor does it read the gateway's configuration
//! file: the binary builds sources from it, and hands [`FileSource`] the parser.

mod dns;
mod file;
mod kubernetes;
mod refresh;

use std::fmt;

use yardmaster_core::{DiscoveredEndpoint, EndpointChange};

pub use dns::{DnsQuery, DnsSource, HostPort};
pub use file::{FileSource, ParseEndpoints};
pub use kubernetes::{KubernetesSource, PortRef};
pub use refresh::RefreshBounds;

/// Where a cluster's endpoints come from.
#[derive(Debug)]
pub enum Source {
    /// A fixed list, sent once.
    Static(Vec<DiscoveredEndpoint>),
    /// DNS records, re-resolved as their TTLs say.
    Dns(DnsSource),
    /// A Kubernetes Service's EndpointSlices.
    Kubernetes(KubernetesSource),
    /// A watched file of endpoints.
    File(FileSource),
}

impl Source {
    /// A list of endpoints: `addresses` alone are sent once ([`Source::Static`]); with
    /// `hosts`, a DNS source re-resolves the names within `bounds` and always includes the
    /// addresses.
    pub fn list(
        addresses: Vec<DiscoveredEndpoint>,
        hosts: Vec<HostPort>,
        bounds: RefreshBounds,
    ) -> Source {
        if hosts.is_empty() {
            return Source::Static(addresses);
        }
        Source::Dns(DnsSource::new(DnsQuery::Hosts(hosts), bounds, None).with_fixed(addresses))
    }

    /// The source's kind, as the admin API and metrics name it: `static`, `dns`,
    /// `kubernetes` or `file`.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Static(_) => "static",
            Source::Dns(_) => "dns",
            Source::Kubernetes(_) => "kubernetes",
            Source::File(_) => "file",
        }
    }

    /// Sends the current endpoint set to `sink`, then every change, for as long as
    /// `sink` returns true (false means its receiver is gone). A static list is sent once
    /// and the future ends; the others run until `sink` refuses or the future is dropped.
    /// Never panics on what a name server, API server or file says.
    pub async fn run(self, mut sink: impl FnMut(EndpointChange) -> bool + Send) {
        match self {
            Source::Static(list) => {
                sink(EndpointChange::Discovered(list));
            }
            Source::Dns(dns) => dns.run(&mut sink).await,
            Source::Kubernetes(kubernetes) => kubernetes.run(&mut sink).await,
            Source::File(file) => file.run(&mut sink).await,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Static(list) => {
                f.write_str("static ")?;
                let mut first = true;
                for endpoint in list {
                    if !first {
                        f.write_str(",")?;
                    }
                    first = false;
                    write!(f, "{}", endpoint.address)?;
                }
                Ok(())
            }
            Source::Dns(dns) => write!(f, "{dns}"),
            Source::Kubernetes(kubernetes) => write!(f, "{kubernetes}"),
            Source::File(file) => write!(f, "{file}"),
        }
    }
}
