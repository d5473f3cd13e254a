//! The cluster's housekeeping task: returns ejected endpoints when their time is up,
//! removes drained and departed endpoints once idle, and closes idle upstream connections.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::shared::ClusterShared;

/// How often housekeeping runs: an ejection ends at most this late.
const TICK: Duration = Duration::from_millis(100);

/// Runs until the cluster aborts it.
pub(crate) async fn run(shared: Arc<ClusterShared>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        tidy(&shared);
    }
}

fn tidy(shared: &ClusterShared) {
    let set = shared.endpoints.load_full();
    let now = shared.now_ms();
    let mut changed = false;
    for endpoint in set.endpoints() {
        let until = endpoint.outlier.ejected_until_ms.load(Ordering::Acquire);
        if until != 0 && until <= now {
            endpoint
                .outlier
                .ejected_until_ms
                .store(0, Ordering::Release);
            tracing::info!(cluster = %shared.name, endpoint = %endpoint.address(), "ejection ended");
            changed = true;
        }
        if let Some(pool) = endpoint.h2_pool() {
            pool.close_idle(shared.idle_timeout);
        }
    }
    if set.endpoints().iter().any(|e| e.is_done()) {
        shared.remove_done();
    } else if changed {
        shared.refresh();
    }
}
