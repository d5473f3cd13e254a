//! A scriptable `grpc.health.v1.Health` service, for testing health checks: it answers
//! `SERVING` or `NOT_SERVING` as told, or replays a script of answers, and counts checks.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use http::{Request, Response};
use tonic::body::Body;
use tonic::codegen::Service;
use tonic::Status;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use crate::pb::echo_server::EchoServer;
use crate::EchoService;

/// A health service whose answers the owner controls. Clones share state.
#[derive(Clone, Debug)]
pub struct HealthService {
    state: Arc<Mutex<Script>>,
}

#[derive(Debug)]
struct Script {
    serving: bool,
    next: VecDeque<bool>,
    checks: u64,
}

impl HealthService {
    /// A service answering `SERVING` when `serving`, else `NOT_SERVING`.
    pub fn new(serving: bool) -> HealthService {
        HealthService {
            state: Arc::new(Mutex::new(Script {
                serving,
                next: VecDeque::new(),
                checks: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Script> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// From now on, answer `serving` (and forget any script).
    pub fn set_serving(&self, serving: bool) {
        let mut script = self.lock();
        script.serving = serving;
        script.next.clear();
    }

    /// Answer the next checks with `answers` (true is `SERVING`), then as before.
    pub fn script(&self, answers: impl IntoIterator<Item = bool>) {
        self.lock().next.extend(answers);
    }

    /// Checks answered so far.
    pub fn checks(&self) -> u64 {
        self.lock().checks
    }

    /// Scripted answers not given yet.
    pub fn scripted_left(&self) -> usize {
        self.lock().next.len()
    }
}

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(
        &self,
        _request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<HealthCheckResponse>, Status> {
        let serving = {
            let mut script = self.lock();
            script.checks += 1;
            let fallback = script.serving;
            script.next.pop_front().unwrap_or(fallback)
        };
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        Ok(tonic::Response::new(HealthCheckResponse {
            status: status as i32,
        }))
    }

    type WatchStream = futures_util::stream::Empty<Result<HealthCheckResponse, Status>>;

    async fn watch(
        &self,
        _request: tonic::Request<HealthCheckRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("watch is not scripted"))
    }
}

/// The echo service and a health service on one server: requests for
/// `/grpc.health.v1.Health/` go to `health`, all others to `echo`.
#[derive(Clone, Debug)]
pub struct EchoWithHealth {
    echo: EchoServer<EchoService>,
    health: HealthServer<HealthService>,
}

impl EchoWithHealth {
    /// Serves `echo` (see [`crate::echo_server`]) and `health` together.
    pub fn new(echo: EchoServer<EchoService>, health: HealthService) -> EchoWithHealth {
        EchoWithHealth {
            echo,
            health: HealthServer::new(health),
        }
    }
}

impl<B> Service<Request<B>> for EchoWithHealth
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if req.uri().path().starts_with("/grpc.health.v1.Health/") {
            let mut health = self.health.clone();
            Box::pin(async move { health.call(req).await })
        } else {
            let mut echo = self.echo.clone();
            Box::pin(async move { echo.call(req).await })
        }
    }
}
