//! The life of a request after the edge and its protocol layers: classify, route, apply
//! the action, account.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response};
use yardmaster_core::{body, grpc, grpc_timeout, BoxError, GrpcCode};
use yardmaster_route::GrpcPath;

use crate::call_id::CallId;
use crate::call_record::{AccessLine, CallRecord};
use crate::dispatch::envelope::envelope;
use crate::dispatch::fanout::fanout;
use crate::dispatch::forward::forward;
use crate::dispatch::local::local;
use crate::dispatch::mirror::mirror;
use crate::dispatch::transcode::transcode;
use crate::edge::{self, ListenerState};
use crate::error_response::{error_response, ProxyError};
use crate::forwarded::Downstream;
use crate::metrics::CallCode;
use crate::snapshot::RouteAction;
use crate::ProxyBody;

/// The routing pipeline of one downstream connection: a tower service over requests with
/// any body of `Bytes` chunks, so protocol layers in front of it may re-frame the body.
/// Never fails: every error is a response. Cloning is one `Arc` increment: hyper's
/// glue clones the connection's service for every call.
#[derive(Clone, Debug)]
pub struct Pipeline {
    connection: Arc<Connection>,
}

/// What the calls of one downstream connection share.
#[derive(Debug)]
struct Connection {
    listener: Arc<ListenerState>,
    downstream: Downstream,
}

impl Pipeline {
    pub(crate) fn new(listener: Arc<ListenerState>, downstream: Downstream) -> Pipeline {
        Pipeline {
            connection: Arc::new(Connection {
                listener,
                downstream,
            }),
        }
    }

    /// Handles one request against one snapshot.
    async fn handle<B>(self, req: Request<B>) -> Response<ProxyBody>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let Connection {
            listener,
            downstream,
        } = &*self.connection;
        let started = Instant::now();
        let snapshot = listener.snapshot.load_full();
        let is_grpc = grpc::is_grpc(req.headers());
        let Some(routes) = snapshot.listener(&listener.name) else {
            // The listener was removed by a reload while this connection stayed open.
            let path = req.uri().path().to_owned();
            return error_response(&ProxyError::NoRoute { path }, is_grpc);
        };

        // 1. Classify.
        let grpc_path = is_grpc.then(|| GrpcPath::parse(req.uri().path())).flatten();
        let deadline = is_grpc
            .then(|| req.headers().get(grpc_timeout::HEADER))
            .flatten()
            .and_then(grpc_timeout::parse)
            .and_then(|timeout| tokio::time::Instant::from_std(started).checked_add(timeout));

        // 2. Route.
        let route = routes.table.find(&req, grpc_path).map(|r| r.action());
        let stats = &route.unwrap_or(&routes.unmatched).stats;
        let call_id = CallId::next();
        edge::record_route(call_id, stats, grpc_path);
        let access = routes
            .access_log
            .then(|| AccessLine::capture(call_id, downstream.client, &req))
            .flatten();

        // 3. Act. Dispatch takes the boxed body that an upstream request carries anyway,
        // so only this file is generic over the body type.
        let req = req.map(body::boxed);
        let result = match route.map(|r| &r.action) {
            None => Err(ProxyError::NoRoute {
                path: req.uri().path().to_owned(),
            }),
            Some(RouteAction::Deny(deny)) => Err(ProxyError::Denied {
                grpc_status: deny.grpc_status,
                http_status: deny.http_status,
                message: deny.message.clone(),
            }),
            Some(RouteAction::Forward(action)) => {
                forward(action, req, downstream, is_grpc, deadline).await
            }
            // Boxed: their futures are several times `forward`'s, and every call's future
            // would otherwise be as large as the largest action's.
            Some(RouteAction::Mirror(action)) => {
                Box::pin(mirror(action, req, downstream, is_grpc, deadline)).await
            }
            Some(RouteAction::Fanout(action)) => {
                Box::pin(fanout(action, req, downstream, is_grpc, deadline)).await
            }
            Some(RouteAction::Transcode(action)) => {
                Ok(Box::pin(transcode(action, req, downstream)).await)
            }
            Some(RouteAction::Envelope(action)) => {
                Box::pin(envelope(action, req, downstream, deadline)).await
            }
            Some(RouteAction::Local(action)) => Ok(local(action, req).await),
        };

        // 4. Account, once, when the response body ends.
        let response = result.unwrap_or_else(|error| error_response(&error, is_grpc));
        let code = head_code(&response, is_grpc);
        let streams = listener.streams.clone();
        let record = CallRecord::start(stats.clone(), started, code, streams, access);
        response.map(|body| body.with_record(record))
    }
}

impl<B> tower::Service<Request<B>> for Pipeline
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ProxyBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ProxyBody>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let pipeline = self.clone();
        Box::pin(async move { Ok(pipeline.handle(req).await) })
    }
}

/// The call's status as far as the response head tells: `grpc-status` of a trailers-only
/// response, or the gRPC spec's reading of a non-200 HTTP status; trailers may refine it.
fn head_code(response: &Response<ProxyBody>, is_grpc: bool) -> CallCode {
    let status = response.status().as_u16();
    if !is_grpc {
        return CallCode::Http(status);
    }
    let code = GrpcCode::from_headers(response.headers());
    CallCode::Grpc(code.unwrap_or_else(|| GrpcCode::from_http_status(status)))
}
