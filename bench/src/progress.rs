//! What the run prints on stderr while it goes: a line per sample, and shouts for what
//! must not scroll by unnoticed. The report itself goes to stdout.

use crate::sample::Sample;
use crate::scenario::Scenario;
use crate::settings::Settings;

/// One line for `sample`, the `repeat`th of `settings.repeats`.
pub(crate) fn log_sample(sample: &Sample, repeat: usize, settings: Settings) {
    let scenario = sample.scenario;
    eprintln!(
        "{:<13} {}/{} {:<21} {:>10.0} {:<14} p50 {:>8} p99 {:>8} µs  errors {}",
        scenario.name(),
        repeat,
        settings.repeats,
        sample.kind.label(),
        if scenario == Scenario::BridgeIdle {
            sample.report.operations as f64
        } else {
            sample.report.rate()
        },
        scenario.unit(),
        sample
            .report
            .latency
            .map_or("-".to_owned(), |l| format!("{:.0}", l.p50_us)),
        sample
            .report
            .latency
            .map_or("-".to_owned(), |l| format!("{:.0}", l.p99_us)),
        sample.report.errors,
    );
    if let Some(per_client) = sample.bytes_per_client() {
        eprintln!(
            "{:<13} gateway memory {:.1} KiB per idle client",
            scenario.name(),
            per_client / 1024.0
        );
    }
}

/// A message that must not scroll by unnoticed.
pub(crate) fn shout(message: &str) {
    eprintln!();
    eprintln!("!!! {message}");
    eprintln!();
}
