//! [`Registry`]: the embedded store. [`RegistryState`] behind a lock, a [`Feed`] for
//! watchers, and two background tasks: one ends leases on time, one keeps the
//! [`StateFile`] up to date.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use yardmaster_core::{DiscoveredEndpoint, EndpointChange};

use crate::error::RegistryError;
use crate::feed::{Feed, Snapshot};
use crate::pb::registry_server::RegistryServer;
use crate::pb::RegisterRequest;
use crate::policy::{check_service_name, Policy};
use crate::service::RegistryService;
use crate::state::{Change, InstanceStatus, Lease, RegistryState, UnixMs};
use crate::state_file::{StateFile, StoredInstance};

/// Most `Watch` calls open at once: each holds a stream and a task's worth of memory, and
/// a client opening thousands must not starve the gateway.
const MAX_WATCHES: usize = 10_000;

/// Longest pause between two looks for ended leases, whatever the next lease end: bounds
/// how late an instance leaves, and how long the task outlives the registry.
const MAX_EXPIRY_PAUSE: Duration = Duration::from_millis(200);

/// How often renewals reach the state file. Members changes are written at once; a
/// renewal only moves a lease end, and after a crash an instance that lost up to this much
/// of its lease renews or registers again.
const RENEWAL_WRITE_INTERVAL: Duration = Duration::from_secs(1);

/// The registry of self-registered instances, embedded in the gateway: in memory, and in a
/// state file when opened with a path. Cheap to clone (an `Arc` inside); every clone is the
/// same registry.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    policy: Policy,
    shared: Mutex<Shared>,
    file: Option<Arc<StateFile>>,
    /// Wakes the state file writer after a members change (and when the registry drops).
    write_wanted: Arc<Notify>,
    watches: Arc<Semaphore>,
    started: AtomicBool,
}

/// What the lock guards: the state and the watchers, changed together so that a watcher
/// never misses a change between reading the list and subscribing.
struct Shared {
    state: RegistryState,
    feed: Feed,
    /// Counts changes, so the writer knows whether the file is behind.
    version: u64,
}

impl Registry {
    /// Opens the embedded registry: with `path`, loads what the file holds (instances whose
    /// lease has ended, or whose address `policy` no longer allows, are dropped) and keeps
    /// the file up to date once [`Registry::start`] runs; without, in memory only. Cheap:
    /// spawns nothing, but reads the file (blocking). `Err` names the file and says why it
    /// cannot be read or parsed, or says what is wrong with `policy`.
    pub fn open(path: Option<PathBuf>, policy: Policy) -> Result<Registry, String> {
        policy.check()?;
        let (state, file) = match path {
            Some(path) => {
                let file = StateFile::new(path);
                (
                    file.load(&policy, yardmaster_core::unix_ms_now())?,
                    Some(Arc::new(file)),
                )
            }
            None => (RegistryState::default(), None),
        };
        let shared = Shared {
            state,
            feed: Feed::default(),
            version: 0,
        };
        Ok(Registry {
            inner: Arc::new(Inner {
                policy,
                shared: Mutex::new(shared),
                file,
                write_wanted: Arc::new(Notify::new()),
                watches: Arc::new(Semaphore::new(MAX_WATCHES)),
                started: AtomicBool::new(false),
            }),
        })
    }

    /// Starts ending leases on time and writing the state file (when there is one) in
    /// background tasks; later calls do nothing. The tasks hold the registry weakly and end
    /// within 200 ms of the last clone's drop; that drop writes the file one last time.
    /// Must be called inside a Tokio runtime (it panics otherwise, as `tokio::spawn` does).
    pub fn start(&self) {
        if self.inner.started.swap(true, Ordering::SeqCst) {
            return;
        }
        // Detached on purpose: each task ends by itself once the registry is gone.
        tokio::spawn(expire_leases(Arc::downgrade(&self.inner)));
        if let Some(file) = &self.inner.file {
            let wanted = Arc::clone(&self.inner.write_wanted);
            tokio::spawn(write_state(
                Arc::downgrade(&self.inner),
                Arc::clone(file),
                wanted,
            ));
        }
    }

    /// The gRPC `yardmaster.registry.v1.Registry` service, for tonic or for any tower caller
    /// of `http::Request<B>` with a gRPC body `B`. Requests are limited to 64 KiB.
    pub fn grpc_service(&self) -> RegistryServer<RegistryService> {
        RegistryService::server(self.clone())
    }

    /// Runs as a discovery source for `service` (every service when empty): calls `sink`
    /// with [`EndpointChange::Discovered`] (weight 1 each) at once and after every change of
    /// the service's set of live addresses; returns when `sink` returns false. Never ends
    /// otherwise: cancel it by dropping the future.
    pub async fn follow(&self, service: &str, mut sink: impl FnMut(EndpointChange) -> bool + Send) {
        let mut changes = self.inner.subscribe(service);
        let mut sent = None;
        loop {
            let mut endpoints: Vec<DiscoveredEndpoint> = changes
                .borrow_and_update()
                .iter()
                .map(|instance| DiscoveredEndpoint::new(instance.address))
                .collect();
            endpoints.sort();
            endpoints.dedup();
            // A metadata change leaves the endpoints as they were: nothing to tell.
            if sent.as_ref() != Some(&endpoints) {
                sent = Some(endpoints.clone());
                if !sink(EndpointChange::Discovered(endpoints)) {
                    return;
                }
            }
            if changes.changed().await.is_err() {
                return;
            }
        }
    }

    /// The live instances of `service` (of every service when empty), by service and
    /// address, for the admin API.
    pub fn instances(&self, service: &str) -> Vec<InstanceStatus> {
        self.inner
            .lock()
            .state
            .list(service, yardmaster_core::unix_ms_now())
    }

    /// `Register`: checks `request` and `authorization` (the metadata value) against the
    /// policy, then registers or renews the instance.
    pub(crate) fn register(
        &self,
        request: RegisterRequest,
        authorization: Option<&str>,
    ) -> Result<Lease, RegistryError> {
        let policy = &self.inner.policy;
        let owner = policy.authorize(authorization)?;
        let registration = policy.validate(request, owner)?;
        let now = yardmaster_core::unix_ms_now();
        let mut shared = self.inner.lock();
        let (lease, change) =
            shared
                .state
                .register(registration, now, policy.max_instances, new_lease_id)?;
        self.inner
            .changed(&mut shared, change, [lease.service.as_str()], now);
        drop(shared);
        if change == Change::Members {
            tracing::info!(service = %lease.service, endpoint = %lease.address, "instance registered");
        }
        Ok(lease)
    }

    /// `KeepAlive`: renews a lease of the caller's.
    pub(crate) fn keep_alive(
        &self,
        lease_id: &str,
        authorization: Option<&str>,
    ) -> Result<Lease, RegistryError> {
        let owner = self.inner.policy.authorize(authorization)?;
        let now = yardmaster_core::unix_ms_now();
        let mut shared = self.inner.lock();
        let lease = shared.state.keep_alive(lease_id, &owner, now)?;
        self.inner.changed(&mut shared, Change::Renewed, [], now);
        Ok(lease)
    }

    /// `Deregister`: removes the instance holding a lease of the caller's.
    pub(crate) fn deregister(
        &self,
        lease_id: &str,
        authorization: Option<&str>,
    ) -> Result<(), RegistryError> {
        let owner = self.inner.policy.authorize(authorization)?;
        let now = yardmaster_core::unix_ms_now();
        let mut shared = self.inner.lock();
        let service = shared.state.deregister(lease_id, &owner, now)?;
        self.inner
            .changed(&mut shared, Change::Members, [service.as_str()], now);
        drop(shared);
        tracing::info!(%service, "instance deregistered");
        Ok(())
    }

    /// `List`: the live instances of a valid service name (every service when empty).
    pub(crate) fn list(&self, service: &str) -> Result<Vec<InstanceStatus>, RegistryError> {
        if !service.is_empty() {
            check_service_name(service)?;
        }
        Ok(self.instances(service))
    }

    /// `Watch`: the lists of a valid service name (every service when empty), with the
    /// permit that counts the watch against [`MAX_WATCHES`] until dropped.
    pub(crate) fn watch(
        &self,
        service: &str,
    ) -> Result<(watch::Receiver<Snapshot>, OwnedSemaphorePermit), RegistryError> {
        if !service.is_empty() {
            check_service_name(service)?;
        }
        let permit = Arc::clone(&self.inner.watches)
            .try_acquire_owned()
            .map_err(|_| {
                RegistryError::ResourceExhausted(format!(
                    "{MAX_WATCHES} watches are open, the most this registry serves at once"
                ))
            })?;
        Ok((self.inner.subscribe(service), permit))
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        // The state stays consistent across a panic elsewhere: every transition checks
        // before it changes anything.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn subscribe(&self, service: &str) -> watch::Receiver<Snapshot> {
        let mut shared = self.lock();
        let Shared { state, feed, .. } = &mut *shared;
        feed.subscribe(service, || {
            state.list(service, yardmaster_core::unix_ms_now())
        })
    }

    /// Records a change made under `shared`: the file falls behind, and on a members change
    /// the watchers of `services` hear of it and the writer wakes.
    fn changed<'a>(
        &self,
        shared: &mut Shared,
        change: Change,
        services: impl IntoIterator<Item = &'a str>,
        now: UnixMs,
    ) {
        shared.version += 1;
        if change == Change::Members {
            let Shared { state, feed, .. } = shared;
            feed.publish(services, |service| state.list(service, now));
            self.write_wanted.notify_one();
        }
    }

    /// Ends the leases due by `now`; returns how long to wait before looking again.
    fn expire(&self, now: UnixMs) -> Duration {
        let mut shared = self.lock();
        let ended = shared.state.expire(now);
        if !ended.is_empty() {
            let services: Vec<&str> = ended.iter().map(|(service, _)| service.as_str()).collect();
            self.changed(&mut shared, Change::Members, services, now);
        }
        shared.feed.prune();
        let next = shared.state.next_expiry();
        drop(shared);
        for (service, address) in &ended {
            tracing::info!(%service, endpoint = %address, "lease ended; instance removed");
        }
        let until_next = next.map_or(MAX_EXPIRY_PAUSE, |next| {
            Duration::from_millis(next.saturating_sub(now))
        });
        until_next.clamp(Duration::from_millis(1), MAX_EXPIRY_PAUSE)
    }

    /// The state to write, if `file` is behind it.
    fn unwritten(&self, file: &StateFile) -> Option<(u64, Vec<StoredInstance>)> {
        let shared = self.lock();
        (shared.version > file.written())
            .then(|| (shared.version, StoredInstance::all(&shared.state)))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.write_wanted.notify_one();
        let Some(file) = &self.file else {
            return;
        };
        // The last changes would be lost otherwise. This blocks once, at shutdown, for one
        // small write: the runtime may already be refusing blocking tasks by then.
        if let Some((version, instances)) = self.unwritten(file) {
            if let Err(error) = file.write(version, &instances) {
                tracing::warn!(%error, "registry state not saved at shutdown");
            }
        }
    }
}

/// Ends leases on time until the registry is gone.
async fn expire_leases(registry: Weak<Inner>) {
    loop {
        let Some(inner) = registry.upgrade() else {
            return;
        };
        let pause = inner.expire(yardmaster_core::unix_ms_now());
        drop(inner);
        tokio::time::sleep(pause).await;
    }
}

/// Writes the state file after each members change, and renewals at least every
/// [`RENEWAL_WRITE_INTERVAL`], until the registry is gone. Changes that arrive during a
/// write are coalesced into the next one: a flood of registrations costs a few writes.
async fn write_state(registry: Weak<Inner>, file: Arc<StateFile>, wanted: Arc<Notify>) {
    let mut failing = false;
    loop {
        // Timing out is the renewal schedule, not an error.
        let _ = tokio::time::timeout(RENEWAL_WRITE_INTERVAL, wanted.notified()).await;
        let Some(inner) = registry.upgrade() else {
            return;
        };
        let unwritten = inner.unwritten(&file);
        drop(inner);
        let Some((version, instances)) = unwritten else {
            continue;
        };
        let writer = Arc::clone(&file);
        let result = tokio::task::spawn_blocking(move || writer.write(version, &instances)).await;
        match result {
            Ok(Ok(())) if failing => {
                failing = false;
                tracing::info!(file = %file.path().display(), "registry state file written again");
            }
            Ok(Ok(())) => {}
            // Logged when writes start failing, not every second while they do; the next
            // round tries again.
            Ok(Err(error)) if !failing => {
                failing = true;
                tracing::warn!(%error, "registry state not saved; retrying every second");
            }
            Ok(Err(_)) => {}
            Err(error) => tracing::warn!(%error, "registry state writer failed"),
        }
    }
}

/// A new lease id: 128 random bits as 32 hex digits.
fn new_lease_id() -> String {
    format!("{:032x}", fastrand::u128(..))
}

#[cfg(test)]
mod tests;
