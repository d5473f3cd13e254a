//! Threads that keep their upstream connections to themselves, for thread-per-core
//! serving: a call made on such a thread uses only HTTP/2 connections opened on it and
//! driven by the runtime that runs on it, so none of its frames, wake-ups or stream locks
//! cross to another thread. On a shared two-core machine, serving this way took about a
//! third off the gateway's CPU per unary call (`bench/README.md`).

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

thread_local! {
    static HOME: Cell<Option<u32>> = const { Cell::new(None) };
}

static NEXT_HOME: AtomicU32 = AtomicU32::new(0);

/// Makes the calling thread keep its upstream HTTP/2 connections: from now on, live
/// calls made on it open and use connections of its own, spawned with `tokio::spawn` on
/// the runtime running the call. Call it on a thread that runs a current-thread runtime
/// for its whole life; calls on other threads keep sharing the cluster's connections.
pub fn keep_connections_on_this_thread() {
    HOME.with(|home| {
        if home.get().is_none() {
            home.set(Some(NEXT_HOME.fetch_add(1, Ordering::Relaxed)));
        }
    });
}

/// The calling thread's home, if it keeps its connections.
pub(crate) fn current() -> Option<u32> {
    HOME.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_threads_that_ask_have_a_home_and_each_its_own() {
        assert_eq!(current(), None);
        let homes: Vec<_> = (0..2)
            .map(|_| {
                std::thread::spawn(|| {
                    keep_connections_on_this_thread();
                    let first = current();
                    keep_connections_on_this_thread();
                    assert_eq!(current(), first, "asking twice keeps the home");
                    first
                })
                .join()
                .unwrap()
            })
            .collect();
        assert!(homes.iter().all(Option::is_some));
        assert_ne!(homes[0], homes[1]);
        assert_eq!(current(), None);
    }
}
