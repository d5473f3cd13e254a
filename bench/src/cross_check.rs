//! The h2load cross-check of the unary figure against every target, recorded in the
//! [`Summary`]; a missing or failing h2load is a note, never a failure.

use crate::h2load::{self, H2loadShape};
use crate::progress::shout;
use crate::settings::Settings;
use crate::summary::Summary;
use crate::target::{find_program, version_line, Target};

/// Runs h2load against each of `targets` in turn with the run's load shape; blocks for a
/// window per target.
pub(crate) fn cross_check(targets: &[Target], settings: Settings, summary: &mut Summary) {
    let Some(binary) = find_program("h2load") else {
        let note = "h2load is not installed: no cross-check \
                    (`apt-get install -y nghttp2-client`)"
            .to_owned();
        shout(&note);
        summary.notes.push(note);
        return;
    };
    summary
        .versions
        .push(("h2load".into(), version_line(&binary, "--version", false)));
    let shape = H2loadShape {
        connections: settings.connections,
        concurrency: settings.concurrency,
        warmup_secs: settings.warmup_secs.ceil() as u64,
        duration_secs: settings.duration_secs.ceil().max(1.0) as u64,
    };
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => {
            summary
                .notes
                .push(format!("h2load cross-check skipped: {error}"));
            return;
        }
    };
    for target in targets {
        match h2load::run(&binary, dir.path(), target, shape) {
            Ok(result) => {
                eprintln!(
                    "h2load     {:<10} {:>10.0} calls/s",
                    target.kind.label(),
                    result.rate
                );
                summary.h2load.push(result);
            }
            Err(error) => summary
                .notes
                .push(format!("h2load against {}: {error:#}", target.kind.label())),
        }
    }
}
