//! [`Sample`]: what one load run against one target measured, with the proxy's CPU time
//! and memory read around it.

use crate::load::LoadReport;
use crate::scenario::Scenario;
use crate::target::Kind;

/// One load run against one target.
#[derive(Clone, Debug)]
pub(crate) struct Sample {
    pub(crate) scenario: Scenario,
    pub(crate) kind: Kind,
    pub(crate) report: LoadReport,
    /// CPU seconds the proxy used during the measured window; `None` for direct.
    pub(crate) proxy_cpu_secs: Option<f64>,
    /// CPU seconds the upstreams (the bench process) used during the window.
    pub(crate) upstream_cpu_secs: Option<f64>,
    /// `bridge-idle`: the proxy's resident memory after start, before any client.
    pub(crate) idle_rss_bytes: Option<u64>,
    /// The proxy's resident memory at the end of the window (`bridge-idle`: with every
    /// client held).
    pub(crate) held_rss_bytes: Option<u64>,
}

impl Sample {
    /// `bridge-idle`: the growth of the proxy's RSS per client held.
    pub(crate) fn bytes_per_client(&self) -> Option<f64> {
        bytes_per_client(
            self.idle_rss_bytes?,
            self.held_rss_bytes?,
            self.report.operations,
        )
    }

    /// `cpu_secs` (of this sample) per operation, in µs; `None` without operations.
    pub(crate) fn per_op_us(&self, cpu_secs: Option<f64>) -> Option<f64> {
        let operations = self.report.operations;
        cpu_secs
            .filter(|_| operations > 0)
            .map(|secs| secs * 1e6 / operations as f64)
    }
}

/// (RSS with the clients − RSS without) ÷ clients; `None` without clients. Memory that
/// shrank counts as zero.
fn bytes_per_client(idle_bytes: u64, held_bytes: u64, clients: u64) -> Option<f64> {
    (clients > 0).then(|| held_bytes.saturating_sub(idle_bytes) as f64 / clients as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_per_client_is_rss_growth_divided_by_clients() {
        assert_eq!(
            bytes_per_client(100 << 20, 200 << 20, 10_240),
            Some(10_240.0)
        );
        assert_eq!(bytes_per_client(200 << 20, 100 << 20, 10), Some(0.0));
        assert_eq!(bytes_per_client(1, 2, 0), None);
    }
}
