//! The verdict, judged on made-up runs.

use super::*;
use crate::summary::fixture::{summary, summary_with_byte_relay, summary_with_mirror_and_bridge};

/// The outcome and figures of the check whose goal starts with `prefix`.
fn find(checks: &[Check], prefix: &str) -> (Outcome, String) {
    checks
        .iter()
        .find(|c| c.goal.starts_with(prefix))
        .map(|c| (c.outcome, c.detail.clone()))
        .unwrap()
}

fn missed(checks: &[Check]) -> Vec<&str> {
    checks
        .iter()
        .filter(|c| c.outcome == Outcome::Missed)
        .map(|c| c.goal.as_str())
        .collect()
}

#[test]
fn verdict_compares_yardmaster_with_peers_and_marks_missing_ones_unknown() {
    let checks = Verdict::of(&summary()).checks;
    assert_eq!(
        find(&checks, "unary throughput ≥ nginx's"),
        (Outcome::Met, "50.0k vs 25.0k calls/s".to_owned())
    );
    assert_eq!(
        find(&checks, "unary p99 latency ≤ nginx's"),
        (Outcome::Met, "1500 vs 4000 µs".to_owned())
    );
    assert_eq!(
        find(&checks, "unary throughput ≥ HAProxy's").0,
        Outcome::Unknown
    );
    assert_eq!(
        find(&checks, "unary CPU per call ≤ nginx's"),
        (Outcome::Met, "10.0 vs 29.0 µs".to_owned())
    );
    assert_eq!(
        find(&checks, "streaming throughput ≥ 90 % of direct").0,
        Outcome::Unknown
    );
    assert_eq!(
        find(&checks, "idle RSS < 20 MiB"),
        (Outcome::Met, "8.0 MiB".to_owned())
    );
}

#[test]
fn verdict_reports_a_missed_target() {
    let mut summary = summary();
    summary.idle_rss = vec![(Kind::Yardmaster, 25 << 20)];
    for sample in summary.samples.iter_mut().filter(|s| s.kind == Kind::Nginx) {
        // Three times the calls for three times the CPU: still 29 µs per call.
        sample.report.operations *= 3;
        sample.proxy_cpu_secs = sample.proxy_cpu_secs.map(|secs| secs * 3.0);
    }
    let checks = Verdict::of(&summary).checks;
    assert_eq!(
        missed(&checks),
        vec!["unary throughput ≥ nginx's", "idle RSS < 20 MiB"]
    );
}

#[test]
fn verdict_judges_mirror_slowdown_and_bridge_memory_per_client() {
    let checks = Verdict::of(&summary_with_mirror_and_bridge(1080.0, 12 * 1024)).checks;
    assert_eq!(
        find(&checks, "mirror ×2: primary p50 within 10 %"),
        (
            Outcome::Met,
            "copy targets as if on other hosts: p50 1080 vs 1000 µs (+8 %), p99 4320 vs \
             4000 µs; copy targets sharing the cores: p50 1500 µs (+50 %)"
                .to_owned()
        )
    );
    assert_eq!(
        find(&checks, "bridge: ≤ 16 KiB"),
        (
            Outcome::Met,
            "12.0 KiB per client (10000 clients held)".to_owned()
        )
    );
    assert_eq!(find(&checks, "bridge frames/s").0, Outcome::Unknown);

    let checks = Verdict::of(&summary_with_mirror_and_bridge(1150.0, 20 * 1024)).checks;
    assert_eq!(
        missed(&checks),
        vec![
            "mirror ×2: primary p50 within 10 % of no mirroring",
            "bridge: ≤ 16 KiB of gateway memory per idle client"
        ]
    );
}

#[test]
fn streaming_verdict_shows_the_byte_relay_next_to_ours() {
    let checks = Verdict::of(&summary_with_byte_relay()).checks;
    assert_eq!(
        find(&checks, "streaming throughput"),
        (
            Outcome::Missed,
            "50 % (500.0k vs 1.00M msgs/s); a byte relay (HAProxy `mode tcp`, no HTTP/2): 60 %"
                .to_owned()
        )
    );
}

#[test]
fn a_run_without_any_figure_has_none_to_report() {
    let summary = crate::summary::fixture::empty(vec![Scenario::Unary]);
    assert!(!Verdict::of(&summary).has_figures());
    assert!(Verdict::of(&summary_with_byte_relay()).has_figures());
}
