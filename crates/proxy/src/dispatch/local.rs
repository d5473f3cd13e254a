//! The `registry` action, and any other service the gateway serves itself: the request
//! goes to an in-process gRPC service that the binary hands to the snapshot
//! ([`LocalServices`]), not to a cluster. Bodies stream both ways, as with `forward`.

use std::collections::HashMap;
use std::convert::Infallible;

use http::{Request, Response};
use tower::util::BoxCloneSyncService;
use tower::Service as _;
use yardmaster_core::Body;

use crate::ProxyBody;

/// A service the gateway serves in-process.
pub type LocalService = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

/// The in-process services a snapshot's routes may name, by the route key that names
/// them (`registry`).
#[derive(Clone, Default)]
pub struct LocalServices {
    services: HashMap<&'static str, LocalService>,
}

impl std::fmt::Debug for LocalServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&&str> = self.services.keys().collect();
        names.sort();
        f.debug_struct("LocalServices")
            .field("services", &names)
            .finish()
    }
}

impl LocalServices {
    /// Serves `service` for routes whose action is `key`.
    pub fn insert(&mut self, key: &'static str, service: LocalService) {
        self.services.insert(key, service);
    }

    pub(crate) fn get(&self, key: &str) -> Option<&LocalService> {
        self.services.get(key)
    }
}

/// A route whose action is an in-process service.
pub(crate) struct Local {
    service: LocalService,
}

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local").finish_non_exhaustive()
    }
}

impl Local {
    pub(crate) fn new(service: LocalService) -> Local {
        Local { service }
    }
}

/// Hands the request to the service and its response back, body streaming.
pub(crate) fn local(
    action: &Local,
    req: Request<Body>,
) -> impl std::future::Future<Output = Response<ProxyBody>> + Send + 'static {
    // Not `oneshot`: its future's `Send` bound trips the compiler's higher-ranked
    // lifetime check inside the pipeline's future; the boxed call future does not.
    let mut service = action.service.clone();
    async move {
        let Ok(()) = std::future::poll_fn(|cx| service.poll_ready(cx)).await;
        let Ok(response) = service.call(req).await;
        response.map(ProxyBody::local)
    }
}
