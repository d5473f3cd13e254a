//! The task behind each upstream: one stream at a time to the endpoint, in the bridge's
//! upstream protocol, reopened after a failure with backoff.

use std::sync::Arc;
use std::time::{Duration, Instant};

use yardmaster_config::BridgeProtocol;
use yardmaster_core::Backoff;

use crate::shared::Shared;
use crate::upstream::Upstream;
use crate::{compat, native};

/// Pauses between attempts to reach a failed upstream: 100 ms, doubling up to 5 s.
const BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(100),
    max: Duration::from_secs(5),
};
/// A stream that lived this long resets the backoff.
const HEALTHY_AFTER: Duration = Duration::from_secs(10);

/// Follows the cluster's current endpoint set, keeping a stream open to each endpoint
/// (see [`crate::upstream::UpstreamSet::follow`]).
pub(crate) fn follow(shared: &Arc<Shared>) {
    shared.upstreams.follow(|upstream| {
        let shared = shared.clone();
        async move { keep_open(&shared, &upstream).await }
    });
}

/// Keeps one endpoint's stream open until the endpoint leaves the set or the bridge stops.
async fn keep_open(shared: &Shared, upstream: &Upstream) {
    let mut stop = upstream.stop_signal();
    let mut failed_in_a_row = 0_u32;
    let address = upstream.address();
    loop {
        if *stop.borrow() {
            return;
        }
        let started = Instant::now();
        let outcome = match shared.config.upstream_protocol {
            BridgeProtocol::Yardmaster => native::run(shared, upstream, &stop).await,
            BridgeProtocol::UpstreamPeer => compat::run(shared, upstream, &stop).await,
        };
        if *stop.borrow() {
            return;
        }
        upstream.count_failure();
        shared.metrics.upstream_failures.inc();
        if started.elapsed() >= HEALTHY_AFTER {
            failed_in_a_row = 0;
        }
        failed_in_a_row = failed_in_a_row.saturating_add(1);
        // Say it once per outage; the retries of an upstream that stays down are debug.
        if failed_in_a_row == 1 {
            tracing::warn!(bridge = %shared.name, upstream = %address, error = %outcome, "bridge upstream failed; retrying");
        } else {
            tracing::debug!(bridge = %shared.name, upstream = %address, error = %outcome, attempt = failed_in_a_row, "bridge upstream still failing");
        }
        tokio::select! {
            () = tokio::time::sleep(BACKOFF.ceiling(failed_in_a_row.saturating_sub(1))) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
