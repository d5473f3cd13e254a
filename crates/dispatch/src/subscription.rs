//! The handle of [`Dispatcher::fanout_subscribe`](crate::Dispatcher::fanout_subscribe), and
//! how each endpoint's closure ended.

use std::net::SocketAddr;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How one endpoint's closure ended.
#[derive(Debug)]
pub enum Outcome<T, E> {
    /// It returned.
    Finished(Result<T, E>),
    /// It was cancelled before it returned (its future dropped, so its calls were reset).
    Cancelled(CancelReason),
    /// It panicked; only this endpoint is affected.
    Panicked,
}

/// Why a closure was cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CancelReason {
    /// Its endpoint left the target (no longer resolved, removed from the supplied list).
    /// Unlike a broken transport, this is known at once: the closure's streams are reset
    /// instead of hanging until the connection times out.
    EndpointLeft,
}

/// One closure of a subscription ended.
#[derive(Debug)]
pub struct Event<E> {
    /// The endpoint the closure ran for.
    pub endpoint: SocketAddr,
    /// How it ended.
    pub outcome: Outcome<(), E>,
}

/// A running [`fanout_subscribe`](crate::Dispatcher::fanout_subscribe). Dropping it (or
/// [`Subscription::unsubscribe`]) stops following endpoints and cancels every closure.
#[derive(Debug)]
pub struct Subscription<E> {
    events: mpsc::Receiver<Event<E>>,
    task: JoinHandle<()>,
}

impl<E> Subscription<E> {
    pub(crate) fn new(events: mpsc::Receiver<Event<E>>, task: JoinHandle<()>) -> Self {
        Subscription { events, task }
    }

    /// The next closure that ended, in the order they ended; `None` once the dispatcher
    /// is gone and every closure has ended. Up to 1024 unread events are kept; later ones
    /// are dropped.
    pub async fn next_event(&mut self) -> Option<Event<E>> {
        self.events.recv().await
    }

    /// Stops the subscription: every running closure is cancelled.
    pub fn unsubscribe(self) {
        drop(self);
    }
}

impl<E> Drop for Subscription<E> {
    fn drop(&mut self) {
        // The task owns the closures' JoinSet: aborting it drops them all.
        self.task.abort();
    }
}
