//! The admin listener: a small HTTP/1.1 and HTTP/2 server with fixed routes.

use std::convert::Infallible;
use std::future::Future;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::control::control;
use crate::reply::{json, reply, to_json, TEXT};
use crate::AdminState;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves the admin API on an already bound listener until `shutdown` resolves.
/// Admin requests are few and small, so connections are not drained on shutdown.
pub async fn serve(listener: TcpListener, state: AdminState, shutdown: impl Future<Output = ()>) {
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!(%error, "admin accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let state = state.clone();
        let connection = builder
            .serve_connection(
                TokioIo::new(stream),
                service_fn(move |req| {
                    let state = state.clone();
                    async move {
                        // Bridge operations read a request body (the payload to send).
                        if crate::bridge::is_bridge_path(req.uri().path()) {
                            return Ok::<_, Infallible>(crate::bridge::respond(&state, req).await);
                        }
                        Ok(respond(&state, &req))
                    }
                }),
            )
            .into_owned();
        // Detached on purpose: an admin connection ends when its client closes it.
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "admin connection ended with an error");
            }
        });
    }
}

fn respond(state: &AdminState, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() == Method::POST && req.uri().path().starts_with("/clusters/") {
        return control(state, req);
    }
    if req.method() == Method::POST && req.uri().path() == "/descriptors/refresh" {
        let routes = state.view.refresh_reflection();
        return reply(
            StatusCode::ACCEPTED,
            TEXT,
            format!("fetching descriptors again for {routes} route(s)\n"),
        );
    }
    if req.method() != Method::GET {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT,
            "only GET, and POST to /clusters/{name}/endpoints and /descriptors/refresh, are supported\n",
        );
    }
    match req.uri().path() {
        "/healthz" => reply(StatusCode::OK, TEXT, "ok\n"),
        "/ready" if state.view.is_ready() => reply(StatusCode::OK, TEXT, "ready\n"),
        "/ready" => reply(StatusCode::SERVICE_UNAVAILABLE, TEXT, "not ready\n"),
        "/config" => json(&state.view.config_json()),
        "/clusters" => to_json(&state.view.clusters()),
        "/descriptors" => to_json(&state.view.reflection_status()),
        "/registry" => {
            let service = req
                .uri()
                .query()
                .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("service=")))
                .unwrap_or_default();
            match state.view.registry_instances(service) {
                Some(instances) => to_json(&instances),
                None => reply(
                    StatusCode::NOT_FOUND,
                    TEXT,
                    "this gateway has no registry\n",
                ),
            }
        }
        path if path.starts_with("/clusters/") => {
            let name = path.trim_start_matches("/clusters/");
            match state.view.clusters().into_iter().find(|c| c.name == name) {
                Some(cluster) => to_json(&cluster),
                None => reply(
                    StatusCode::NOT_FOUND,
                    TEXT,
                    format!("no cluster {name:?}\n"),
                ),
            }
        }
        "/metrics" => {
            let mut text = String::new();
            match prometheus_client::encoding::text::encode(&mut text, &state.registry) {
                Ok(()) => reply(StatusCode::OK, OPENMETRICS, text),
                Err(error) => reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    TEXT,
                    format!("{error}\n"),
                ),
            }
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            TEXT,
            "not found; try /healthz /ready /config /clusters /descriptors /registry /metrics\n",
        ),
    }
}
