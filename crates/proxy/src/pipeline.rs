//! The life of a request after the edge: classify, route, apply the action, account.

use std::time::Instant;

use http::{Request, Response};
use hyper::body::Incoming;
use yardmaster_core::{grpc, grpc_timeout, GrpcCode};
use yardmaster_route::GrpcPath;

use crate::call_record::{AccessLine, CallRecord};
use crate::dispatch::fanout::fanout;
use crate::dispatch::forward::forward;
use crate::dispatch::mirror::mirror;
use crate::edge::Edge;
use crate::error_response::{error_response, ProxyError};
use crate::metrics::CallCode;
use crate::snapshot::{ListenerRoutes, RouteAction};
use crate::ProxyBody;

/// Handles one request against one snapshot. Never fails: every error is a response.
pub(crate) async fn handle(edge: &Edge, req: Request<Incoming>) -> Response<ProxyBody> {
    let started = Instant::now();
    let snapshot = edge.snapshot();
    let Some(routes) = snapshot.listener(edge.listener()) else {
        // The listener was removed by a reload while this connection stayed open.
        let error = ProxyError::NoRoute {
            path: req.uri().path().to_owned(),
        };
        return error_response(&error, grpc::is_grpc(req.headers()));
    };

    // 1. Classify.
    let is_grpc = grpc::is_grpc(req.headers());
    let grpc_path = if is_grpc {
        GrpcPath::parse(req.uri().path())
    } else {
        None
    };
    let deadline = is_grpc
        .then(|| req.headers().get(grpc_timeout::HEADER))
        .flatten()
        .and_then(grpc_timeout::parse)
        .and_then(|timeout| tokio::time::Instant::from_std(started).checked_add(timeout));

    // 2. Route.
    let route = routes.table.find(&req, grpc_path).map(|r| r.action());
    let entry = route.unwrap_or(&routes.unmatched).clone();
    let access = access_line(edge, routes, &req);

    // 3. Act.
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
            forward(action, req, edge.downstream(), is_grpc, deadline).await
        }
        // Boxed: their futures are several times `forward`'s, and every call's future
        // would otherwise be as large as the largest action's.
        Some(RouteAction::Mirror(action)) => {
            Box::pin(mirror(action, req, edge.downstream(), is_grpc, deadline)).await
        }
        Some(RouteAction::Fanout(action)) => {
            Box::pin(fanout(action, req, edge.downstream(), is_grpc, deadline)).await
        }
    };

    // 4. Account, once, when the response body ends.
    let response = result.unwrap_or_else(|error| error_response(&error, is_grpc));
    let code = head_code(&response, is_grpc);
    let record = CallRecord::start(entry, started, code, edge.streams_gauge(), access);
    response.map(|body| body.with_record(record))
}

fn access_line(
    edge: &Edge,
    routes: &ListenerRoutes,
    req: &Request<Incoming>,
) -> Option<Box<AccessLine>> {
    let enabled =
        routes.access_log && tracing::enabled!(target: "yardmaster::access", tracing::Level::INFO);
    enabled.then(|| {
        Box::new(AccessLine {
            client: edge.downstream().client,
            method: req.method().clone(),
            path: req.uri().path().to_owned(),
            version: req.version(),
        })
    })
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
