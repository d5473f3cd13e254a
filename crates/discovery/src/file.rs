//! File discovery: a YAML or JSON list of endpoints that another tool writes, read again
//! whenever its content changes. A file that cannot be read or parsed keeps the last good
//! set; the error names the file, line and field.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use yardmaster_core::{DiscoveredEndpoint, EndpointChange};

/// Parses a file's text into endpoints; `Err` is a message naming the file (as given),
/// line and field. The gateway passes the configuration crate's parser, so the file's
/// format and errors are those of the configuration file.
pub type ParseEndpoints = fn(file: &str, text: &str) -> Result<Vec<DiscoveredEndpoint>, String>;

/// The largest file read: a list of endpoints is a few KiB; anything far larger is not one.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Endpoints from a watched file.
#[derive(Debug)]
pub struct FileSource {
    path: PathBuf,
    parse: ParseEndpoints,
    poll: Duration,
}

impl FileSource {
    /// A source reading `path` with `parse`, looking for a change every `poll`. The whole
    /// content is compared, so a rewrite within the same second, a rename over the file
    /// (what editors and Kubernetes ConfigMap updates do) and a truncation are all seen.
    pub fn new(path: PathBuf, parse: ParseEndpoints, poll: Duration) -> FileSource {
        FileSource { path, parse, poll }
    }

    pub(crate) async fn run(self, sink: &mut (impl FnMut(EndpointChange) -> bool + Send)) {
        let name = self.path.display().to_string();
        // What was last read, good or bad: the same content is not reported twice.
        let mut seen: Option<Result<Vec<u8>, String>> = None;
        loop {
            let read = read(&self.path).await;
            if seen.as_ref() != Some(&read) {
                let change = match &read {
                    Ok(bytes) => match std::str::from_utf8(bytes) {
                        Ok(text) => match (self.parse)(&name, text) {
                            Ok(endpoints) => EndpointChange::Discovered(endpoints),
                            Err(error) => EndpointChange::DiscoveryFailed(error),
                        },
                        Err(_) => EndpointChange::DiscoveryFailed(format!(
                            "{name}: the file is not UTF-8 text"
                        )),
                    },
                    Err(error) => EndpointChange::DiscoveryFailed(error.clone()),
                };
                seen = Some(read);
                if !sink(change) {
                    return;
                }
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

async fn read(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let name = path.display();
    let metadata = tokio::fs::metadata(path)
        .await
        .map_err(|e| format!("{name}: {e}"))?;
    if metadata.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{name}: {} bytes is more than an endpoint list can be ({MAX_FILE_BYTES} at most)",
            metadata.len()
        ));
    }
    tokio::fs::read(path)
        .await
        .map_err(|e| format!("{name}: {e}"))
}

impl fmt::Display for FileSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "file {}", self.path.display())
    }
}
