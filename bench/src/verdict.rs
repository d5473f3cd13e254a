//! [`Verdict`]: the issues' data-path targets for Yardmaster, each a [`Check`] judged on
//! the medians of this run. Reported, never asserted.

#[cfg(test)]
mod tests;

use crate::figures::{mib, rate, us, MIB};
use crate::row::Row;
use crate::scenario::Scenario;
use crate::summary::Summary;
use crate::target::Kind;

/// Yardmaster's idle resident memory must stay under this.
const IDLE_RSS_TARGET_BYTES: u64 = 20 * 1024 * 1024;
/// Yardmaster's streaming throughput must reach this share of direct.
const STREAM_SHARE_OF_DIRECT: ShareTarget = ShareTarget {
    what: "streaming throughput",
    scenario: Scenario::Stream,
    base: Kind::Direct,
    of: "direct",
    share: 0.9,
};
/// Mirroring to two targets may add at most this share to the primary's p50 (issue 4).
const MIRROR_P50_SLOWDOWN_TARGET: f64 = 0.10;
/// Gateway memory per idle bridge client (issue 5).
const BRIDGE_BYTES_PER_CLIENT_TARGET: f64 = 16.0 * 1024.0;
/// "Close to a plain TCP proxy's" frame throughput (issue 5), read as this share of
/// HAProxy's in `mode tcp`.
const BRIDGE_FRAMES_SHARE_OF_HAPROXY: ShareTarget = ShareTarget {
    what: "bridge frames/s",
    scenario: Scenario::BridgeFrames,
    base: Kind::Haproxy,
    of: "HAProxy's (`mode tcp`)",
    share: 0.9,
};

/// Transcoded unary calls must reach this share of the same calls as native gRPC, and
/// cost at most this multiple of their proxy CPU (issue 16).
const TRANSCODE_SHARE_OF_NATIVE: f64 = 0.7;
const TRANSCODE_CPU_OF_NATIVE: f64 = 1.5;

/// A throughput target: Yardmaster's rate in `scenario` at least `share` of `base`'s.
struct ShareTarget {
    /// What the goal measures, in its own words.
    what: &'static str,
    scenario: Scenario,
    base: Kind,
    /// How the goal names `base`.
    of: &'static str,
    share: f64,
}

/// Whether one of the data-path targets holds in this run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Met,
    Missed,
    /// Not measured in this run (a peer not installed, a scenario not run).
    Unknown,
}

/// One target of the issue, judged on this run's medians.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Check {
    pub(crate) goal: String,
    pub(crate) outcome: Outcome,
    pub(crate) detail: String,
}

impl Check {
    /// Met or missed by `figures` (whether it holds, and the figures that say so);
    /// unknown without them.
    fn judge(goal: String, figures: Option<(bool, String)>) -> Check {
        match figures {
            Some((holds, detail)) => Check {
                goal,
                outcome: if holds { Outcome::Met } else { Outcome::Missed },
                detail,
            },
            None => Check {
                goal,
                outcome: Outcome::Unknown,
                detail: "not measured in this run".to_owned(),
            },
        }
    }
}

/// The targets for Yardmaster, judged on this run (a verdict, never a test).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Verdict {
    /// One check per target, in the order the report lists them.
    pub(crate) checks: Vec<Check>,
}

impl Verdict {
    /// Judges every target on `summary`; a target whose figures were not measured is
    /// [`Outcome::Unknown`].
    pub(crate) fn of(summary: &Summary) -> Verdict {
        let unary = |kind| summary.row(Scenario::Unary, kind);
        let ym = unary(Kind::Yardmaster);
        let mut checks = Vec::new();
        for peer in [Kind::Nginx, Kind::Haproxy] {
            checks.extend(peer_checks(ym.as_ref(), peer, unary(peer).as_ref()));
        }
        checks.push(cpu_check(ym.as_ref(), unary(Kind::Nginx).as_ref()));
        checks.push(stream_check(summary));
        checks.push(mirror_check(summary));
        checks.push(bridge_memory_check(summary));
        checks.push(share_check(summary, &BRIDGE_FRAMES_SHARE_OF_HAPROXY));
        checks.extend(transcode_checks(summary));
        checks.push(idle_rss_check(summary));
        Verdict { checks }
    }

    /// Whether any target could be judged at all in this run.
    pub(crate) fn has_figures(&self) -> bool {
        !self.checks.iter().all(|c| c.outcome == Outcome::Unknown)
    }
}

/// Unary throughput at least `peer`'s, and p99 latency at most.
fn peer_checks(ym: Option<&Row>, peer: Kind, theirs: Option<&Row>) -> [Check; 2] {
    let both = ym.zip(theirs);
    [
        Check::judge(
            format!("unary throughput ≥ {}'s", peer.label()),
            both.map(|(ym, peer)| {
                (
                    ym.rate >= peer.rate,
                    format!("{} vs {} calls/s", rate(ym.rate), rate(peer.rate)),
                )
            }),
        ),
        Check::judge(
            format!("unary p99 latency ≤ {}'s", peer.label()),
            both.and_then(|(ym, peer)| {
                let (ours, theirs) = (ym.latency?.p99_us, peer.latency?.p99_us);
                Some((ours <= theirs, format!("{} vs {} µs", us(ours), us(theirs))))
            }),
        ),
    ]
}

/// Proxy CPU per unary call at most nginx's.
fn cpu_check(ym: Option<&Row>, nginx: Option<&Row>) -> Check {
    Check::judge(
        "unary CPU per call ≤ nginx's".to_owned(),
        ym.zip(nginx).and_then(|(ym, nginx)| {
            let (ours, theirs) = (ym.proxy_cpu_us_per_op?, nginx.proxy_cpu_us_per_op?);
            Some((ours <= theirs, format!("{} vs {} µs", us(ours), us(theirs))))
        }),
    )
}

/// Streaming throughput as a share of direct, with a byte relay's share beside it for
/// scale: what any proxy on these cores could reach at best.
fn stream_check(summary: &Summary) -> Check {
    let mut stream = share_check(summary, &STREAM_SHARE_OF_DIRECT);
    if let (Some(relay), Some(direct)) = (
        summary.row(Scenario::Stream, Kind::HaproxyRelay),
        summary.row(Scenario::Stream, Kind::Direct),
    ) {
        if direct.rate > 0.0 {
            stream.detail.push_str(&format!(
                "; a byte relay (HAProxy `mode tcp`, no HTTP/2): {:.0} %",
                relay.rate / direct.rate * 100.0
            ));
        }
    }
    stream
}

/// Yardmaster's rate against `target`, in the scenario's unit.
fn share_check(summary: &Summary, target: &ShareTarget) -> Check {
    let ours = summary.row(target.scenario, Kind::Yardmaster);
    let base = summary.row(target.scenario, target.base);
    let unit = target.scenario.unit();
    Check::judge(
        format!(
            "{} ≥ {:.0} % of {}",
            target.what,
            target.share * 100.0,
            target.of
        ),
        ours.zip(base)
            .filter(|(_, base)| base.rate > 0.0)
            .map(|(ours, base)| {
                let share = ours.rate / base.rate;
                (
                    share >= target.share,
                    format!(
                        "{:.0} % ({} vs {} {unit})",
                        share * 100.0,
                        rate(ours.rate),
                        rate(base.rate)
                    ),
                )
            }),
    )
}

/// Issue 16: HTTP/JSON through a `transcode` route against the same unary calls as
/// native gRPC through a `forward` route, in the same run: calls/s and proxy CPU per call.
fn transcode_checks(summary: &Summary) -> [Check; 2] {
    let native = summary.row(Scenario::Transcode, Kind::Yardmaster);
    let json = summary.row(Scenario::Transcode, Kind::YardmasterTranscode);
    let both = native.zip(json);
    [
        Check::judge(
            format!("transcoded unary ≥ {TRANSCODE_SHARE_OF_NATIVE}× native gRPC calls/s"),
            both.as_ref()
                .filter(|(native, _)| native.rate > 0.0)
                .map(|(native, json)| {
                    let share = json.rate / native.rate;
                    (
                        share >= TRANSCODE_SHARE_OF_NATIVE,
                        format!(
                            "{share:.2}× ({} vs {} calls/s)",
                            rate(json.rate),
                            rate(native.rate)
                        ),
                    )
                }),
        ),
        Check::judge(
            format!("transcoded CPU per call ≤ {TRANSCODE_CPU_OF_NATIVE}× native gRPC's"),
            both.as_ref().and_then(|(native, json)| {
                let (ours, base) = (json.proxy_cpu_us_per_op?, native.proxy_cpu_us_per_op?);
                (base > 0.0).then(|| {
                    (
                        ours / base <= TRANSCODE_CPU_OF_NATIVE,
                        format!("{:.2}× ({} vs {} µs)", ours / base, us(ours), us(base)),
                    )
                })
            }),
        ),
    ]
}

/// Issue 4: mirroring every call to two more targets keeps the primary's p50 within 10 %
/// of the same calls through a plain `forward` route. Judged with the copy targets at the
/// lowest CPU priority, as if on other hosts: the goal is about what the gateway's
/// mirroring costs the primary, not what two more upstreams on the same two cores cost.
/// The figure with copy targets sharing the cores is reported next to it.
fn mirror_check(summary: &Summary) -> Check {
    let plain = summary.row(Scenario::Mirror, Kind::Yardmaster);
    let mirrored = summary.row(Scenario::Mirror, Kind::YardmasterMirror);
    let shared = summary.row(Scenario::Mirror, Kind::YardmasterMirrorShared);
    Check::judge(
        format!(
            "mirror ×2: primary p50 within {:.0} % of no mirroring",
            MIRROR_P50_SLOWDOWN_TARGET * 100.0
        ),
        plain.zip(mirrored).and_then(|(plain, mirrored)| {
            let (ours, base) = (mirrored.latency?, plain.latency?);
            (base.p50_us > 0.0).then(|| {
                let slowdown = |p50_us: f64| (p50_us / base.p50_us - 1.0) * 100.0;
                let mut detail = format!(
                    "copy targets as if on other hosts: p50 {} vs {} µs ({:+.0} %), \
                     p99 {} vs {} µs",
                    us(ours.p50_us),
                    us(base.p50_us),
                    slowdown(ours.p50_us),
                    us(ours.p99_us),
                    us(base.p99_us)
                );
                if let Some(shared) = shared.and_then(|row| row.latency) {
                    detail.push_str(&format!(
                        "; copy targets sharing the cores: p50 {} µs ({:+.0} %)",
                        us(shared.p50_us),
                        slowdown(shared.p50_us)
                    ));
                }
                (
                    ours.p50_us / base.p50_us - 1.0 <= MIRROR_P50_SLOWDOWN_TARGET,
                    detail,
                )
            })
        }),
    )
}

/// Issue 5: gateway memory per idle bridge client, from `bridge-idle`.
fn bridge_memory_check(summary: &Summary) -> Check {
    Check::judge(
        format!(
            "bridge: ≤ {:.0} KiB of gateway memory per idle client",
            BRIDGE_BYTES_PER_CLIENT_TARGET / 1024.0
        ),
        summary
            .row(Scenario::BridgeIdle, Kind::Yardmaster)
            .and_then(|row| {
                let per_client = row.bytes_per_client?;
                Some((
                    per_client <= BRIDGE_BYTES_PER_CLIENT_TARGET,
                    format!(
                        "{:.1} KiB per client ({} clients held)",
                        per_client / 1024.0,
                        row.operations / row.rates.len().max(1) as u64
                    ),
                ))
            }),
    )
}

/// Yardmaster's resident memory after start, before any load.
fn idle_rss_check(summary: &Summary) -> Check {
    Check::judge(
        format!("idle RSS < {:.0} MiB", IDLE_RSS_TARGET_BYTES as f64 / MIB),
        summary
            .idle_rss_of(Kind::Yardmaster)
            .map(|bytes| (bytes < IDLE_RSS_TARGET_BYTES, format!("{} MiB", mib(bytes)))),
    )
}
