//! Kubernetes discovery: the endpoints of a Service that take traffic, from its
//! EndpointSlices (discovery.k8s.io/v1), listed and then watched through the `kube` crate.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Client;
use yardmaster_core::{DiscoveredEndpoint, EndpointChange};

/// The label that ties an EndpointSlice to its Service.
const SERVICE_LABEL: &str = "kubernetes.io/service-name";

/// The wait before listing again after the API server failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Which port of a Service's EndpointSlices the endpoints are dialled on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortRef {
    /// This port number, whatever the slices say.
    Number(u16),
    /// The slice port with this name (`grpc`, say), as the Service names its ports.
    Name(String),
}

/// A Service whose EndpointSlices give the endpoints.
#[derive(Clone)]
pub struct KubernetesSource {
    service: String,
    namespace: String,
    port: Option<PortRef>,
    kubeconfig: Option<PathBuf>,
    client: Option<Client>,
}

impl KubernetesSource {
    /// The Service `service` in `namespace`. Endpoints are dialled on `port` when given,
    /// else on the first port of their EndpointSlice. The API server is found from the
    /// environment (in-cluster service account, or `KUBECONFIG`) unless
    /// [`KubernetesSource::with_kubeconfig`] or [`KubernetesSource::with_client`] says.
    pub fn new(service: &str, namespace: &str, port: Option<PortRef>) -> KubernetesSource {
        KubernetesSource {
            service: service.to_owned(),
            namespace: namespace.to_owned(),
            port,
            kubeconfig: None,
            client: None,
        }
    }

    /// Talks to the API server that this kubeconfig file's current context names.
    pub fn with_kubeconfig(mut self, path: PathBuf) -> KubernetesSource {
        self.kubeconfig = Some(path);
        self
    }

    /// Talks to the API server through `client`.
    pub fn with_client(mut self, client: Client) -> KubernetesSource {
        self.client = Some(client);
        self
    }

    /// Lists the Service's EndpointSlices, then watches them from the list's version;
    /// lists again whenever the watch fails or expires, keeping the last set meanwhile.
    pub(crate) async fn run(self, sink: &mut (impl FnMut(EndpointChange) -> bool + Send)) {
        let client = loop {
            match self.client().await {
                Ok(client) => break client,
                Err(reason) => {
                    if !sink(EndpointChange::DiscoveryFailed(reason)) {
                        return;
                    }
                }
            }
            tokio::time::sleep(RETRY_AFTER).await;
        };
        let api: Api<EndpointSlice> = Api::namespaced(client, &self.namespace);
        let selector = format!("{SERVICE_LABEL}={}", self.service);
        loop {
            match self.list_and_watch(&api, &selector, sink).await {
                Ok(true) => continue,
                Ok(false) => return,
                Err(error) => {
                    let reason = format!("{self}: {error}");
                    if !sink(EndpointChange::DiscoveryFailed(reason)) {
                        return;
                    }
                }
            }
            tokio::time::sleep(RETRY_AFTER).await;
        }
    }

    async fn client(&self) -> Result<Client, String> {
        if let Some(client) = &self.client {
            return Ok(client.clone());
        }
        let Some(path) = &self.kubeconfig else {
            return Client::try_default()
                .await
                .map_err(|e| format!("{self}: no Kubernetes client: {e}"));
        };
        let kubeconfig = Kubeconfig::read_from(path)
            .map_err(|e| format!("{self}: reading {}: {e}", path.display()))?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| format!("{self}: {}: {e}", path.display()))?;
        Client::try_from(config).map_err(|e| format!("{self}: {e}"))
    }

    /// One list and the watch after it. `Ok(true)`: list again (the watch expired);
    /// `Ok(false)`: the sink refused.
    async fn list_and_watch(
        &self,
        api: &Api<EndpointSlice>,
        selector: &str,
        sink: &mut (impl FnMut(EndpointChange) -> bool + Send),
    ) -> Result<bool, kube::Error> {
        let list = api.list(&ListParams::default().labels(selector)).await?;
        let mut version = list.metadata.resource_version.clone().unwrap_or_default();
        let mut slices: BTreeMap<String, Vec<SocketAddr>> = BTreeMap::new();
        for slice in &list.items {
            slices.insert(slice_name(slice), self.addresses(slice));
        }
        if !sink(EndpointChange::Discovered(union(&slices))) {
            return Ok(false);
        }
        let params = WatchParams::default().labels(selector);
        loop {
            let events = api.watch(&params, &version).await?;
            let mut events = std::pin::pin!(events);
            while let Some(event) = events.next().await {
                match event? {
                    WatchEvent::Added(slice) | WatchEvent::Modified(slice) => {
                        version = slice.metadata.resource_version.clone().unwrap_or(version);
                        slices.insert(slice_name(&slice), self.addresses(&slice));
                    }
                    WatchEvent::Deleted(slice) => {
                        version = slice.metadata.resource_version.clone().unwrap_or(version);
                        slices.remove(&slice_name(&slice));
                    }
                    WatchEvent::Bookmark(bookmark) => {
                        version = bookmark.metadata.resource_version;
                        continue;
                    }
                    // Typically 410 Gone: the version is too old; list again.
                    WatchEvent::Error(error) => {
                        tracing::debug!(source = %self, %error, "watch ended; listing again");
                        return Ok(true);
                    }
                }
                if !sink(EndpointChange::Discovered(union(&slices))) {
                    return Ok(false);
                }
            }
        }
    }

    /// The addresses of the slice's endpoints that take traffic: `ready` (or, when the
    /// API server leaves it out, `serving`; both absent means ready) and not `terminating`.
    /// FQDN slices are skipped; a slice without the named port gives none.
    fn addresses(&self, slice: &EndpointSlice) -> Vec<SocketAddr> {
        let mut ports = slice.ports.iter().flatten();
        let slice_port = |p: Option<i32>| p.and_then(|p| u16::try_from(p).ok());
        let port = match &self.port {
            Some(PortRef::Number(port)) => Some(*port),
            Some(PortRef::Name(name)) => ports
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .and_then(|p| slice_port(p.port)),
            None => ports.find_map(|p| slice_port(p.port)),
        };
        let Some(port) = port else {
            return Vec::new();
        };
        slice
            .endpoints
            .iter()
            .filter(|e| takes_traffic(e))
            .flat_map(|e| e.addresses.iter())
            .filter_map(|a| a.parse::<IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, port))
            .collect()
    }
}

fn takes_traffic(endpoint: &Endpoint) -> bool {
    let Some(conditions) = &endpoint.conditions else {
        return true;
    };
    let ready = conditions.ready.or(conditions.serving).unwrap_or(true);
    ready && conditions.terminating != Some(true)
}

fn slice_name(slice: &EndpointSlice) -> String {
    slice.metadata.name.clone().unwrap_or_default()
}

fn union(slices: &BTreeMap<String, Vec<SocketAddr>>) -> Vec<DiscoveredEndpoint> {
    let mut all: Vec<SocketAddr> = slices.values().flatten().copied().collect();
    all.sort();
    all.dedup();
    all.into_iter().map(DiscoveredEndpoint::new).collect()
}

impl fmt::Display for KubernetesSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kubernetes {}.{}", self.service, self.namespace)?;
        match &self.port {
            Some(PortRef::Number(port)) => write!(f, ":{port}"),
            Some(PortRef::Name(name)) => write!(f, ":{name}"),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for KubernetesSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubernetesSource")
            .field("service", &self.service)
            .field("namespace", &self.namespace)
            .field("port", &self.port)
            .field("kubeconfig", &self.kubeconfig)
            .field("client", &self.client.as_ref().map(|_| "given"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::discovery::v1::{EndpointConditions, EndpointPort};

    use super::*;

    fn endpoint(ready: Option<bool>, serving: Option<bool>, terminating: Option<bool>) -> Endpoint {
        Endpoint {
            addresses: vec!["10.0.0.1".into()],
            conditions: Some(EndpointConditions {
                ready,
                serving,
                terminating,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn only_ready_endpoints_that_are_not_terminating_take_traffic() {
        assert!(takes_traffic(&endpoint(None, None, None)));
        assert!(takes_traffic(&endpoint(Some(true), None, Some(false))));
        assert!(!takes_traffic(&endpoint(Some(false), Some(true), None)));
        assert!(!takes_traffic(&endpoint(None, Some(false), None)));
        assert!(!takes_traffic(&endpoint(
            Some(true),
            Some(true),
            Some(true)
        )));
        let no_conditions = Endpoint {
            conditions: None,
            ..Default::default()
        };
        assert!(takes_traffic(&no_conditions));
    }

    #[test]
    fn named_ports_pick_the_slice_port_with_that_name() {
        let slice = EndpointSlice {
            endpoints: vec![endpoint(Some(true), None, None)],
            ports: Some(vec![
                EndpointPort {
                    name: Some("metrics".into()),
                    port: Some(9090),
                    ..Default::default()
                },
                EndpointPort {
                    name: Some("grpc".into()),
                    port: Some(50051),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        };
        let addresses = |port| KubernetesSource::new("users", "shop", port).addresses(&slice);
        let at = |port: u16| vec![SocketAddr::from(([10, 0, 0, 1], port))];
        assert_eq!(addresses(Some(PortRef::Name("grpc".into()))), at(50051));
        assert_eq!(addresses(None), at(9090));
        assert_eq!(addresses(Some(PortRef::Number(7000))), at(7000));
        assert_eq!(addresses(Some(PortRef::Name("http".into()))), []);
    }
}
