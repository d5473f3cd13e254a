//! `kubernetes://service.namespace[:port]`: the ready endpoints of a Service, from its
//! EndpointSlices (discovery.k8s.io/v1), listed and then watched through the `kube` crate.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use kube::Client;

/// The label that ties an EndpointSlice to its Service.
const SERVICE_LABEL: &str = "kubernetes.io/service-name";

/// The wait before listing again after the API server failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A Service whose EndpointSlices give the endpoints.
#[derive(Clone)]
pub struct KubernetesTarget {
    service: String,
    namespace: String,
    port: Option<u16>,
    client: Option<Client>,
}

impl KubernetesTarget {
    /// The Service `service` in `namespace`. Endpoints are dialled on `port` when given,
    /// else on the first port of their EndpointSlice.
    pub fn new(service: &str, namespace: &str, port: Option<u16>) -> KubernetesTarget {
        KubernetesTarget {
            service: service.to_owned(),
            namespace: namespace.to_owned(),
            port,
            client: None,
        }
    }

    /// Talks to the API server through `client` instead of the one inferred from the
    /// environment (in-cluster service account, or `KUBECONFIG`).
    pub fn with_client(mut self, client: Client) -> KubernetesTarget {
        self.client = Some(client);
        self
    }

    /// The current ready endpoints, every time they change, until `publish` says stop.
    /// Lists the Service's EndpointSlices, then watches them from the list's version;
    /// lists again whenever the watch fails or expires.
    pub(crate) async fn follow(self, mut publish: impl FnMut(Vec<SocketAddr>)) {
        let client = match self.client.clone() {
            Some(client) => client,
            None => loop {
                match Client::try_default().await {
                    Ok(client) => break client,
                    Err(error) => tracing::warn!(target = %self, %error, "no Kubernetes client"),
                }
                tokio::time::sleep(RETRY_AFTER).await;
            },
        };
        let api: Api<EndpointSlice> = Api::namespaced(client, &self.namespace);
        let selector = format!("{SERVICE_LABEL}={}", self.service);
        loop {
            if let Err(error) = self.list_and_watch(&api, &selector, &mut publish).await {
                tracing::warn!(target = %self, %error, "EndpointSlice discovery failed");
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }

    async fn list_and_watch(
        &self,
        api: &Api<EndpointSlice>,
        selector: &str,
        publish: &mut impl FnMut(Vec<SocketAddr>),
    ) -> Result<(), kube::Error> {
        let list = api.list(&ListParams::default().labels(selector)).await?;
        let mut version = list.metadata.resource_version.clone().unwrap_or_default();
        let mut slices: BTreeMap<String, Vec<SocketAddr>> = BTreeMap::new();
        for slice in &list.items {
            slices.insert(slice_name(slice), self.addresses(slice));
        }
        publish(union(&slices));
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
                        tracing::debug!(target = %self, %error, "watch ended; listing again");
                        return Ok(());
                    }
                }
                publish(union(&slices));
            }
        }
    }

    /// The addresses of the slice's endpoints that take traffic: `ready` (or, when the
    /// API server leaves it out, `serving`; both absent means ready) and not `terminating`.
    /// FQDN slices are skipped.
    fn addresses(&self, slice: &EndpointSlice) -> Vec<SocketAddr> {
        let slice_port = slice
            .ports
            .iter()
            .flatten()
            .find_map(|p| p.port)
            .and_then(|p| u16::try_from(p).ok());
        let Some(port) = self.port.or(slice_port) else {
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

fn union(slices: &BTreeMap<String, Vec<SocketAddr>>) -> Vec<SocketAddr> {
    let mut all: Vec<SocketAddr> = slices.values().flatten().copied().collect();
    all.sort();
    all.dedup();
    all
}

impl fmt::Display for KubernetesTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kubernetes://{}.{}", self.service, self.namespace)?;
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for KubernetesTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubernetesTarget")
            .field("service", &self.service)
            .field("namespace", &self.namespace)
            .field("port", &self.port)
            .field("client", &self.client.as_ref().map(|_| "given"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::discovery::v1::EndpointConditions;

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
}
