//! [`RegistryState`]: the registered instances and their leases, with every transition
//! (register, renew, deregister, expire) as a pure function of the time passed in. No
//! runtime, no I/O: the embedded store wraps it, and its tests drive it with a made-up clock.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use crate::error::RegistryError;
use crate::policy::{Owner, Registration};

/// Milliseconds since the Unix epoch: lease ends are wall-clock times, so they survive a
/// restart in the state file.
pub(crate) type UnixMs = u64;

/// One live instance, as `List`, `Watch` and the admin API show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstanceStatus {
    /// The service it serves, `users.v1.Users`.
    pub service: String,
    /// Where it listens.
    pub address: SocketAddr,
    /// Its registrant's labels.
    pub metadata: BTreeMap<String, String>,
    /// Its lease.
    pub lease_id: String,
    /// When its lease ends unless renewed, in milliseconds since the Unix epoch.
    pub expires_unix_ms: u64,
}

/// A lease granted or renewed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Lease {
    pub(crate) lease_id: String,
    pub(crate) service: String,
    pub(crate) address: SocketAddr,
    pub(crate) ttl: Duration,
    pub(crate) expires_unix_ms: UnixMs,
}

/// What the state keeps per instance, besides its service and address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) lease_id: String,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) ttl: Duration,
    pub(crate) expires_unix_ms: UnixMs,
    pub(crate) owner: Owner,
}

/// What a successful call changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// Only a lease end moved: watchers are not told (their lists would change at every
    /// renewal), the state file is rewritten lazily.
    Renewed,
    /// An instance came, went or changed its metadata: watchers of its service are told.
    Members,
}

/// The registered instances, by service and address, with their leases.
#[derive(Debug, Default)]
pub(crate) struct RegistryState {
    services: BTreeMap<String, BTreeMap<SocketAddr, Entry>>,
    /// Lease id to the instance holding it.
    leases: HashMap<String, (String, SocketAddr)>,
    /// Instances per owner, for `max_instances`.
    owned: HashMap<Owner, usize>,
}

impl RegistryState {
    /// Registers `registration` at `now`, or renews and updates the instance already at the
    /// same service and address (keeping its lease id). A new instance, or one moving to
    /// another token, must fit in `max_instances` for its owner; `new_lease_id` names it.
    pub(crate) fn register(
        &mut self,
        registration: Registration,
        now: UnixMs,
        max_instances: usize,
        new_lease_id: impl FnOnce() -> String,
    ) -> Result<(Lease, Change), RegistryError> {
        let Registration {
            service,
            address,
            metadata,
            ttl,
            owner,
        } = registration;
        let expires_unix_ms = now.saturating_add(millis(ttl));
        let existing = self.live_entry(&service, address, now);
        let renewed = existing.filter(|entry| entry.owner == owner).map(|entry| {
            let change = if entry.metadata == metadata {
                Change::Renewed
            } else {
                Change::Members
            };
            (entry.lease_id.clone(), change)
        });
        let (lease_id, change) = match renewed {
            Some(renewed) => renewed,
            None => {
                // An ended (not yet swept) lease of the same owner at this address is
                // replaced, so it does not count.
                let replaces_own = self
                    .services
                    .get(&service)
                    .and_then(|instances| instances.get(&address))
                    .is_some_and(|entry| entry.owner == owner);
                let owned = self.owned.get(&owner).copied().unwrap_or(0);
                let count = owned.saturating_sub(usize::from(replaces_own));
                if count >= max_instances {
                    return Err(too_many(&owner, count));
                }
                // An instance moving to another token keeps its lease id: it is the
                // same instance.
                let lease_id = existing.map_or_else(new_lease_id, |entry| entry.lease_id.clone());
                (lease_id, Change::Members)
            }
        };
        let entry = Entry {
            lease_id: lease_id.clone(),
            metadata,
            ttl,
            expires_unix_ms,
            owner,
        };
        self.insert(service.clone(), address, entry);
        let lease = Lease {
            lease_id,
            service,
            address,
            ttl,
            expires_unix_ms,
        };
        Ok((lease, change))
    }

    /// Renews `lease_id` for its TTL from `now`. `owner` must be the lease's, where both
    /// have one; a lease of another token is reported as unknown, like an ended one.
    pub(crate) fn keep_alive(
        &mut self,
        lease_id: &str,
        owner: &Owner,
        now: UnixMs,
    ) -> Result<Lease, RegistryError> {
        let (service, address) = self.live_lease(lease_id, owner, now)?;
        let entry = self
            .services
            .get_mut(&service)
            .and_then(|instances| instances.get_mut(&address))
            .ok_or_else(|| RegistryError::unknown_lease(lease_id))?;
        entry.expires_unix_ms = now.saturating_add(millis(entry.ttl));
        Ok(Lease {
            lease_id: entry.lease_id.clone(),
            service,
            address,
            ttl: entry.ttl,
            expires_unix_ms: entry.expires_unix_ms,
        })
    }

    /// Removes the instance holding `lease_id` (same rules as [`Self::keep_alive`]) and
    /// returns its service.
    pub(crate) fn deregister(
        &mut self,
        lease_id: &str,
        owner: &Owner,
        now: UnixMs,
    ) -> Result<String, RegistryError> {
        let (service, address) = self.live_lease(lease_id, owner, now)?;
        self.remove(&service, address);
        Ok(service)
    }

    /// Removes every instance whose lease ended at or before `now`; returns them by
    /// service and address.
    pub(crate) fn expire(&mut self, now: UnixMs) -> Vec<(String, SocketAddr)> {
        let mut ended = Vec::new();
        for (service, instances) in &self.services {
            for (address, entry) in instances {
                if entry.expires_unix_ms <= now {
                    ended.push((service.clone(), *address));
                }
            }
        }
        for (service, address) in &ended {
            self.remove(service, *address);
        }
        ended
    }

    /// When the next lease ends, if any instance is registered.
    pub(crate) fn next_expiry(&self) -> Option<UnixMs> {
        self.services
            .values()
            .flat_map(BTreeMap::values)
            .map(|entry| entry.expires_unix_ms)
            .min()
    }

    /// The instances of `service` (of every service when empty) whose lease is live at
    /// `now`, by service and address.
    pub(crate) fn list(&self, service: &str, now: UnixMs) -> Vec<InstanceStatus> {
        let services: Box<dyn Iterator<Item = (&String, &BTreeMap<SocketAddr, Entry>)>> =
            if service.is_empty() {
                Box::new(self.services.iter())
            } else {
                Box::new(self.services.get_key_value(service).into_iter())
            };
        services
            .flat_map(|(service, instances)| {
                instances
                    .iter()
                    .filter(move |(_, entry)| entry.expires_unix_ms > now)
                    .map(move |(address, entry)| InstanceStatus {
                        service: service.clone(),
                        address: *address,
                        metadata: entry.metadata.clone(),
                        lease_id: entry.lease_id.clone(),
                        expires_unix_ms: entry.expires_unix_ms,
                    })
            })
            .collect()
    }

    /// Every instance, live or not, for the state file.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&str, SocketAddr, &Entry)> {
        self.services.iter().flat_map(|(service, instances)| {
            instances
                .iter()
                .map(move |(address, entry)| (service.as_str(), *address, entry))
        })
    }

    /// Puts back an instance read from the state file; it replaces any instance at the
    /// same service and address, and any other holding the same lease id.
    pub(crate) fn restore(&mut self, service: String, address: SocketAddr, entry: Entry) {
        if let Some((service, address)) = self.leases.get(&entry.lease_id).cloned() {
            self.remove(&service, address);
        }
        self.insert(service, address, entry);
    }

    /// The entry at `service`/`address` if its lease is live at `now`.
    fn live_entry(&self, service: &str, address: SocketAddr, now: UnixMs) -> Option<&Entry> {
        self.services
            .get(service)
            .and_then(|instances| instances.get(&address))
            .filter(|entry| entry.expires_unix_ms > now)
    }

    /// Where the live `lease_id` is, if `owner` may use it.
    fn live_lease(
        &self,
        lease_id: &str,
        owner: &Owner,
        now: UnixMs,
    ) -> Result<(String, SocketAddr), RegistryError> {
        let unknown = || RegistryError::unknown_lease(lease_id);
        let (service, address) = self.leases.get(lease_id).ok_or_else(unknown)?;
        let entry = self
            .live_entry(service, *address, now)
            .ok_or_else(unknown)?;
        if let (Some(holder), Some(caller)) = (&entry.owner, owner) {
            if holder != caller {
                return Err(unknown());
            }
        }
        Ok((service.clone(), *address))
    }

    /// Inserts `entry`, replacing whatever was at `service`/`address`, and keeps the lease
    /// and owner indexes in step.
    fn insert(&mut self, service: String, address: SocketAddr, entry: Entry) {
        self.remove(&service, address);
        self.leases
            .insert(entry.lease_id.clone(), (service.clone(), address));
        *self.owned.entry(entry.owner.clone()).or_insert(0) += 1;
        self.services
            .entry(service)
            .or_default()
            .insert(address, entry);
    }

    fn remove(&mut self, service: &str, address: SocketAddr) -> Option<Entry> {
        let instances = self.services.get_mut(service)?;
        let entry = instances.remove(&address)?;
        if instances.is_empty() {
            self.services.remove(service);
        }
        self.leases.remove(&entry.lease_id);
        if let Some(count) = self.owned.get_mut(&entry.owner) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.owned.remove(&entry.owner);
            }
        }
        Some(entry)
    }
}

fn too_many(owner: &Owner, count: usize) -> RegistryError {
    let holder = match owner {
        Some(_) => "this token",
        None => "the registry",
    };
    RegistryError::ResourceExhausted(format!(
        "{holder} already has {count} live instances, the most allowed (max_instances): deregister one or let its lease end"
    ))
}

/// `duration` in whole milliseconds, saturating.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
