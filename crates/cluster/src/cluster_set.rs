//! All clusters of one configuration snapshot, by name.

use std::collections::HashMap;
use std::sync::Arc;

use yardmaster_config::ClusterConfig;

use crate::{Cluster, ClusterMetrics, ClusterStatus};

/// The clusters of one snapshot. Routes hold `Arc<Cluster>`s resolved from it, so the data
/// path never looks a cluster up by name.
#[derive(Debug, Default)]
pub struct ClusterSet {
    clusters: Vec<Arc<Cluster>>,
    by_name: HashMap<String, Arc<Cluster>>,
}

impl ClusterSet {
    /// Builds every configured cluster.
    pub fn new(configs: &[ClusterConfig], metrics: &ClusterMetrics) -> ClusterSet {
        let clusters: Vec<_> = configs
            .iter()
            .map(|c| Arc::new(Cluster::new(c, metrics)))
            .collect();
        let by_name = clusters
            .iter()
            .map(|c| (c.name().to_string(), c.clone()))
            .collect();
        ClusterSet { clusters, by_name }
    }

    /// The cluster called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Cluster>> {
        self.by_name.get(name)
    }

    /// Every cluster, in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Cluster>> {
        self.clusters.iter()
    }

    /// A point-in-time view of every cluster, in configuration order.
    pub fn status(&self) -> Vec<ClusterStatus> {
        self.clusters.iter().map(|c| c.status()).collect()
    }
}
