//! One open bidirectional gRPC stream to an upstream endpoint ([`Link`]): the queue of
//! events towards it, whether it is ready, when it ended, and the clients on it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use yardmaster_cluster::{Endpoint, InFlight};

use crate::registry::{Assignment, Client};

/// Events queued towards one upstream stream. Each client has at most
/// `max_unacked_frames` data events in flight, so this only smooths bursts.
const LINK_QUEUE_EVENTS: usize = 1024;

/// The next stream's id: what tells two streams to the same endpoint apart.
static NEXT_LINK_ID: AtomicU64 = AtomicU64::new(1);

/// What the gateway tells an upstream about a client.
#[derive(Debug)]
pub(crate) enum Event {
    Opened {
        client: Arc<Client>,
        resumed: bool,
    },
    Data {
        client: Arc<Client>,
        seq: u64,
        payload: Bytes,
    },
    Closed {
        client_id: Arc<str>,
        reason: String,
    },
}

/// One open bidirectional stream to an endpoint, and the clients assigned to it.
#[derive(Debug)]
pub(crate) struct Link {
    id: u64,
    endpoint: Arc<Endpoint>,
    tx: mpsc::Sender<Event>,
    ready: AtomicBool,
    ended: watch::Sender<bool>,
    clients: AtomicUsize,
}

impl Link {
    /// A new stream's link (not ready) and the receiving end of its event queue.
    pub(crate) fn new(endpoint: Arc<Endpoint>) -> (Arc<Link>, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel(LINK_QUEUE_EVENTS);
        let link = Arc::new(Link {
            id: NEXT_LINK_ID.fetch_add(1, Ordering::Relaxed),
            endpoint,
            tx,
            ready: AtomicBool::new(false),
            ended: watch::channel(false).0,
            clients: AtomicUsize::new(0),
        });
        (link, rx)
    }

    /// Marks the stream ended: no longer picked, and its sessions move their clients.
    pub(crate) fn end(&self) {
        self.ready.store(false, Ordering::Release);
        self.ended.send_replace(true);
    }

    /// Clients assigned to this stream now.
    pub(crate) fn clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    pub(crate) fn address(&self) -> SocketAddr {
        self.endpoint.address()
    }

    pub(crate) fn is_usable(&self) -> bool {
        self.ready.load(Ordering::Acquire) && !*self.ended.borrow()
    }

    pub(crate) fn mark_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Resolves once the stream has ended and its commands have all been handled.
    pub(crate) async fn ended(&self) {
        let mut ended = self.ended.subscribe();
        let _ = ended.wait_for(|e| *e).await;
    }

    /// Queues an event; waits while the queue is full. `Err` when the stream has ended.
    pub(crate) async fn send(&self, event: Event) -> Result<(), ()> {
        tokio::select! {
            sent = self.tx.send(event) => sent.map_err(drop),
            () = self.ended() => Err(()),
        }
    }

    /// Puts a client on this stream until the returned attachment is dropped.
    pub(crate) fn attach(self: &Arc<Self>, client: &Arc<Client>) -> Attachment {
        self.clients.fetch_add(1, Ordering::Relaxed);
        client.assign(Some(self.assignment()));
        Attachment {
            link: self.clone(),
            client: client.clone(),
            _in_flight: self.endpoint.hold(),
        }
    }

    /// Whether `client` is on this stream.
    pub(crate) fn has(&self, client: &Client) -> bool {
        client.assignment().is_some_and(|a| a.stream == self.id)
    }

    fn assignment(&self) -> Assignment {
        Assignment {
            stream: self.id,
            upstream: self.address(),
        }
    }
}

/// A client's place on a stream: counted among the stream's clients and, in its cluster,
/// as a call in flight on the endpoint, so draining the endpoint (or its source dropping
/// it) waits for the client. Dropping it takes the client off the stream.
#[derive(Debug)]
pub(crate) struct Attachment {
    link: Arc<Link>,
    client: Arc<Client>,
    _in_flight: InFlight,
}

impl Attachment {
    pub(crate) fn link(&self) -> &Arc<Link> {
        &self.link
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        if self.link.has(&self.client) {
            self.client.assign(None);
        }
        self.link.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The events of a stream's queue, ending once `stop` is set and the events queued by
/// then are taken: that half-closes the gRPC stream after everything already queued
/// (the `closed` events of a shutdown, say).
pub(crate) fn events_until(
    events: mpsc::Receiver<Event>,
    stop: watch::Receiver<bool>,
) -> impl futures_util::Stream<Item = Event> + Send + 'static {
    futures_util::stream::unfold(
        (events, stop, false),
        |(mut events, mut stop, mut stopping)| async move {
            loop {
                if stopping {
                    return events.try_recv().ok().map(|e| (e, (events, stop, true)));
                }
                let event = tokio::select! {
                    biased;
                    _ = stop.wait_for(|s| *s) => None,
                    event = events.recv() => Some(event),
                };
                match event {
                    None => stopping = true,
                    Some(event) => return event.map(|e| (e, (events, stop, false))),
                }
            }
        },
    )
}

/// Resolves when `stop` is set (or its sender is gone).
pub(crate) async fn stopped(stop: &watch::Receiver<bool>) {
    let mut stop = stop.clone();
    let _ = stop.wait_for(|s| *s).await;
}
