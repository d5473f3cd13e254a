//! Runs a closure once per endpoint, each in its own task, and cancels the closure of an
//! endpoint that leaves. Shared by [`Dispatcher::fanout`](crate::Dispatcher::fanout) and
//! [`Dispatcher::fanout_subscribe`](crate::Dispatcher::fanout_subscribe).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::{AbortHandle, Id, JoinSet};
use tonic::transport::Channel;

use crate::discovery::EndpointMap;
use crate::{CancelReason, Outcome};

/// The running closures of one fan-out.
pub(crate) struct Supervisor<F, T, E> {
    f: Arc<F>,
    calls: JoinSet<Result<T, E>>,
    running: HashMap<SocketAddr, AbortHandle>,
    ids: HashMap<Id, SocketAddr>,
    /// Endpoints whose closure ran (or runs) and that have not left since.
    started: HashSet<SocketAddr>,
}

impl<F, Fut, T, E> Supervisor<F, T, E>
where
    F: Fn(SocketAddr, Channel) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    pub(crate) fn new(f: F) -> Self {
        Supervisor {
            f: Arc::new(f),
            calls: JoinSet::new(),
            running: HashMap::new(),
            ids: HashMap::new(),
            started: HashSet::new(),
        }
    }

    /// Starts the closure for endpoints of `map` that have not run it yet (`join_new`),
    /// and cancels the closures of endpoints no longer in `map`, reporting each to `sink`.
    pub(crate) fn follow(
        &mut self,
        map: &EndpointMap,
        join_new: bool,
        sink: &mut impl FnMut(SocketAddr, Outcome<T, E>),
    ) {
        let gone: Vec<SocketAddr> = self
            .started
            .iter()
            .filter(|a| !map.contains_key(*a))
            .copied()
            .collect();
        for address in gone {
            self.started.remove(&address);
            if let Some(handle) = self.running.remove(&address) {
                // Dropping the closure's future drops its calls, which resets their streams.
                handle.abort();
                self.ids.remove(&handle.id());
                sink(address, Outcome::Cancelled(CancelReason::EndpointLeft));
            }
        }
        if !join_new {
            return;
        }
        for (address, entry) in map {
            if self.started.insert(*address) {
                let future = (self.f)(*address, entry.channel());
                let handle = self.calls.spawn(future);
                self.ids.insert(handle.id(), *address);
                self.running.insert(*address, handle);
            }
        }
    }

    /// Waits for the next closure to end; `None` when none runs.
    pub(crate) async fn next(&mut self) -> Option<(SocketAddr, Outcome<T, E>)> {
        loop {
            let joined = self.calls.join_next_with_id().await?;
            let (id, outcome) = match joined {
                Ok((id, result)) => (id, Outcome::Finished(result)),
                Err(error) if error.is_panic() => (error.id(), Outcome::Panicked),
                // Aborted because its endpoint left: reported then.
                Err(_) => continue,
            };
            if let Some(address) = self.ids.remove(&id) {
                self.running.remove(&address);
                return Some((address, outcome));
            }
        }
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.calls.is_empty()
    }
}

/// Runs a supervisor until every closure has ended, following `endpoints` for leaves
/// (and, with `join_new`, for arrivals).
pub(crate) async fn drive<F, Fut, T, E>(
    supervisor: &mut Supervisor<F, T, E>,
    mut endpoints: watch::Receiver<Arc<EndpointMap>>,
    join_new: bool,
    sink: &mut impl FnMut(SocketAddr, Outcome<T, E>),
) where
    F: Fn(SocketAddr, Channel) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    loop {
        if supervisor.is_idle() && !join_new {
            return;
        }
        tokio::select! {
            changed = endpoints.changed() => {
                if changed.is_err() {
                    return;
                }
                let map = endpoints.borrow_and_update().clone();
                supervisor.follow(&map, join_new, sink);
            }
            // `None` when the last tasks were ones aborted above: loop, and end if idle.
            next = supervisor.next(), if !supervisor.is_idle() => {
                if let Some((address, outcome)) = next {
                    sink(address, outcome);
                }
            }
        }
    }
}
