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

#[cfg(test)]
mod tests {
    use prometheus_client::registry::Registry;
    use yardmaster_core::{EndpointChange, EndpointState};

    use super::*;
    use crate::{Cluster, ClusterMetrics};

    fn cluster(endpoints: &str) -> Cluster {
        let yaml = format!(
            "
listeners:
  - name: public
    listen: 127.0.0.1:0
    routes: [{{ forward: {{ cluster: up }} }}]
clusters:
  - name: up
    endpoints: [{endpoints}]
"
        );
        let config = yardmaster_config::from_str(&yaml, "gateway.yaml").unwrap();
        Cluster::new(
            &config.clusters[0],
            &ClusterMetrics::new(&mut Registry::default()),
        )
    }

    fn addresses(cluster: &Cluster) -> Vec<String> {
        let set = cluster.endpoints();
        set.endpoints()
            .iter()
            .map(|e| e.address().to_string())
            .collect()
    }

    /// A held endpoint counts as in flight: drained, it stays until released.
    #[test]
    fn drained_endpoint_stays_while_held_and_leaves_once_released() {
        let cluster = cluster("127.0.0.1:1, 127.0.0.1:2");
        let held = cluster.endpoints().endpoints()[0].hold();
        let first = "127.0.0.1:1".parse().unwrap();
        cluster
            .apply(EndpointChange::SetState(first, EndpointState::Draining))
            .unwrap();
        tidy(cluster.shared());
        assert_eq!(addresses(&cluster), ["127.0.0.1:1", "127.0.0.1:2"]);
        assert_eq!(cluster.endpoints().endpoints()[0].in_flight(), 1);

        drop(held);
        tidy(cluster.shared());
        assert_eq!(addresses(&cluster), ["127.0.0.1:2"]);
    }
}
