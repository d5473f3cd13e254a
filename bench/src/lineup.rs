//! The lineup of a run: direct, Yardmaster and each peer proxy that is installed, started
//! in front of the upstreams, with what the report must say about the ones that are not.

use std::path::Path;

use crate::progress::shout;
use crate::summary::Summary;
use crate::target::{Kind, Target};
use crate::upstream::Upstreams;

/// Starts a peer proxy with a worker per core; `None` when it is not installed.
type StartPeer = fn(&Upstreams, usize) -> anyhow::Result<Option<Target>>;

/// The proxies Yardmaster is compared with, each with its Debian package.
const PEERS: [(Kind, &str, StartPeer); 2] = [
    (Kind::Nginx, "nginx", Target::nginx),
    (Kind::Haproxy, "haproxy", Target::haproxy),
];

/// Starts every target, in interleaving order, and records in `summary` their versions,
/// the kinds measured and each proxy's memory before any load. A peer that is missing is
/// a note and one that fails to start a failure; only Yardmaster failing is an error.
pub(crate) fn start_targets(
    yardmaster: &Path,
    upstreams: &Upstreams,
    cores: usize,
    summary: &mut Summary,
) -> anyhow::Result<Vec<Target>> {
    let mut targets = vec![Target::direct(upstreams)];
    let ym = Target::yardmaster(yardmaster, upstreams)?;
    if let Some(proxy) = &ym.proxy {
        summary
            .versions
            .push(("Yardmaster".into(), proxy.version.clone()));
    }
    targets.push(ym);
    for (kind, package, start) in PEERS {
        if let Some(target) = started_peer(kind, package, start(upstreams, cores), summary) {
            targets.push(target);
        }
    }
    record_lineup(&targets, summary);
    Ok(targets)
}

/// The peer `kind` if it started; otherwise the note or failure that says why not.
fn started_peer(
    kind: Kind,
    package: &str,
    started: anyhow::Result<Option<Target>>,
    summary: &mut Summary,
) -> Option<Target> {
    match started {
        Ok(Some(target)) => {
            if let Some(proxy) = &target.proxy {
                summary
                    .versions
                    .push((kind.label().into(), proxy.version.clone()));
            }
            Some(target)
        }
        Ok(None) => {
            let note = format!(
                "{} is not installed: measured without it \
                 (`apt-get install -y {package}`)",
                kind.label()
            );
            shout(&note);
            summary.notes.push(note);
            None
        }
        Err(error) => {
            let failure = format!("{} failed to start: {error:#}", kind.label());
            shout(&failure);
            summary.failures.push(failure);
            None
        }
    }
}

fn record_lineup(targets: &[Target], summary: &mut Summary) {
    summary.kinds = targets.iter().map(|t| t.kind).collect();
    // Yardmaster's mirror, fan-out and transcode routes, reported as targets of their own.
    summary.kinds.extend([
        Kind::YardmasterMirror,
        Kind::YardmasterMirrorShared,
        Kind::YardmasterFanout,
        Kind::YardmasterTranscode,
        Kind::HaproxyRelay,
    ]);
    // Every proxy is up and has not served a call yet.
    for target in targets {
        if let Some(rss) = target.proxy.as_ref().and_then(|p| p.processes.rss_bytes()) {
            summary.idle_rss.push((target.kind, rss));
        }
    }
}
