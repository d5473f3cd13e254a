//! [`Settings`]: the load shape and repetition of a run, resolved from the command line
//! and fitted to this process's limits.

/// File descriptors a process needs beyond one per bridge client (listeners, upstream
/// connections, the runtime).
const SPARE_FILES: usize = 256;

/// The load shape and repetition of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Settings {
    pub(crate) quick: bool,
    pub(crate) repeats: usize,
    pub(crate) warmup_secs: f64,
    pub(crate) duration_secs: f64,
    pub(crate) connections: usize,
    pub(crate) concurrency: usize,
    /// Calls per second offered in `mirror` and `fanout`.
    pub(crate) rate: f64,
    /// Idle clients of `bridge-idle`.
    pub(crate) bridge_clients: usize,
}

impl Settings {
    /// Lowers `bridge_clients` to what an open-files limit of `limit` leaves room for, and
    /// returns the note saying so; `None` (and no change) when they fit or there is no limit.
    pub(crate) fn fit_open_files(&mut self, limit: Option<u64>) -> Option<String> {
        // The load process holds one socket per bridge client and Yardmaster one more;
        // both inherit this process's limit.
        let limit = limit?;
        let fits = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .saturating_sub(SPARE_FILES)
            .max(1);
        (fits < self.bridge_clients).then(|| {
            let note = format!(
                "open files limited to {limit} (`ulimit -n`): bridge-idle holds {fits} \
                 clients instead of {}; raise the limit (`ulimit -n 20000`) to measure more",
                self.bridge_clients
            );
            self.bridge_clients = fits;
            note
        })
    }
}

#[cfg(test)]
impl Settings {
    /// A full run's settings with every flag at its default.
    pub(crate) fn full() -> Settings {
        Settings {
            quick: false,
            repeats: 3,
            warmup_secs: 1.0,
            duration_secs: 5.0,
            connections: 4,
            concurrency: 64,
            rate: 2000.0,
            bridge_clients: 10_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_clients_shrink_to_the_open_files_limit_with_a_note() {
        let mut settings = Settings::full();
        let note = settings.fit_open_files(Some(1024));
        assert_eq!(settings.bridge_clients, 768);
        assert_eq!(
            note.as_deref(),
            Some(
                "open files limited to 1024 (`ulimit -n`): bridge-idle holds 768 clients \
                 instead of 10000; raise the limit (`ulimit -n 20000`) to measure more"
            )
        );
    }

    #[test]
    fn bridge_clients_stay_when_they_fit_or_nothing_limits_them() {
        let mut settings = Settings {
            bridge_clients: 500,
            ..Settings::full()
        };
        assert_eq!(settings.fit_open_files(Some(1024)), None);
        assert_eq!(settings.fit_open_files(None), None);
        assert_eq!(settings.bridge_clients, 500);
    }
}
