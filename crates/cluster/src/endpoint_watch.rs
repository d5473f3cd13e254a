//! Calling one chosen endpoint and following the endpoint set as it changes: what a
//! fan-out to every endpoint needs, next to the balanced [`Cluster::call`].

use std::sync::Arc;

use http::{Request, Response};
use tokio::sync::watch;
use yardmaster_core::Body;

use crate::h2_pool::Lane;
use crate::{Cluster, ClusterError, Endpoint, EndpointSet, UpstreamBody};

impl Cluster {
    /// The current endpoint set: an immutable snapshot, cheap to take. Its
    /// [`EndpointSet::eligible`] endpoints are the healthy ones (all of them in panic mode).
    pub fn endpoints(&self) -> Arc<EndpointSet> {
        self.shared().endpoints.load_full()
    }

    /// A receiver that sees a new value each time the endpoint set is replaced (membership,
    /// health, ejection or draining changed); read [`Cluster::endpoints`] after a change.
    /// A change may leave the eligible endpoints as they were.
    pub fn watch_endpoints(&self) -> watch::Receiver<u64> {
        self.shared().generation.subscribe()
    }

    /// Sends `req` to `endpoint` (one of this cluster's), bypassing the balancer, retries
    /// and the circuit breaker; the outcome still counts for outlier detection. Resolves
    /// with the response head; dropping the future or the body resets the upstream stream.
    ///
    /// # Errors
    ///
    /// As [`Cluster::call`], for this endpoint only.
    pub async fn call_endpoint(
        &self,
        endpoint: &Arc<Endpoint>,
        req: Request<Body>,
    ) -> Result<Response<UpstreamBody>, ClusterError> {
        self.shared()
            .send_to(endpoint.clone(), req, Lane::Live)
            .await
    }
}
