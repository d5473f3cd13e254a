//! Operating TCP bridges: `GET /bridges`, `GET /bridges/{name}/clients`,
//! `GET /bridges/{name}/upstreams`, `POST /bridges/{name}/clients/{id}/send` and
//! `/close`, `POST /bridges/{name}/broadcast?scope=all|active|inactive`,
//! `POST /bridges/{name}/upstreams?address=IP:port` (add) and
//! `POST /bridges/{name}/upstreams/{IP:port}/{drain|remove}`, which change the endpoints
//! of the bridge's cluster (as `/clusters/{name}/endpoints/...` does). Payloads are the
//! raw request body, sent to clients as one frame.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde::Serialize;
use yardmaster_bridge::{BridgeError, BridgeHandle, Scope};

use crate::reply::{reply, to_json, TEXT};
use crate::AdminState;

/// The largest payload accepted for `send` and `broadcast`: 1 MiB, far above a frame.
const MAX_PAYLOAD_BYTES: usize = 1 << 20;

const USAGE: &str = "GET /bridges, GET /bridges/{name}/{clients|upstreams}, \
    POST /bridges/{name}/clients/{id}/{send|close}, \
    POST /bridges/{name}/broadcast?scope=all|active|inactive, \
    POST /bridges/{name}/upstreams?address=IP:port, \
    POST /bridges/{name}/upstreams/{IP:port}/{drain|remove}\n";

#[derive(Serialize)]
struct BridgeSummary<'a> {
    name: &'a str,
    clients: usize,
    upstreams: Vec<yardmaster_bridge::UpstreamStatus>,
}

/// Whether `path` is `/bridges` or below it.
pub(crate) fn is_bridge_path(path: &str) -> bool {
    path == "/bridges" || path.starts_with("/bridges/")
}

/// Answers a request for which [`is_bridge_path`] holds.
pub(crate) async fn respond(state: &AdminState, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or_default();
    let segments: Vec<&str> = path
        .trim_start_matches("/bridges")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    if segments.is_empty() {
        if parts.method != Method::GET {
            return usage(StatusCode::METHOD_NOT_ALLOWED);
        }
        let summaries: Vec<BridgeSummary<'_>> = state
            .bridges
            .iter()
            .map(|b| BridgeSummary {
                name: b.name(),
                clients: b.clients().len(),
                upstreams: b.upstreams(),
            })
            .collect();
        return to_json(&summaries);
    }
    let Some(bridge) = state.bridges.iter().find(|b| b.name() == segments[0]) else {
        return reply(
            StatusCode::NOT_FOUND,
            TEXT,
            format!("no bridge {:?}\n", segments[0]),
        );
    };
    let rest = &segments[1..];
    match (&parts.method, rest) {
        (&Method::GET, ["clients"]) => to_json(&bridge.clients()),
        (&Method::GET, ["upstreams"]) => to_json(&bridge.upstreams()),
        (&Method::POST, ["clients", id, "send"]) => match payload(body).await {
            Ok(payload) => outcome(bridge.send(id, payload).map(|()| Done { clients: 1 })),
            Err(message) => reply(StatusCode::PAYLOAD_TOO_LARGE, TEXT, message),
        },
        (&Method::POST, ["clients", id, "close"]) => {
            outcome(bridge.close(id).map(|()| Done { clients: 1 }))
        }
        (&Method::POST, ["broadcast"]) => {
            let scope = match parameter(query, "scope").unwrap_or("all") {
                "all" => Scope::All,
                "active" => Scope::Active,
                "inactive" => Scope::Inactive,
                other => {
                    return reply(
                        StatusCode::BAD_REQUEST,
                        TEXT,
                        format!("unknown scope {other:?}; use all, active or inactive\n"),
                    )
                }
            };
            match payload(body).await {
                Ok(payload) => to_json(&Done {
                    clients: bridge.broadcast(scope, payload),
                }),
                Err(message) => reply(StatusCode::PAYLOAD_TOO_LARGE, TEXT, message),
            }
        }
        (&Method::POST, ["upstreams"]) => match parameter(query, "address").map(socket_addr) {
            Some(Ok(address)) => upstream_changed(bridge, bridge.add_upstream(address)),
            Some(Err(message)) => reply(StatusCode::BAD_REQUEST, TEXT, message),
            None => usage(StatusCode::BAD_REQUEST),
        },
        (&Method::POST, ["upstreams", address, action]) => {
            let address = match socket_addr(address) {
                Ok(address) => address,
                Err(message) => return reply(StatusCode::BAD_REQUEST, TEXT, message),
            };
            let result = match *action {
                "drain" => bridge.drain_upstream(address),
                "remove" => bridge.remove_upstream(address),
                _ => return usage(StatusCode::BAD_REQUEST),
            };
            upstream_changed(bridge, result)
        }
        (_, ["clients" | "upstreams" | "broadcast", ..]) => usage(StatusCode::BAD_REQUEST),
        _ => usage(StatusCode::NOT_FOUND),
    }
}

/// How many clients an operation reached.
#[derive(Serialize)]
struct Done {
    clients: usize,
}

fn outcome(result: Result<Done, BridgeError>) -> Response<Full<Bytes>> {
    match result {
        Ok(done) => to_json(&done),
        Err(error) => refused(&error),
    }
}

fn upstream_changed(
    bridge: &BridgeHandle,
    result: Result<(), BridgeError>,
) -> Response<Full<Bytes>> {
    match result {
        Ok(()) => to_json(&bridge.upstreams()),
        Err(error) => refused(&error),
    }
}

fn refused(error: &BridgeError) -> Response<Full<Bytes>> {
    let status = if error.is_not_found() {
        StatusCode::NOT_FOUND
    } else if error.is_invalid() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::CONFLICT
    };
    reply(status, TEXT, format!("{error}\n"))
}

/// The request body, or why it cannot be read.
async fn payload(body: Incoming) -> Result<Bytes, String> {
    match Limited::new(body, MAX_PAYLOAD_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) => Err(format!(
            "cannot read the payload (at most {MAX_PAYLOAD_BYTES} bytes): {error}\n"
        )),
    }
}

fn parameter<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}

fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not a socket address (IP:port)\n"))
}

fn usage(status: StatusCode) -> Response<Full<Bytes>> {
    reply(status, TEXT, USAGE)
}
