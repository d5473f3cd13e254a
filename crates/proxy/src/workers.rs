//! The threads that serve downstream connections, thread-per-core: each runs a
//! current-thread runtime and keeps its upstream HTTP/2 connections to itself
//! (`yardmaster_cluster::keep_connections_on_this_thread`). An accepted connection is
//! handed to the worker serving the fewest and stays there, so a call's downstream
//! stream, its upstream stream and both connections' tasks run on one thread: no
//! cross-thread wake-ups or lock contention per call. Accept loops, the admin API,
//! health checks, discovery and the TCP bridges stay on the main runtime.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// A set of worker threads; cheap to clone. The threads stop when the last clone is
/// dropped, dropping whatever they still run.
#[derive(Clone, Debug)]
pub struct Workers {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    workers: Vec<Worker>,
    /// Where the search for the least busy worker starts, so ties rotate.
    next: AtomicUsize,
}

#[derive(Debug)]
struct Worker {
    runtime: Handle,
    /// Connections this worker serves right now.
    connections: Arc<AtomicUsize>,
    /// Dropped with the set: ends the worker's `block_on`, which drops its runtime.
    _stop: oneshot::Sender<()>,
}

/// Counts a connection against its worker until the connection's task ends or is dropped.
struct Served(Arc<AtomicUsize>);

impl Drop for Served {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Workers {
    /// Starts `count` worker threads (at least one), named `yardmaster-worker-N`.
    pub fn start(count: usize) -> io::Result<Workers> {
        let workers = (0..count.max(1))
            .map(start_worker)
            .collect::<io::Result<Vec<_>>>()?;
        Ok(Workers {
            inner: Arc::new(Inner {
                workers,
                next: AtomicUsize::new(0),
            }),
        })
    }

    /// How many worker threads there are.
    pub fn count(&self) -> usize {
        self.inner.workers.len()
    }

    /// Runs `connection` on the worker serving the fewest connections.
    pub(crate) fn spawn<F>(&self, connection: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let workers = &self.inner.workers;
        let busy = |i: usize| workers[i].connections.load(Ordering::Relaxed);
        // `start` made at least one worker.
        let first = self.inner.next.fetch_add(1, Ordering::Relaxed) % workers.len();
        let least_busy = (1..workers.len())
            .map(|i| (first + i) % workers.len())
            .fold(first, |best, i| if busy(i) < busy(best) { i } else { best });
        let worker = &workers[least_busy];
        worker.connections.fetch_add(1, Ordering::Relaxed);
        let served = Served(worker.connections.clone());
        worker.runtime.spawn(async move {
            let _served = served;
            connection.await;
        });
    }
}

fn start_worker(index: usize) -> io::Result<Worker> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let handle = runtime.handle().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    std::thread::Builder::new()
        .name(format!("yardmaster-worker-{index}"))
        .spawn(move || {
            yardmaster_cluster::keep_connections_on_this_thread();
            // An error only means the set was dropped: time to stop either way.
            let _ = runtime.block_on(stopped);
        })?;
    Ok(Worker {
        runtime: handle,
        connections: Arc::new(AtomicUsize::new(0)),
        _stop: stop,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use tokio::sync::mpsc;

    use super::*;

    fn thread_name() -> String {
        std::thread::current().name().unwrap_or_default().to_owned()
    }

    #[tokio::test]
    async fn connections_go_to_the_least_busy_worker_and_stay_there() {
        let workers = Workers::start(2).unwrap();
        assert_eq!(workers.count(), 2);
        let (names, mut named) = mpsc::unbounded_channel();
        let (release, _) = tokio::sync::broadcast::channel::<()>(1);
        // Four long connections: two per worker, whatever the order of the ties.
        for id in 0..4 {
            let names = names.clone();
            let mut released = release.subscribe();
            workers.spawn(async move {
                names.send((id, thread_name())).unwrap();
                let _ = released.recv().await;
                tokio::task::yield_now().await;
                names.send((id, thread_name())).unwrap();
            });
        }
        let mut first = BTreeMap::new();
        for _ in 0..4 {
            let (id, name) = named.recv().await.unwrap();
            first.insert(id, name);
        }
        let mut per_worker: Vec<_> = first.values().cloned().collect();
        per_worker.sort();
        assert_eq!(
            per_worker,
            [
                "yardmaster-worker-0",
                "yardmaster-worker-0",
                "yardmaster-worker-1",
                "yardmaster-worker-1"
            ]
        );
        release.send(()).unwrap();
        let mut after = BTreeMap::new();
        for _ in 0..4 {
            let (id, name) = named.recv().await.unwrap();
            after.insert(id, name);
        }
        assert_eq!(after, first, "a connection never moves to another worker");
    }

    #[tokio::test]
    async fn the_threads_stop_when_the_set_is_dropped() {
        let workers = Workers::start(1).unwrap();
        let (dropped_tx, dropped) = oneshot::channel::<()>();
        workers.spawn(async move {
            // Never ends by itself; dropping the runtime drops it (and the sender).
            let _dropped_tx = dropped_tx;
            std::future::pending::<()>().await;
        });
        drop(workers);
        tokio::time::timeout(Duration::from_secs(5), dropped)
            .await
            .expect("the worker's runtime dropped its tasks")
            .unwrap_err();
    }
}
