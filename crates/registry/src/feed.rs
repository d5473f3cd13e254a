//! [`Feed`]: the live instances of each watched service, published to its watchers
//! (`Watch` calls and [`crate::Registry::follow`]) after every change of its members.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;

use crate::state::InstanceStatus;

/// One service's live instances (every service's, for the empty name).
pub(crate) type Snapshot = Arc<Vec<InstanceStatus>>;

/// A channel per watched service name; the empty name watches every service. A channel
/// exists only while someone holds its receiver, so watches of names that never register
/// leave nothing behind. A `watch` channel keeps only the newest list: a slow watcher skips
/// to it rather than queueing every change.
#[derive(Debug, Default)]
pub(crate) struct Feed {
    channels: HashMap<String, watch::Sender<Snapshot>>,
}

impl Feed {
    /// A receiver of `service`'s lists, starting at `current` if nobody watched it yet.
    pub(crate) fn subscribe(
        &mut self,
        service: &str,
        current: impl FnOnce() -> Vec<InstanceStatus>,
    ) -> watch::Receiver<Snapshot> {
        match self.channels.get(service) {
            Some(sender) if !sender.is_closed() => sender.subscribe(),
            _ => {
                let (sender, receiver) = watch::channel(Arc::new(current()));
                self.channels.insert(service.to_owned(), sender);
                receiver
            }
        }
    }

    /// Sends the new lists of `services` (and of every service) to their watchers; `list`
    /// says what a service now holds. Channels nobody holds any more are dropped.
    pub(crate) fn publish<'a>(
        &mut self,
        services: impl IntoIterator<Item = &'a str>,
        list: impl Fn(&str) -> Vec<InstanceStatus>,
    ) {
        let mut any = false;
        for service in services {
            any = true;
            self.send(service, &list);
        }
        if any {
            self.send("", &list);
        }
    }

    /// Drops the channels nobody holds any more.
    pub(crate) fn prune(&mut self) {
        self.channels.retain(|_, sender| !sender.is_closed());
    }

    /// How many service names are watched.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.channels.len()
    }

    fn send(&mut self, service: &str, list: &impl Fn(&str) -> Vec<InstanceStatus>) {
        let Some(sender) = self.channels.get(service) else {
            return;
        };
        if sender.is_closed() {
            self.channels.remove(service);
        } else {
            sender.send_replace(Arc::new(list(service)));
        }
    }
}
