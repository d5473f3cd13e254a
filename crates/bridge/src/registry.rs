//! Every connected client of one bridge listener: its shared state (counters, the queue
//! towards the socket, frames not yet acknowledged) and broadcast.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use serde::Serialize;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::close_reason::CloseReason;

/// Which clients a broadcast reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Every client.
    All,
    /// Clients that sent or received data within the listener's `active_window`.
    Active,
    /// Clients idle for longer than `active_window`.
    Inactive,
}

/// One connected client, shared by its session task, the upstream stream it is assigned
/// to, and the admin API.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) id: Uuid,
    /// `id` as lower-case hyphenated text, as it appears on the wire.
    pub(crate) id_text: Arc<str>,
    pub(crate) peer: SocketAddr,
    /// The upstream stream the client is assigned to; `None` while it waits for one.
    assigned: ArcSwapOption<Assignment>,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    /// Milliseconds since the registry's epoch.
    last_activity: AtomicU64,
    outbox: Mutex<Outbox>,
    /// Frames read and sent upstream but not acknowledged, oldest first.
    unacked: Mutex<VecDeque<(u64, Bytes)>>,
    /// Wakes the session: frames queued, a close requested, or acknowledgements arrived.
    pub(crate) wake: Notify,
    /// Wakes the session to close at once, even in the middle of a write.
    pub(crate) abort: Notify,
    max_queued_bytes: usize,
}

#[derive(Debug, Default)]
struct Outbox {
    frames: VecDeque<Bytes>,
    bytes: usize,
    close: Option<CloseReason>,
    abort: Option<CloseReason>,
}

/// The upstream stream a client is on: acknowledgements count only from it, and the
/// admin API shows its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Assignment {
    /// Which stream, unique for the life of the process.
    pub(crate) stream: u64,
    pub(crate) upstream: SocketAddr,
}

/// What the session should do next towards the socket.
pub(crate) enum Outgoing {
    Frame(Bytes),
    Close(CloseReason),
    Nothing,
}

/// Why a frame was not queued for a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The client is closing.
    Closing,
    /// The queue is full; the client is being closed with [`CloseReason::QueueFull`].
    QueueFull,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the data half-updated in a
    // way that matters more than losing the client, so keep going.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Client {
    /// Puts the client on a stream (`Some`) or takes it off (`None`).
    pub(crate) fn assign(&self, assignment: Option<Assignment>) {
        self.assigned.store(assignment.map(Arc::new));
    }

    /// The stream the client is on now.
    pub(crate) fn assignment(&self) -> Option<Assignment> {
        self.assigned.load().as_deref().copied()
    }

    /// Queues `payload` to be written to the client. A frame that would take the queue over
    /// `max_queued_bytes` (unless the queue is empty) aborts the client instead.
    pub(crate) fn enqueue(&self, payload: Bytes) -> Result<(), Refused> {
        let mut outbox = lock(&self.outbox);
        if outbox.abort.is_some() || outbox.close.is_some() {
            return Err(Refused::Closing);
        }
        let total = outbox.bytes.saturating_add(payload.len());
        if outbox.bytes > 0 && total > self.max_queued_bytes {
            outbox.frames.clear();
            outbox.bytes = 0;
            outbox.abort = Some(CloseReason::QueueFull);
            drop(outbox);
            self.abort.notify_one();
            return Err(Refused::QueueFull);
        }
        outbox.bytes = total;
        outbox.frames.push_back(payload);
        drop(outbox);
        self.wake.notify_one();
        Ok(())
    }

    /// Closes the client once the frames queued so far are written. The first reason wins.
    pub(crate) fn close(&self, reason: CloseReason) {
        lock(&self.outbox).close.get_or_insert(reason);
        self.wake.notify_one();
    }

    /// The next frame to write, or the close to perform once the queue is empty.
    pub(crate) fn next_outgoing(&self) -> Outgoing {
        let mut outbox = lock(&self.outbox);
        if let Some(frame) = outbox.frames.pop_front() {
            outbox.bytes = outbox.bytes.saturating_sub(frame.len());
            return Outgoing::Frame(frame);
        }
        match &outbox.close {
            Some(reason) => Outgoing::Close(reason.clone()),
            None => Outgoing::Nothing,
        }
    }

    /// The reason to close at once, when one was set.
    pub(crate) fn aborted(&self) -> Option<CloseReason> {
        lock(&self.outbox).abort.clone()
    }

    /// Bytes queued and not yet written.
    pub(crate) fn queued_bytes(&self) -> usize {
        lock(&self.outbox).bytes
    }

    /// Records a frame sent upstream, to be replayed if that upstream fails before it
    /// acknowledges it.
    pub(crate) fn push_unacked(&self, seq: u64, frame: Bytes) {
        lock(&self.unacked).push_back((seq, frame));
    }

    /// Forgets every frame up to and including `seq`, and wakes the session, whose read
    /// window may have opened.
    pub(crate) fn ack(&self, seq: u64) {
        let mut unacked = lock(&self.unacked);
        while unacked.front().is_some_and(|(s, _)| *s <= seq) {
            unacked.pop_front();
        }
        drop(unacked);
        self.wake.notify_one();
    }

    /// How many frames await acknowledgement.
    pub(crate) fn unacked_len(&self) -> usize {
        lock(&self.unacked).len()
    }

    /// The frames awaiting acknowledgement, oldest first.
    pub(crate) fn unacked(&self) -> Vec<(u64, Bytes)> {
        lock(&self.unacked).iter().cloned().collect()
    }

    pub(crate) fn count_in(&self, registry: &Registry, bytes: usize) {
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
        self.touch(registry);
    }

    pub(crate) fn count_out(&self, registry: &Registry, bytes: usize) {
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
        self.touch(registry);
    }

    fn touch(&self, registry: &Registry) {
        self.last_activity
            .store(registry.now_ms(), Ordering::Relaxed);
    }

    /// How long since the client last sent or received data.
    pub(crate) fn idle_for(&self, registry: &Registry) -> Duration {
        let last = self.last_activity.load(Ordering::Relaxed);
        Duration::from_millis(registry.now_ms().saturating_sub(last))
    }

    fn is_in(&self, scope: Scope, registry: &Registry) -> bool {
        match scope {
            Scope::All => true,
            Scope::Active => self.idle_for(registry) <= registry.active_window,
            Scope::Inactive => self.idle_for(registry) > registry.active_window,
        }
    }

    /// A point-in-time view for the admin API.
    pub(crate) fn status(&self, registry: &Registry) -> ClientStatus {
        let idle = self.idle_for(registry);
        ClientStatus {
            id: self.id_text.to_string(),
            peer: self.peer,
            upstream: self.assignment().map(|a| a.upstream),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            idle_ms: u64::try_from(idle.as_millis()).unwrap_or(u64::MAX),
            active: idle <= registry.active_window,
            queued_bytes: self.queued_bytes(),
            unacked_frames: self.unacked_len(),
        }
    }
}

/// What the admin API shows of a client.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ClientStatus {
    /// The client's UUID.
    pub id: String,
    /// The client's address.
    pub peer: SocketAddr,
    /// The endpoint the client is assigned to; `None` while it waits for one.
    pub upstream: Option<SocketAddr>,
    /// Bytes of frames read from the client (without framing).
    pub bytes_in: u64,
    /// Bytes of frames written to the client (without framing).
    pub bytes_out: u64,
    /// Milliseconds since the client last sent or received data.
    pub idle_ms: u64,
    /// Whether the client sent or received data within `active_window`.
    pub active: bool,
    /// Bytes queued towards the client, not yet written.
    pub queued_bytes: usize,
    /// Frames sent upstream and not yet acknowledged.
    pub unacked_frames: usize,
}

/// The clients of one bridge listener, by UUID.
#[derive(Debug)]
pub(crate) struct Registry {
    clients: RwLock<HashMap<Uuid, Arc<Client>>>,
    epoch: Instant,
    active_window: Duration,
    max_queued_bytes: usize,
}

impl Registry {
    pub(crate) fn new(active_window: Duration, max_queued_bytes: usize) -> Registry {
        Registry {
            clients: RwLock::new(HashMap::new()),
            epoch: Instant::now(),
            active_window,
            max_queued_bytes,
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Registers a new client with a fresh UUID (v4).
    pub(crate) fn open(&self, peer: SocketAddr) -> Arc<Client> {
        let id = Uuid::new_v4();
        let client = Arc::new(Client {
            id,
            id_text: Arc::from(id.hyphenated().to_string()),
            peer,
            assigned: ArcSwapOption::empty(),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            last_activity: AtomicU64::new(self.now_ms()),
            outbox: Mutex::new(Outbox::default()),
            unacked: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            abort: Notify::new(),
            max_queued_bytes: self.max_queued_bytes,
        });
        self.write().insert(id, client.clone());
        client
    }

    pub(crate) fn remove(&self, id: Uuid) {
        self.write().remove(&id);
    }

    /// The client with this UUID text, if connected.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<Client>> {
        let id = Uuid::parse_str(id).ok()?;
        self.read().get(&id).cloned()
    }

    /// Every client, in no particular order.
    pub(crate) fn clients(&self) -> Vec<Arc<Client>> {
        self.read().values().cloned().collect()
    }

    /// Queues `payload` for every client in `scope`; returns how many got it.
    pub(crate) fn broadcast(&self, scope: Scope, payload: &Bytes) -> usize {
        self.clients()
            .iter()
            .filter(|c| c.is_in(scope, self))
            .filter(|c| c.enqueue(payload.clone()).is_ok())
            .count()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Uuid, Arc<Client>>> {
        self.clients.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Uuid, Arc<Client>>> {
        self.clients.write().unwrap_or_else(PoisonError::into_inner)
    }
}
