//! One endpoint of a cluster as a tower service: what a tonic client needs to call that
//! endpoint through the cluster's own upstream connections (`MyClient::new(channel)`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use yardmaster_core::{body, BoxError};

use crate::h2_pool::Lane;
use crate::shared::ClusterShared;
use crate::{Cluster, ClusterError, Endpoint, UpstreamBody};

/// Calls one endpoint of a cluster, bypassing the balancer, retries and the circuit
/// breaker, as [`Cluster::call_endpoint`] does; outcomes still count for outlier
/// detection. Cheap to clone. A tonic client works over it like over a `Channel`.
#[derive(Clone, Debug)]
pub struct EndpointChannel {
    cluster: Arc<ClusterShared>,
    endpoint: Arc<Endpoint>,
}

impl Cluster {
    /// A channel to `endpoint`, one of this cluster's.
    pub fn endpoint_channel(&self, endpoint: &Arc<Endpoint>) -> EndpointChannel {
        EndpointChannel {
            cluster: self.shared().clone(),
            endpoint: endpoint.clone(),
        }
    }
}

impl EndpointChannel {
    /// The endpoint's address.
    pub fn address(&self) -> std::net::SocketAddr {
        self.endpoint.address()
    }
}

impl<B> tower::Service<Request<B>> for EndpointChannel
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<UpstreamBody>;
    type Error = ClusterError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    /// Always ready: connections open (and wait for stream slots) within the call.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let cluster = self.cluster.clone();
        let endpoint = self.endpoint.clone();
        let req = req.map(body::boxed);
        Box::pin(async move { cluster.send_to(endpoint, req, Lane::Live).await })
    }
}
