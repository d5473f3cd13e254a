//! A bridge listener: the accept loop and the handle the admin API uses.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use yardmaster_cluster::{Cluster, EndpointState};
use yardmaster_config::BridgeConfig;
use yardmaster_core::EndpointChange;

use crate::close_reason::CloseReason;
use crate::error::BridgeError;
use crate::frame::Codec;
use crate::metrics::BridgeMetrics;
use crate::registry::{Client, ClientStatus, Refused, Registry, Scope};
use crate::shared::Shared;
use crate::upstream::{UpstreamSet, UpstreamStatus};
use crate::{session, upstream_task};

/// A bridge listener whose socket is bound but which serves nothing yet.
#[derive(Debug)]
pub struct Bridge {
    shared: Arc<Shared>,
    socket: TcpListener,
}

impl Bridge {
    /// Binds the bridge's listener. `cluster` is the `grpc` cluster named by
    /// `config.cluster`: its endpoints are the upstreams, its health checks decide which
    /// get new clients, and its `connect_timeout` bounds each connection attempt. The
    /// cluster's own tasks (health checks, discovery) are started by its owner
    /// ([`Cluster::start`], [`Cluster::follow`]). Connects to nothing yet.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub async fn bind(
        config: &BridgeConfig,
        cluster: Arc<Cluster>,
        metrics: &BridgeMetrics,
    ) -> io::Result<Bridge> {
        let socket = TcpListener::bind(config.listen).await?;
        let shared = Arc::new(Shared {
            name: Arc::from(config.name.as_str()),
            config: config.clone(),
            connect_timeout: cluster.config().connect_timeout,
            codec: Codec::new(config.framing, config.max_frame_bytes),
            registry: Registry::new(config.active_window, config.max_queued_bytes),
            upstreams: UpstreamSet::new(cluster, config.balance),
            metrics: metrics.for_bridge(&config.name),
            sessions: AtomicUsize::new(0),
        });
        Ok(Bridge { shared, socket })
    }

    /// The bound address.
    ///
    /// # Errors
    ///
    /// When the socket's address cannot be read.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// A handle for inspecting and operating the bridge while it serves.
    pub fn handle(&self) -> BridgeHandle {
        BridgeHandle {
            shared: self.shared.clone(),
        }
    }

    /// Connects to the cluster's endpoints and accepts clients until `shutdown` resolves,
    /// following the cluster's endpoint set as it changes. Then stops accepting, closes
    /// every client (each upstream gets a `closed` event with reason `gateway shutting
    /// down`), closes the upstream streams, and returns.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let shared = self.shared;
        let mut endpoints = shared.upstreams.cluster().watch_endpoints();
        upstream_task::follow(&shared);
        let (stop, stopped) = watch::channel(false);
        let mut sessions = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Ok(()) = endpoints.changed() => upstream_task::follow(&shared),
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
                accepted = self.socket.accept() => match accepted {
                    Ok((socket, peer)) => {
                        if shared.sessions.load(Ordering::Acquire) >= shared.config.max_clients {
                            shared.metrics.closed(CloseReason::TooManyClients.label()).inc();
                            tracing::info!(bridge = %shared.name, %peer, "refusing client: {}", CloseReason::TooManyClients);
                            drop(socket);
                            continue;
                        }
                        let _ = socket.set_nodelay(true);
                        shared.metrics.accepted.inc();
                        shared.sessions.fetch_add(1, Ordering::AcqRel);
                        let shared = shared.clone();
                        let stopped = stopped.clone();
                        sessions.spawn(async move {
                            session::run(shared.clone(), socket, peer, stopped).await;
                            shared.sessions.fetch_sub(1, Ordering::AcqRel);
                        });
                    }
                    Err(error) => {
                        // Out of file descriptors, usually: back off instead of spinning.
                        tracing::warn!(bridge = %shared.name, %error, "bridge accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
        drop(self.socket);
        stop.send_replace(true);
        while sessions.join_next().await.is_some() {}
        shared.upstreams.stop_all().await;
    }
}

/// Operates a serving bridge: what the admin API uses. Cheap to clone; every method is
/// non-blocking.
#[derive(Clone, Debug)]
pub struct BridgeHandle {
    shared: Arc<Shared>,
}

impl BridgeHandle {
    /// The bridge's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Every connected client, ordered by UUID.
    pub fn clients(&self) -> Vec<ClientStatus> {
        let registry = &self.shared.registry;
        let mut clients: Vec<ClientStatus> = registry
            .clients()
            .iter()
            .map(|c| c.status(registry))
            .collect();
        clients.sort_by(|a, b| a.id.cmp(&b.id));
        clients
    }

    /// Queues `payload` as one frame for the client.
    ///
    /// # Errors
    ///
    /// When the client is unknown or closing, or its queue is full (it is then closed).
    pub fn send(&self, client: &str, payload: Bytes) -> Result<(), BridgeError> {
        let found = self.client(client)?;
        found.enqueue(payload).map_err(|refused| match refused {
            Refused::Closing => BridgeError::ClientClosing(client.to_owned()),
            Refused::QueueFull => BridgeError::QueueFull(client.to_owned()),
        })
    }

    /// Closes the client once the frames queued for it are written.
    ///
    /// # Errors
    ///
    /// When no such client is connected.
    pub fn close(&self, client: &str) -> Result<(), BridgeError> {
        self.client(client)?.close(CloseReason::ByAdmin);
        Ok(())
    }

    /// Queues `payload` for every client in `scope`; returns how many clients got it.
    pub fn broadcast(&self, scope: Scope, payload: Bytes) -> usize {
        self.shared.registry.broadcast(scope, &payload)
    }

    /// Every upstream (an endpoint of the bridge's cluster) with its state and client
    /// count, in the cluster's order.
    pub fn upstreams(&self) -> Vec<UpstreamStatus> {
        self.shared.upstreams.statuses()
    }

    /// Adds an endpoint (weight 1) to the bridge's cluster, which the bridge then
    /// connects to; it gets clients once ready. Must be called within the Tokio runtime.
    ///
    /// # Errors
    ///
    /// When the cluster refuses it: already an endpoint, or port 0.
    pub fn add_upstream(&self, address: SocketAddr) -> Result<(), BridgeError> {
        self.change(EndpointChange::Add { address, weight: 1 })
    }

    /// Removes an endpoint from the bridge's cluster: its stream is closed and its
    /// clients are moved to other ready upstreams, which get their unacknowledged frames.
    /// A discovered endpoint comes back when its source next lists it.
    ///
    /// # Errors
    ///
    /// When the cluster has no such endpoint.
    pub fn remove_upstream(&self, address: SocketAddr) -> Result<(), BridgeError> {
        self.change(EndpointChange::Remove(address))
    }

    /// Drains an endpoint of the bridge's cluster: it keeps its clients but gets no new
    /// ones, and the cluster removes it once its last client has gone.
    ///
    /// # Errors
    ///
    /// When the cluster has no such endpoint.
    pub fn drain_upstream(&self, address: SocketAddr) -> Result<(), BridgeError> {
        self.change(EndpointChange::SetState(address, EndpointState::Draining))
    }

    /// Applies an operator's change to the cluster and follows it at once, so the
    /// upstream list read next shows it.
    fn change(&self, change: EndpointChange) -> Result<(), BridgeError> {
        self.shared.upstreams.cluster().apply(change)?;
        upstream_task::follow(&self.shared);
        Ok(())
    }

    fn client(&self, id: &str) -> Result<Arc<Client>, BridgeError> {
        self.shared
            .registry
            .get(id)
            .ok_or_else(|| BridgeError::UnknownClient(id.to_owned()))
    }
}
