//! [`StateFile`]: the embedded store's file, the whole registry as JSON with absolute lease
//! ends, written atomically (temporary file, fsync, rename over, fsync the directory) and
//! read back when the registry opens. Its calls block: run them off the async threads.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::policy::{check_service_name, Owner, Policy};
use crate::state::{millis, Entry, RegistryState, UnixMs};

/// The file format this build writes and reads.
const FORMAT: u32 = 1;

/// The file's content.
#[derive(Deserialize)]
struct Content {
    /// [`FORMAT`]: a file of another format is refused, not misread.
    format: u32,
    instances: Vec<StoredInstance>,
}

/// One instance as the file holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredInstance {
    service: String,
    address: SocketAddr,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    lease_id: String,
    ttl_ms: u64,
    expires_unix_ms: UnixMs,
    /// The registering token's fingerprint, when the registry needed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner: Owner,
}

impl StoredInstance {
    /// Every instance of `state`, for [`StateFile::write`].
    pub(crate) fn all(state: &RegistryState) -> Vec<StoredInstance> {
        state
            .entries()
            .map(|(service, address, entry)| StoredInstance {
                service: service.to_owned(),
                address,
                metadata: entry.metadata.clone(),
                lease_id: entry.lease_id.clone(),
                ttl_ms: millis(entry.ttl),
                expires_unix_ms: entry.expires_unix_ms,
                owner: entry.owner.clone(),
            })
            .collect()
    }
}

/// The embedded store's file.
#[derive(Debug)]
pub(crate) struct StateFile {
    path: PathBuf,
    /// The version of the state last written: a write of an older version (one that lost
    /// a race with a newer one) is skipped.
    written: Mutex<u64>,
}

impl StateFile {
    pub(crate) fn new(path: PathBuf) -> StateFile {
        StateFile {
            path,
            written: Mutex::new(0),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The version last written (0: none since the registry opened).
    pub(crate) fn written(&self) -> u64 {
        *self.written.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the file: no file is an empty registry. Instances whose lease ended by `now`,
    /// or whose address `policy` no longer allows, are dropped. `Err` names the file and
    /// says why it cannot be used.
    pub(crate) fn load(&self, policy: &Policy, now: UnixMs) -> Result<RegistryState, String> {
        let name = self.path.display();
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                // Said now rather than at the first write, where only a log would tell.
                return match self.path.parent() {
                    Some(directory) if !directory.as_os_str().is_empty() && !directory.is_dir() => {
                        Err(format!(
                            "registry state file {name}: directory {} does not exist",
                            directory.display()
                        ))
                    }
                    _ => Ok(RegistryState::default()),
                };
            }
            Err(error) => {
                return Err(format!(
                    "registry state file {name}: cannot read it: {error}"
                ))
            }
        };
        let content: Content = serde_json::from_slice(&bytes).map_err(|error| {
            format!("registry state file {name}: not a registry state: {error}")
        })?;
        if content.format != FORMAT {
            return Err(format!(
                "registry state file {name}: format {} is not the format {FORMAT} this build reads",
                content.format
            ));
        }
        let mut state = RegistryState::default();
        let (mut ended, mut refused) = (0, 0);
        for stored in content.instances {
            if stored.expires_unix_ms <= now {
                ended += 1;
            } else if !policy.is_allowed(stored.address)
                || check_service_name(&stored.service).is_err()
            {
                refused += 1;
            } else {
                let entry = Entry {
                    lease_id: stored.lease_id,
                    metadata: stored.metadata,
                    ttl: Duration::from_millis(stored.ttl_ms),
                    expires_unix_ms: stored.expires_unix_ms,
                    owner: stored.owner,
                };
                state.restore(stored.service, stored.address, entry);
            }
        }
        if refused > 0 {
            tracing::warn!(file = %name, refused, "dropped registered instances the policy no longer allows");
        }
        tracing::info!(file = %name, ended, "registry state loaded; instances whose lease ended were dropped");
        Ok(state)
    }

    /// Replaces the file's content with `instances`, the state at `version`, unless a
    /// newer version is already written. Blocks on disk I/O; `Err` names the file.
    pub(crate) fn write(&self, version: u64, instances: &[StoredInstance]) -> io::Result<()> {
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        if version <= *written {
            return Ok(());
        }
        let content = ContentRef {
            format: FORMAT,
            instances,
        };
        let bytes = serde_json::to_vec_pretty(&content).map_err(io::Error::other)?;
        write_atomically(&self.path, &bytes).map_err(|error| {
            io::Error::new(
                error.kind(),
                format!(
                    "writing registry state file {}: {error}",
                    self.path.display()
                ),
            )
        })?;
        *written = version;
        Ok(())
    }
}

/// [`Content`] borrowing its instances, so writing does not copy them again.
#[derive(Serialize)]
struct ContentRef<'a> {
    format: u32,
    instances: &'a [StoredInstance],
}

/// Writes `bytes` to `path.tmp`, syncs it, renames it over `path` and syncs the directory:
/// a crash at any point leaves either the old file or the new one, never a mix.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    {
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&temporary, path)?;
    sync_directory(path)
}

/// Makes the rename durable (POSIX: a rename is recorded in the directory).
#[cfg(unix)]
fn sync_directory(path: &Path) -> io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(directory)?.sync_all()
}

#[cfg(not(unix))]
fn sync_directory(_path: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests;
