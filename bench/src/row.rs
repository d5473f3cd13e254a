//! [`Row`]: the medians of one (scenario, target) point over its repetitions, as the
//! report's tables and the verdict read them.

use crate::load::Latency;
use crate::sample::Sample;
use crate::target::Kind;

/// The medians of one (scenario, target) point over its repetitions.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub(crate) kind: Kind,
    /// Throughput of each repetition, in run order.
    pub(crate) rates: Vec<f64>,
    pub(crate) rate: f64,
    /// Median of each percentile; `None` when no repetition timed its operations.
    pub(crate) latency: Option<Latency>,
    pub(crate) operations: u64,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    pub(crate) proxy_cpu_secs: Option<f64>,
    pub(crate) proxy_cpu_us_per_op: Option<f64>,
    pub(crate) upstream_cpu_us_per_op: Option<f64>,
    pub(crate) peak_rss_bytes: Option<u64>,
    /// `bridge-idle`: medians of the RSS before and with the clients, and per client.
    pub(crate) idle_rss_bytes: Option<f64>,
    pub(crate) held_rss_bytes: Option<f64>,
    pub(crate) bytes_per_client: Option<f64>,
    /// `bridge-idle`: bytes per client of each repetition, in run order.
    pub(crate) per_client_runs: Vec<f64>,
}

impl Row {
    /// The row of `kind` from its `samples` (every repetition, in run order) and the
    /// peak RSS read over them.
    pub(crate) fn new(kind: Kind, samples: &[&Sample], peak_rss_bytes: Option<u64>) -> Row {
        let rates: Vec<f64> = samples.iter().map(|s| s.report.rate()).collect();
        let median_of =
            |pick: fn(&Sample) -> Option<f64>| median(samples.iter().filter_map(|s| pick(s)));
        Row {
            kind,
            rate: median(rates.iter().copied()).unwrap_or_default(),
            rates,
            latency: median_latency(samples),
            operations: samples.iter().map(|s| s.report.operations).sum(),
            errors: samples.iter().map(|s| s.report.errors).sum(),
            first_error: samples.iter().find_map(|s| s.report.first_error.clone()),
            proxy_cpu_secs: median_of(|s| s.proxy_cpu_secs),
            proxy_cpu_us_per_op: median_of(|s| s.per_op_us(s.proxy_cpu_secs)),
            upstream_cpu_us_per_op: median_of(|s| s.per_op_us(s.upstream_cpu_secs)),
            peak_rss_bytes,
            idle_rss_bytes: median_of(|s| s.idle_rss_bytes.map(|b| b as f64)),
            held_rss_bytes: median_of(|s| s.held_rss_bytes.map(|b| b as f64)),
            bytes_per_client: median_of(Sample::bytes_per_client),
            per_client_runs: samples
                .iter()
                .filter_map(|s| s.bytes_per_client())
                .collect(),
        }
    }
}

/// The median of each percentile over the samples that timed their operations.
fn median_latency(samples: &[&Sample]) -> Option<Latency> {
    let latencies: Vec<Latency> = samples.iter().filter_map(|s| s.report.latency).collect();
    (!latencies.is_empty()).then(|| Latency {
        p50_us: median(latencies.iter().map(|l| l.p50_us)).unwrap_or_default(),
        p90_us: median(latencies.iter().map(|l| l.p90_us)).unwrap_or_default(),
        p99_us: median(latencies.iter().map(|l| l.p99_us)).unwrap_or_default(),
        max_us: median(latencies.iter().map(|l| l.max_us)).unwrap_or_default(),
    })
}

/// Median of `values` (mean of the middle two for an even count); `None` when empty.
fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut values: Vec<f64> = values.into_iter().collect();
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() {
        0 => None,
        len if len % 2 == 1 => values.get(middle).copied(),
        _ => Some((values.get(middle - 1)? + values.get(middle)?) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty_sets() {
        assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median([4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median([7.5]), Some(7.5));
        assert_eq!(median(std::iter::empty()), None);
    }
}
