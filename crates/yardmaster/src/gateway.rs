//! Building a gateway from a validated configuration, serving it, and draining it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::util::BoxCloneSyncService;
use tower::ServiceExt;
use yardmaster_admin::{AdminState, GatewayView, UpdateError};
use yardmaster_bridge::{Bridge, BridgeMetrics};
use yardmaster_cluster::{ClusterMetrics, ClusterSet, ClusterStatus};
use yardmaster_config::{Config, RegistryConfig};
use yardmaster_core::body;
use yardmaster_core::EndpointChange;
use yardmaster_proxy::{
    tls, CopyRuntime, Edge, ListenerSettings, LocalServices, ProxyMetrics, Snapshot, Workers,
};
use yardmaster_registry::{Cidr, InstanceStatus, Policy, Registry as ServiceRegistry};
use yardmaster_transcode::reflection::ReflectionStatus;

/// A gateway whose sockets are bound but which serves nothing yet.
pub struct Gateway {
    snapshot: Arc<ArcSwap<Snapshot>>,
    registry: Registry,
    /// Where services register themselves, when the configuration has one.
    services: Option<ServiceRegistry>,
    proxy_metrics: ProxyMetrics,
    listeners: Vec<BoundListener>,
    bridges: Vec<Bridge>,
    admin: Option<TcpListener>,
}

struct BoundListener {
    name: String,
    socket: TcpListener,
    settings: ListenerSettings,
    forwarded_headers: bool,
}

/// A serving gateway. Dropping it stops it abruptly; [`GatewayHandle::shutdown`] drains.
pub struct GatewayHandle {
    addrs: Vec<(String, SocketAddr)>,
    bridge_addrs: Vec<(String, SocketAddr)>,
    admin_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    ready: Arc<AtomicBool>,
    tasks: JoinSet<()>,
    /// The threads serving downstream connections; they stop when this is dropped, after
    /// the listeners have drained.
    _workers: Workers,
}

impl Gateway {
    /// Builds clusters and routes, loads TLS material and binds every listener, every TCP
    /// bridge and the admin listener. Fails with the address or file at fault; binds
    /// nothing on failure.
    pub async fn bind(config: Config) -> anyhow::Result<Gateway> {
        let mut registry = Registry::default();
        let cluster_metrics = ClusterMetrics::new(&mut registry);
        let proxy_metrics = ProxyMetrics::new(&mut registry);
        let config = Arc::new(config);
        let clusters = Arc::new(ClusterSet::new(&config.clusters, &cluster_metrics));
        // Started once here and kept by every snapshot, so building one starts no thread.
        let copies = Snapshot::needs_copies(&config)
            .then(CopyRuntime::start)
            .transpose()
            .context("starting the threads for mirror copies")?
            .map(Arc::new);
        let services = config.registry.as_ref().map(open_registry).transpose()?;
        let mut local = LocalServices::default();
        if let Some(services) = &services {
            let api = ServiceExt::<http::Request<yardmaster_core::Body>>::map_response(
                services.grpc_service(),
                |r| r.map(body::boxed),
            );
            local.insert("registry", BoxCloneSyncService::new(api));
        }
        let snapshot = Snapshot::new(config.clone(), clusters, &proxy_metrics, copies, &local)
            .context("building the routing snapshot")?;

        let mut listeners = Vec::with_capacity(config.listeners.len());
        for listener in &config.listeners {
            let tls = match &listener.tls {
                Some(files) => Some(
                    tls::acceptor(&files.cert_file, &files.key_file)
                        .with_context(|| format!("loading TLS for listener {:?}", listener.name))?,
                ),
                None => None,
            };
            let socket = TcpListener::bind(listener.listen).await.with_context(|| {
                format!(
                    "binding listener {:?} on {}",
                    listener.name, listener.listen
                )
            })?;
            listeners.push(BoundListener {
                name: listener.name.clone(),
                socket,
                settings: ListenerSettings {
                    tls,
                    max_connections: listener.max_connections,
                    drain_timeout: config.drain_timeout,
                },
                forwarded_headers: listener.forwarded_headers,
            });
        }
        let bridge_metrics = BridgeMetrics::new(&mut registry);
        let mut bridges = Vec::with_capacity(config.bridges.len());
        for bridge in &config.bridges {
            // The snapshot's cluster, as for routes: its endpoints, health checks and
            // admin changes are the bridge's upstreams.
            let cluster = snapshot
                .clusters()
                .get(&bridge.cluster)
                .cloned()
                .with_context(|| {
                    format!("bridge {:?}: no cluster {:?}", bridge.name, bridge.cluster)
                })?;
            let bound = Bridge::bind(bridge, cluster, &bridge_metrics)
                .await
                .with_context(|| {
                    format!("binding bridge {:?} on {}", bridge.name, bridge.listen)
                })?;
            bridges.push(bound);
        }
        let admin = match &config.admin {
            Some(admin) => Some(
                TcpListener::bind(admin.listen)
                    .await
                    .with_context(|| format!("binding admin listener on {}", admin.listen))?,
            ),
            None => None,
        };
        Ok(Gateway {
            snapshot: Arc::new(ArcSwap::from_pointee(snapshot)),
            registry,
            services,
            proxy_metrics,
            listeners,
            bridges,
            admin,
        })
    }

    /// Starts every cluster's background tasks (discovery, health checks, housekeeping),
    /// then serves every listener, every TCP bridge (which follows its cluster's
    /// endpoints) and the admin API on the current runtime.
    pub fn spawn(self) -> anyhow::Result<GatewayHandle> {
        let (shutdown, signal) = watch::channel(false);
        let ready = Arc::new(AtomicBool::new(false));
        let mut tasks = JoinSet::new();
        let worker_count = self
            .snapshot
            .load()
            .config()
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
        let workers = Workers::start(worker_count).context("starting the worker threads")?;
        if let Some(services) = &self.services {
            services.start();
        }
        for cluster in self.snapshot.load().clusters().iter() {
            cluster.start();
            crate::discovery::follow(cluster, self.services.as_ref());
        }
        self.snapshot.load().start_reflection();
        let mut addrs = Vec::with_capacity(self.listeners.len());
        for listener in self.listeners {
            let addr = listener
                .socket
                .local_addr()
                .with_context(|| format!("reading the address of listener {:?}", listener.name))?;
            addrs.push((listener.name.clone(), addr));
            let tls = listener.settings.tls.is_some();
            let edge = Edge::new(
                &listener.name,
                self.snapshot.clone(),
                &self.proxy_metrics,
                tls,
                listener.forwarded_headers,
            );
            tasks.spawn(yardmaster_proxy::serve(
                listener.socket,
                edge,
                listener.settings,
                workers.clone(),
                shutdown_signal(signal.clone()),
            ));
            tracing::info!(listener = %listener.name, %addr, tls, workers = workers.count(), "listening");
        }
        let mut bridge_addrs = Vec::with_capacity(self.bridges.len());
        let mut bridge_handles = Vec::with_capacity(self.bridges.len());
        for bridge in self.bridges {
            let handle = bridge.handle();
            let addr = bridge
                .local_addr()
                .with_context(|| format!("reading the address of bridge {:?}", handle.name()))?;
            tracing::info!(bridge = %handle.name(), %addr, "bridge listening");
            bridge_addrs.push((handle.name().to_owned(), addr));
            bridge_handles.push(handle);
            tasks.spawn(bridge.serve(shutdown_signal(signal.clone())));
        }
        let admin_addr = match self.admin {
            Some(socket) => {
                let addr = socket.local_addr().context("reading the admin address")?;
                let state = AdminState {
                    view: Arc::new(View {
                        snapshot: self.snapshot.clone(),
                        ready: ready.clone(),
                        services: self.services.clone(),
                    }),
                    registry: Arc::new(self.registry),
                    bridges: bridge_handles,
                };
                tasks.spawn(yardmaster_admin::serve(
                    socket,
                    state,
                    shutdown_signal(signal),
                ));
                tracing::info!(%addr, "admin API listening");
                Some(addr)
            }
            None => None,
        };
        ready.store(true, Ordering::Release);
        Ok(GatewayHandle {
            addrs,
            bridge_addrs,
            admin_addr,
            shutdown,
            ready,
            tasks,
            _workers: workers,
        })
    }
}

/// The registry of `config`, its file loaded.
fn open_registry(config: &RegistryConfig) -> anyhow::Result<ServiceRegistry> {
    let allow = config
        .allow
        .iter()
        .map(|network| network.parse().map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<Cidr>>>()
        .context("registry.allow")?;
    let policy = Policy {
        allow,
        tokens: config.tokens.clone(),
        min_ttl: config.min_ttl,
        max_ttl: config.max_ttl,
        max_instances: config.max_instances,
    };
    ServiceRegistry::open(config.path.clone(), policy)
        .map_err(anyhow::Error::msg)
        .context("opening the registry")
}

async fn shutdown_signal(mut signal: watch::Receiver<bool>) {
    // An error means the handle is gone, which also means: stop.
    let _ = signal.wait_for(|stop| *stop).await;
}

impl GatewayHandle {
    /// The bound address of listener `name`.
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.addrs.iter().find(|(n, _)| n == name).map(|(_, a)| *a)
    }

    /// Every listener's name and bound address, in configuration order.
    pub fn addrs(&self) -> &[(String, SocketAddr)] {
        &self.addrs
    }

    /// The bound address of bridge `name`.
    pub fn bridge_addr(&self, name: &str) -> Option<SocketAddr> {
        self.bridge_addrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| *a)
    }

    /// The bound admin address, when an admin listener is configured.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// Stops accepting, marks the gateway not ready, lets in-flight calls finish up to
    /// the drain timeout, and returns when every listener has stopped.
    pub async fn shutdown(mut self) {
        self.ready.store(false, Ordering::Release);
        let _ = self.shutdown.send(true);
        while let Some(result) = self.tasks.join_next().await {
            if let Err(error) = result {
                tracing::error!(%error, "a listener task failed");
            }
        }
    }
}

/// The admin API's window on the gateway.
struct View {
    snapshot: Arc<ArcSwap<Snapshot>>,
    ready: Arc<AtomicBool>,
    services: Option<ServiceRegistry>,
}

impl GatewayView for View {
    fn config_json(&self) -> serde_json::Value {
        serde_json::to_value(&**self.snapshot.load().config()).unwrap_or_default()
    }

    fn clusters(&self) -> Vec<ClusterStatus> {
        self.snapshot.load().clusters().status()
    }

    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    fn update_endpoint(&self, cluster: &str, change: EndpointChange) -> Result<(), UpdateError> {
        let snapshot = self.snapshot.load();
        let cluster = snapshot
            .clusters()
            .get(cluster)
            .ok_or_else(|| UpdateError::UnknownCluster(cluster.to_owned()))?;
        cluster.apply(change).map_err(UpdateError::Control)
    }

    fn reflection_status(&self) -> Vec<ReflectionStatus> {
        self.snapshot.load().reflection_status()
    }

    fn refresh_reflection(&self) -> usize {
        self.snapshot.load().refresh_reflection()
    }

    fn registry_instances(&self, service: &str) -> Option<Vec<InstanceStatus>> {
        self.services
            .as_ref()
            .map(|registry| registry.instances(service))
    }
}
