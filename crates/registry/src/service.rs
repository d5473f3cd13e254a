//! [`RegistryService`]: the generated `yardmaster.registry.v1.Registry` gRPC trait served
//! by a [`Registry`], and the conversions between its messages and the registry's types.

use std::pin::Pin;

use futures_util::Stream;
use tokio::sync::{watch, OwnedSemaphorePermit};
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use crate::feed::Snapshot;
use crate::pb::registry_server::{Registry as RegistryApi, RegistryServer};
use crate::pb::{
    DeregisterRequest, DeregisterResponse, Instance, KeepAliveRequest, ListRequest, ListResponse,
    RegisterRequest, WatchRequest,
};
use crate::state::{InstanceStatus, Lease};
use crate::Registry;

/// Largest request decoded: a registration with the most metadata allowed is about
/// 37 KiB; anything larger is refused before it is parsed.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// The replies of one `Watch` call: the list now, then after every change.
pub(crate) type WatchReplies = Pin<Box<dyn Stream<Item = Result<ListResponse, Status>> + Send>>;

/// The gRPC face of a [`Registry`]; get one, wrapped in the generated server, from
/// [`Registry::grpc_service`].
#[derive(Clone)]
pub struct RegistryService {
    registry: Registry,
}

impl RegistryService {
    pub(crate) fn server(registry: Registry) -> RegistryServer<RegistryService> {
        RegistryServer::new(RegistryService { registry })
            .max_decoding_message_size(MAX_REQUEST_BYTES)
    }
}

#[tonic::async_trait]
impl RegistryApi for RegistryService {
    async fn register(
        &self,
        request: Request<RegisterRequest>,
    ) -> Result<Response<crate::pb::Lease>, Status> {
        let authorization = authorization(request.metadata());
        let lease = self
            .registry
            .register(request.into_inner(), authorization.as_deref())?;
        Ok(Response::new(lease.into()))
    }

    async fn keep_alive(
        &self,
        request: Request<KeepAliveRequest>,
    ) -> Result<Response<crate::pb::Lease>, Status> {
        let authorization = authorization(request.metadata());
        let lease = self
            .registry
            .keep_alive(&request.get_ref().lease_id, authorization.as_deref())?;
        Ok(Response::new(lease.into()))
    }

    async fn deregister(
        &self,
        request: Request<DeregisterRequest>,
    ) -> Result<Response<DeregisterResponse>, Status> {
        let authorization = authorization(request.metadata());
        self.registry
            .deregister(&request.get_ref().lease_id, authorization.as_deref())?;
        Ok(Response::new(DeregisterResponse {}))
    }

    async fn list(&self, request: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        let instances = self.registry.list(&request.get_ref().service)?;
        Ok(Response::new(list_response(&instances)))
    }

    type WatchStream = WatchReplies;

    async fn watch(
        &self,
        request: Request<WatchRequest>,
    ) -> Result<Response<WatchReplies>, Status> {
        let (changes, permit) = self.registry.watch(&request.get_ref().service)?;
        Ok(Response::new(watch_replies(changes, permit)))
    }
}

/// The list now, then after every change, until the registry or the caller goes away;
/// `permit` is released with the stream.
fn watch_replies(changes: watch::Receiver<Snapshot>, permit: OwnedSemaphorePermit) -> WatchReplies {
    let replies = futures_util::stream::unfold(
        (changes, permit, true),
        |(mut changes, permit, is_first)| async move {
            if !is_first && changes.changed().await.is_err() {
                return None;
            }
            let reply = list_response(&changes.borrow_and_update());
            Some((Ok(reply), (changes, permit, false)))
        },
    );
    Box::pin(replies)
}

/// The `authorization` metadata value, if it is text.
fn authorization(metadata: &MetadataMap) -> Option<String> {
    let value = metadata.get("authorization")?;
    value.to_str().ok().map(str::to_owned)
}

fn list_response(instances: &[InstanceStatus]) -> ListResponse {
    ListResponse {
        instances: instances.iter().map(Instance::from).collect(),
    }
}

impl From<&InstanceStatus> for Instance {
    fn from(instance: &InstanceStatus) -> Instance {
        Instance {
            service: instance.service.clone(),
            address: instance.address.to_string(),
            metadata: instance.metadata.clone(),
            lease_id: instance.lease_id.clone(),
            expires_unix_ms: unix_ms(instance.expires_unix_ms),
        }
    }
}

impl From<Lease> for crate::pb::Lease {
    fn from(lease: Lease) -> crate::pb::Lease {
        // Whole seconds, rounded up: a default TTL clamped to a fractional bound is
        // never reported shorter than it is.
        let seconds = lease.ttl.as_secs() + u64::from(lease.ttl.subsec_nanos() > 0);
        crate::pb::Lease {
            lease_id: lease.lease_id,
            service: lease.service,
            address: lease.address.to_string(),
            ttl_seconds: u32::try_from(seconds).unwrap_or(u32::MAX),
            expires_unix_ms: unix_ms(lease.expires_unix_ms),
        }
    }
}

fn unix_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}
