//! [`Dispatcher`]: the endpoints behind a target, as a cluster of the gateway's own, and
//! fan-out over them.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use yardmaster_cluster::{Cluster, ClusterMetrics, EndpointChannel, EndpointTasks};

use crate::{CancelReason, ChannelOptions, Event, Outcome, Subscription, Target, TargetError};

/// Events a subscription buffers for its reader before newer ones are dropped.
const EVENT_QUEUE: usize = 1024;

/// Endpoints discovered from a target, each checked and reached through the gateway's own
/// cluster machinery, and fan-out of a closure over them.
///
/// Dropping the dispatcher stops discovery and health checks; channels already handed out
/// keep working.
#[derive(Debug)]
pub struct Dispatcher {
    cluster: Arc<Cluster>,
    target: String,
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
    /// Parses `target` (`static://a:1,b:2`, `dns://name:port`,
    /// `kubernetes://service.namespace[:port]`) and starts discovering and checking
    /// endpoints in the background. Must be called inside a Tokio runtime; never blocks.
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
        let cluster = Arc::new(Cluster::new(
            &options.cluster(&name),
            &ClusterMetrics::default(),
        ));
        cluster.start();
        cluster.follow(name.clone(), |feed| {
            crate::discovery::run(target, options, feed)
        });
        Dispatcher {
            cluster,
            target: name,
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

    /// The current endpoints, connected or not, sorted.
    pub fn endpoints(&self) -> Vec<SocketAddr> {
        let set = self.cluster.endpoints();
        let mut all: Vec<SocketAddr> = set
            .endpoints()
            .iter()
            .filter(|e| !e.is_leaving())
            .map(|e| e.address())
            .collect();
        all.sort();
        all
    }

    /// The endpoints that accept connections now, with a channel to each, sorted.
    pub fn channels(&self) -> Vec<(SocketAddr, EndpointChannel)> {
        let set = self.cluster.endpoints();
        let mut channels: Vec<_> = set
            .eligible()
            .iter()
            .map(|e| (e.address(), self.cluster.endpoint_channel(e)))
            .collect();
        channels.sort_by_key(|(address, _)| *address);
        channels
    }

    /// Resolves once at least one endpoint accepts connections (at once if one does).
    ///
    /// # Errors
    ///
    /// [`DispatchError::NotReady`] when none does within `timeout`.
    pub async fn ready(&self, timeout: Duration) -> Result<(), DispatchError> {
        let mut changes = self.cluster.watch_endpoints();
        let wait = async {
            while self.cluster.endpoints().eligible().is_empty() {
                if changes.changed().await.is_err() {
                    return false;
                }
            }
            true
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(true) => Ok(()),
            _ => Err(DispatchError::NotReady {
                target: self.target.clone(),
                after: timeout,
            }),
        }
    }

    /// Runs `f` once for every endpoint that accepts connections now, all at once, each in
    /// its own task, and returns every endpoint's outcome when all have ended. A closure
    /// whose endpoint leaves (or stops accepting connections) meanwhile is cancelled
    /// ([`CancelReason::EndpointLeft`]); one that panics affects only its own outcome. No
    /// lock is held while closures run. Dropping the returned future cancels every closure.
    pub async fn fanout<F, Fut, T, E>(&self, f: F) -> Vec<(SocketAddr, Outcome<T, E>)>
    where
        F: Fn(SocketAddr, EndpointChannel) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let mut outcomes = Vec::new();
        let mut sink = |address, outcome| outcomes.push((address, outcome));
        run(&self.cluster, &f, false, &mut sink).await;
        outcomes.sort_by_key(|(address, _)| *address);
        outcomes
    }

    /// Runs `f` for every endpoint that accepts connections now and for every endpoint
    /// that does later (again for one that leaves and comes back), until the returned
    /// [`Subscription`] is dropped or [`Subscription::unsubscribe`]d, which cancels every
    /// running closure. The closure of an endpoint that leaves is cancelled and reported
    /// as [`CancelReason::EndpointLeft`].
    pub fn fanout_subscribe<F, Fut, E>(&self, f: F) -> Subscription<E>
    where
        F: Fn(SocketAddr, EndpointChannel) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Send + 'static,
    {
        let (tx, events) = mpsc::channel(EVENT_QUEUE);
        let cluster = self.cluster.clone();
        let task = tokio::spawn(async move {
            let mut sink = |endpoint, outcome| {
                if tx.try_send(Event { endpoint, outcome }).is_err() {
                    tracing::debug!(%endpoint, "subscription event dropped: reader too slow");
                }
            };
            run(&cluster, &f, true, &mut sink).await;
        });
        Subscription::new(events, task)
    }
}

/// Runs `f` for the cluster's eligible endpoints and follows the set: endpoints that
/// leave have their closure cancelled; with `join_new`, endpoints that join get it. Ends
/// when no closure runs, unless `join_new` (then when the cluster is gone).
async fn run<F, Fut, T, E>(
    cluster: &Arc<Cluster>,
    f: &F,
    join_new: bool,
    sink: &mut impl FnMut(SocketAddr, Outcome<T, E>),
) where
    F: Fn(SocketAddr, EndpointChannel) -> Fut,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let mut tasks = EndpointTasks::new();
    let mut changes = cluster.watch_endpoints();
    let follow = |tasks: &mut EndpointTasks<Result<T, E>>, join_new: bool| {
        let set = cluster.endpoints();
        tasks.follow(set.eligible(), join_new, |endpoint| {
            f(endpoint.address(), cluster.endpoint_channel(endpoint))
        })
    };
    follow(&mut tasks, true);
    loop {
        if tasks.is_idle() && !join_new {
            return;
        }
        tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
                for address in follow(&mut tasks, join_new) {
                    sink(address, Outcome::Cancelled(CancelReason::EndpointLeft));
                }
            }
            // `None` when the last tasks were ones cut above: loop, and end if idle.
            next = tasks.next(), if !tasks.is_idle() => match next {
                Some((address, Ok(result))) => sink(address, Outcome::Finished(result)),
                Some((address, Err(_))) => sink(address, Outcome::Panicked),
                None => {}
            },
        }
    }
}
