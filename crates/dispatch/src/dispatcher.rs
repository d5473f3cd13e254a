//! [`Dispatcher`]: endpoints behind a target, their channels, and fan-out over them.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use crate::discovery::{self, State};
use crate::supervisor::{self, Supervisor};
use crate::{ChannelOptions, Outcome, Subscription, Target, TargetError};

/// Events a subscription buffers for its reader before newer ones are dropped.
const EVENT_QUEUE: usize = 1024;

/// Endpoints discovered from a target, each with a gRPC [`Channel`] connected eagerly in
/// the background, and fan-out of a closure over them.
///
/// Dropping the dispatcher stops discovery and connecting; channels already handed out
/// keep working.
#[derive(Debug)]
pub struct Dispatcher {
    state: Arc<State>,
    target: String,
    discovery: JoinHandle<()>,
}

/// Why a dispatcher could not be built or become ready.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The target string is not usable.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// No endpoint was connected within the time given to [`Dispatcher::ready`].
    #[error("{target}: no endpoint connected within {after:?}")]
    NotReady {
        /// The target.
        target: String,
        /// The time waited.
        after: Duration,
    },
}

impl Dispatcher {
    /// Parses `target` (`static://a:1,b:2`, `dns://name:port`) and starts discovering and
    /// connecting in the background. Must be called inside a Tokio runtime; never blocks.
    ///
    /// # Errors
    ///
    /// [`DispatchError::Target`] for a target string it cannot use.
    pub fn new(target: &str, options: ChannelOptions) -> Result<Dispatcher, DispatchError> {
        Ok(Dispatcher::from_target(Target::parse(target)?, options))
    }

    /// Like [`Dispatcher::new`], for a parsed target.
    pub fn from_target(target: Target, options: ChannelOptions) -> Dispatcher {
        let name = target.to_string();
        let state = Arc::new(State::new(options));
        let discovery = tokio::spawn(discovery::run(target, state.clone()));
        Dispatcher {
            state,
            target: name,
            discovery,
        }
    }

    /// A dispatcher over endpoints the caller supplies: whatever `endpoints` holds now,
    /// and every later value. For discovery this crate does not offer.
    pub fn with_endpoints(
        endpoints: watch::Receiver<Vec<SocketAddr>>,
        options: ChannelOptions,
    ) -> Dispatcher {
        Dispatcher::from_target(Target::Watched(endpoints), options)
    }

    /// The current endpoints, sorted.
    pub fn endpoints(&self) -> Vec<SocketAddr> {
        self.state.endpoints.borrow().keys().copied().collect()
    }

    /// The current endpoints with their channels (connected, or connecting on first use).
    pub fn channels(&self) -> Vec<(SocketAddr, Channel)> {
        let map = self.state.endpoints.borrow().clone();
        map.values().map(|e| (e.address(), e.channel())).collect()
    }

    /// Resolves once at least one endpoint is connected (at once if one is).
    ///
    /// # Errors
    ///
    /// [`DispatchError::NotReady`] when none is within `timeout`.
    pub async fn ready(&self, timeout: Duration) -> Result<(), DispatchError> {
        let mut count = self.state.ready_count.subscribe();
        let is_ready =
            tokio::time::timeout(timeout, async { count.wait_for(|n| *n > 0).await.is_ok() }).await;
        match is_ready {
            Ok(true) => Ok(()),
            _ => Err(DispatchError::NotReady {
                target: self.target.clone(),
                after: timeout,
            }),
        }
    }

    /// Runs `f` once for every current endpoint, all at once, each in its own task, and
    /// returns every endpoint's outcome when all have ended. A closure whose endpoint
    /// leaves meanwhile is cancelled ([`CancelReason::EndpointLeft`](crate::CancelReason));
    /// one that panics affects only its own outcome. No lock is held while closures run.
    /// Dropping the returned future cancels every closure.
    pub async fn fanout<F, Fut, T, E>(&self, f: F) -> Vec<(SocketAddr, Outcome<T, E>)>
    where
        F: Fn(SocketAddr, Channel) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let mut supervisor = Supervisor::new(f);
        let endpoints = self.state.endpoints.subscribe();
        let map = endpoints.borrow().clone();
        let mut outcomes = Vec::with_capacity(map.len());
        let mut sink = |address, outcome| outcomes.push((address, outcome));
        supervisor.follow(&map, true, &mut sink);
        supervisor::drive(&mut supervisor, endpoints, false, &mut sink).await;
        outcomes.sort_by_key(|(address, _)| *address);
        outcomes
    }

    /// Runs `f` for every current endpoint and for every endpoint that appears later
    /// (again for one that leaves and comes back), until the returned [`Subscription`] is
    /// dropped or [`Subscription::unsubscribe`]d, which cancels every running closure.
    /// The closure of an endpoint that leaves is cancelled and reported as
    /// [`CancelReason::EndpointLeft`](crate::CancelReason).
    pub fn fanout_subscribe<F, Fut, E>(&self, f: F) -> Subscription<E>
    where
        F: Fn(SocketAddr, Channel) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Send + 'static,
    {
        let (tx, events) = mpsc::channel(EVENT_QUEUE);
        let endpoints = self.state.endpoints.subscribe();
        let task = tokio::spawn(async move {
            let mut supervisor = Supervisor::new(f);
            let mut sink = |endpoint, outcome| {
                if tx.try_send(crate::Event { endpoint, outcome }).is_err() {
                    tracing::debug!(%endpoint, "subscription event dropped: reader too slow");
                }
            };
            let map = endpoints.borrow().clone();
            supervisor.follow(&map, true, &mut sink);
            supervisor::drive(&mut supervisor, endpoints, true, &mut sink).await;
        });
        Subscription::new(events, task)
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.discovery.abort();
    }
}
