//! One task per eligible endpoint of a cluster, following the endpoint set: what a
//! fan-out to every endpoint runs on, shared by the gateway's `fanout` action and the
//! `yardmaster-dispatch` library.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::{AbortHandle, Id, JoinError, JoinSet};

use crate::Endpoint;

/// The running per-endpoint tasks of one fan-out. Dropping it aborts them all, which
/// drops their upstream calls and so resets those streams.
#[derive(Debug)]
pub struct EndpointTasks<T> {
    calls: JoinSet<T>,
    running: HashMap<SocketAddr, AbortHandle>,
    ids: HashMap<Id, SocketAddr>,
    /// Endpoints whose task ran (or runs) and that have not left since: not started again.
    started: HashSet<SocketAddr>,
}

impl<T: Send + 'static> Default for EndpointTasks<T> {
    fn default() -> Self {
        EndpointTasks {
            calls: JoinSet::new(),
            running: HashMap::new(),
            ids: HashMap::new(),
            started: HashSet::new(),
        }
    }
}

impl<T: Send + 'static> EndpointTasks<T> {
    /// No task yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Follows `eligible` (a cluster's [`EndpointSet::eligible`](crate::EndpointSet::eligible)
    /// endpoints): aborts the tasks of endpoints no longer in it and returns their
    /// addresses; with `join_new`, starts `task` for each endpoint in it that has not run
    /// it since it last joined. Must be called inside a Tokio runtime.
    pub fn follow<F, Fut>(
        &mut self,
        eligible: &[Arc<Endpoint>],
        join_new: bool,
        mut task: F,
    ) -> Vec<SocketAddr>
    where
        F: FnMut(&Arc<Endpoint>) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
    {
        let current: HashSet<SocketAddr> = eligible.iter().map(|e| e.address()).collect();
        let gone: Vec<SocketAddr> = self
            .started
            .iter()
            .filter(|a| !current.contains(*a))
            .copied()
            .collect();
        let mut cut = Vec::new();
        for address in gone {
            self.started.remove(&address);
            if let Some(handle) = self.running.remove(&address) {
                handle.abort();
                self.ids.remove(&handle.id());
                cut.push(address);
            }
        }
        if join_new {
            for endpoint in eligible {
                let address = endpoint.address();
                if self.started.insert(address) {
                    let handle = self.calls.spawn(task(endpoint));
                    self.ids.insert(handle.id(), address);
                    self.running.insert(address, handle);
                }
            }
        }
        cut
    }

    /// Waits for the next task to end, with its endpoint: `Err` when it panicked. Tasks
    /// aborted by [`EndpointTasks::follow`] are not reported again. `None` when none runs.
    pub async fn next(&mut self) -> Option<(SocketAddr, Result<T, JoinError>)> {
        loop {
            let (id, result) = match self.calls.join_next_with_id().await? {
                Ok((id, value)) => (id, Ok(value)),
                Err(error) if error.is_panic() => (error.id(), Err(error)),
                Err(_) => continue,
            };
            if let Some(address) = self.ids.remove(&id) {
                self.running.remove(&address);
                return Some((address, result));
            }
        }
    }

    /// How many tasks run now.
    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Whether no task runs.
    pub fn is_idle(&self) -> bool {
        self.calls.is_empty()
    }
}
