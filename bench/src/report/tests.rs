//! The report's markdown, checked on made-up runs.

use super::*;
use crate::summary::fixture::{summary, summary_with_byte_relay, summary_with_mirror_and_bridge};
use crate::target::Kind;

#[test]
fn markdown_has_a_row_per_target_with_ratios_and_medians() {
    let mut summary = summary();
    summary
        .versions
        .push(("nginx".into(), "nginx version: nginx/1.22.1".into()));
    summary.machine.cpu_model = "AMD EPYC".into();
    summary.machine.cores = 2;
    summary.load_after = Some("1.50 0.80 0.30".into());
    summary
        .peak_rss
        .push((Scenario::Unary, Kind::Yardmaster, 10 << 20));
    let text = markdown(&summary);
    assert!(text.contains("- CPU: AMD EPYC, 2 cores\n"), "{text}");
    assert!(
        text.contains("- nginx: nginx version: nginx/1.22.1\n"),
        "{text}"
    );
    assert!(text.contains("at the end"), "{text}");
    assert!(text.contains("1.50 0.80 0.30"), "{text}");
    assert!(
        text.contains("| target | calls/s | ÷ direct | ÷ Yardmaster | ÷ nginx | p50 µs |"),
        "{text}"
    );
    // Header, separator and one row per target: 3 + 12 columns each.
    let table: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("| target | calls/s"))
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert_eq!(table.len(), 5, "{text}");
    assert!(
        table.iter().all(|l| l.matches(" |").count() == 15),
        "{text}"
    );
    assert_eq!(
        table[3],
        "| Yardmaster | 50.0k | 0.71 | — | 2.00 | 375 | 750 | 1500 | 3000 | 0 | 0.50 | 10.0 | \
         5.0 | 10.0 | 52.0k 48.0k 50.0k |"
    );
    assert!(text.contains("| unary throughput ≥ nginx's | met | 50.0k vs 25.0k calls/s |"));
    assert!(text.contains("| Yardmaster | 8.0 |"), "{text}");
    assert!(!text.contains("FAILED"), "{text}");
}

#[test]
fn markdown_lists_notes_and_failures() {
    let mut summary = summary();
    summary.notes.push("HAProxy is not installed".into());
    summary.samples[0].report.errors = 1;
    summary.samples[0].report.first_error = Some("refused".into());
    let text = markdown(&summary);
    assert!(
        text.contains("## Notes\n\n- HAProxy is not installed\n"),
        "{text}"
    );
    assert!(
        text.contains("- FAILED: unary via direct: 1 errors, first: refused\n"),
        "{text}"
    );
}

#[test]
fn bridge_idle_section_shows_memory_per_client() {
    let text = markdown(&summary_with_mirror_and_bridge(1000.0, 8 * 1024));
    assert!(
        text.contains(
            "| Yardmaster | 10000 | 10000 | 10.0 | 88.1 | 8.0 | 0 | 0.00 | 8.0 8.0 8.0 |"
        ),
        "{text}"
    );
    assert!(
        text.contains("| Yardmaster mirror ×2 | 40.0k | 1.00 | — |"),
        "{text}"
    );
}

#[test]
fn stream_table_has_a_row_for_the_byte_relay() {
    let text = markdown(&summary_with_byte_relay());
    assert!(
        text.contains("| HAProxy byte relay (mode tcp) | 600.0k | 0.60 |"),
        "{text}"
    );
}
