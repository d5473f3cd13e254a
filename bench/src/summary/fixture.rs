//! Made-up runs for the tests of the summary, the verdict and the report.

use super::Summary;
use crate::load::{Latency, LoadReport};
use crate::machine::Machine;
use crate::sample::Sample;
use crate::scenario::Scenario;
use crate::settings::Settings;
use crate::target::Kind;

/// `operations` in a 1 s window, with `cpu_us` of proxy CPU per operation.
pub(crate) fn sample(
    scenario: Scenario,
    kind: Kind,
    operations: u64,
    p99_us: f64,
    cpu_us: f64,
) -> Sample {
    Sample {
        scenario,
        kind,
        report: LoadReport {
            operations,
            errors: 0,
            elapsed_secs: 1.0,
            latency: Some(Latency {
                p50_us: p99_us / 4.0,
                p90_us: p99_us / 2.0,
                p99_us,
                max_us: p99_us * 2.0,
            }),
            first_error: None,
        },
        proxy_cpu_secs: (kind != Kind::Direct).then_some(operations as f64 * cpu_us * 1e-6),
        upstream_cpu_secs: Some(operations as f64 * 5e-6),
        idle_rss_bytes: None,
        held_rss_bytes: None,
    }
}

/// An empty summary of a full run of `scenarios`.
pub(crate) fn empty(scenarios: Vec<Scenario>) -> Summary {
    Summary::new(Settings::full(), scenarios, Machine::default())
}

/// Direct at 70k, Yardmaster at 50k (10 µs CPU per call), nginx at 25k (29 µs), three
/// repetitions each, unary.
pub(crate) fn summary() -> Summary {
    let mut summary = empty(vec![Scenario::Unary]);
    summary.kinds = vec![Kind::Direct, Kind::Yardmaster, Kind::Nginx];
    for (kind, rates, p99, cpu_us) in [
        (Kind::Direct, [69_000, 70_000, 71_000], 900.0, 0.0),
        (Kind::Yardmaster, [52_000, 48_000, 50_000], 1500.0, 10.0),
        (Kind::Nginx, [25_000, 26_000, 24_000], 4000.0, 29.0),
    ] {
        for ops in rates {
            summary
                .samples
                .push(sample(Scenario::Unary, kind, ops, p99, cpu_us));
        }
    }
    summary.idle_rss = vec![(Kind::Yardmaster, 8 * 1024 * 1024), (Kind::Nginx, 12 << 20)];
    summary
}

/// Plain forward at p50 1000 µs; mirrored at `mirrored_p50_us`, with copy targets
/// sharing the cores at 1500 µs. Bridge: 10,000 clients growing RSS from 10 MiB by
/// `per_client` bytes each, three repetitions.
pub(crate) fn summary_with_mirror_and_bridge(mirrored_p50_us: f64, per_client: u64) -> Summary {
    let mut summary = empty(vec![Scenario::Mirror, Scenario::BridgeIdle]);
    summary.kinds = vec![
        Kind::Yardmaster,
        Kind::YardmasterMirror,
        Kind::YardmasterMirrorShared,
    ];
    for (kind, p50) in [
        (Kind::Yardmaster, 1000.0),
        (Kind::YardmasterMirror, mirrored_p50_us),
        (Kind::YardmasterMirrorShared, 1500.0),
    ] {
        let mut sample = sample(Scenario::Mirror, kind, 40_000, p50 * 4.0, 10.0);
        if let Some(latency) = sample.report.latency.as_mut() {
            latency.p50_us = p50;
        }
        summary.samples.push(sample);
    }
    for _ in 0..3 {
        let mut sample = sample(Scenario::BridgeIdle, Kind::Yardmaster, 10_000, 1.0, 0.0);
        sample.idle_rss_bytes = Some(10 << 20);
        sample.held_rss_bytes = Some((10 << 20) + 10_000 * per_client);
        summary.samples.push(sample);
    }
    summary
}

/// Streaming: direct at 1M msgs/s, Yardmaster at 500k, HAProxy as a byte relay at 600k.
pub(crate) fn summary_with_byte_relay() -> Summary {
    let mut summary = empty(vec![Scenario::Stream]);
    summary.kinds = vec![Kind::Direct, Kind::Yardmaster, Kind::HaproxyRelay];
    for (kind, rate) in [
        (Kind::Direct, 1_000_000),
        (Kind::Yardmaster, 500_000),
        (Kind::HaproxyRelay, 600_000),
    ] {
        let mut sample = sample(Scenario::Stream, kind, rate, 1.0, 1.0);
        sample.report.latency = None;
        summary.samples.push(sample);
    }
    summary
}
