//! Runtime control of endpoints: `POST /clusters/{name}/endpoints?address=IP:port[&weight=N]`
//! adds one; `POST /clusters/{name}/endpoints/{IP:port}/{drain|disable|enable|remove}`
//! changes one. Parameters travel in the path and query, so no request body is read.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use yardmaster_cluster::{ControlError, EndpointState};

use crate::reply::{reply, to_json, TEXT};
use yardmaster_core::EndpointChange;

use crate::{AdminState, UpdateError};

const USAGE: &str = "POST /clusters/{name}/endpoints?address=IP:port[&weight=N], or \
                     POST /clusters/{name}/endpoints/{IP:port}/{drain|disable|enable|remove}\n";

/// Applies the change and answers with the cluster's new state as JSON.
pub(crate) fn control(state: &AdminState, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (cluster, change) = match parse(req) {
        Ok(parsed) => parsed,
        Err(message) => return reply(StatusCode::BAD_REQUEST, TEXT, format!("{message}\n")),
    };
    match state.view.update_endpoint(cluster, change) {
        Ok(()) => match state
            .view
            .clusters()
            .into_iter()
            .find(|c| c.name == cluster)
        {
            Some(status) => to_json(&status),
            None => reply(StatusCode::OK, TEXT, "ok\n"),
        },
        Err(error) => {
            let status = match &error {
                UpdateError::UnknownCluster(_)
                | UpdateError::Control(ControlError::UnknownEndpoint { .. }) => {
                    StatusCode::NOT_FOUND
                }
                UpdateError::Control(ControlError::DuplicateEndpoint { .. }) => {
                    StatusCode::CONFLICT
                }
                UpdateError::Control(_) => StatusCode::BAD_REQUEST,
            };
            let message = match error {
                UpdateError::UnknownCluster(name) => format!("no cluster {name:?}"),
                UpdateError::Control(error) => error.to_string(),
            };
            reply(status, TEXT, format!("{message}\n"))
        }
    }
}

fn parse(req: &Request<Incoming>) -> Result<(&str, EndpointChange), String> {
    let path = req.uri().path();
    let rest = path
        .strip_prefix("/clusters/")
        .ok_or_else(|| USAGE.trim_end().to_owned())?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [cluster, "endpoints"] => {
            let mut address = None;
            let mut weight = 1;
            for pair in req.uri().query().unwrap_or_default().split('&') {
                match pair.split_once('=') {
                    Some(("address", value)) => address = Some(socket_addr(value)?),
                    Some(("weight", value)) => {
                        weight = value
                            .parse()
                            .map_err(|_| format!("weight {value:?} is not a number"))?;
                    }
                    _ if pair.is_empty() => {}
                    _ => return Err(format!("unknown parameter {pair:?}; {USAGE}")),
                }
            }
            let address = address.ok_or_else(|| format!("`address` is required; {USAGE}"))?;
            Ok((cluster, EndpointChange::Add { address, weight }))
        }
        [cluster, "endpoints", address, action] => {
            let address = socket_addr(address)?;
            let change = match *action {
                "remove" => EndpointChange::Remove(address),
                "drain" => EndpointChange::SetState(address, EndpointState::Draining),
                "disable" => EndpointChange::SetState(address, EndpointState::Disabled),
                "enable" => EndpointChange::SetState(address, EndpointState::Active),
                other => return Err(format!("unknown action {other:?}; {USAGE}")),
            };
            Ok((cluster, change))
        }
        _ => Err(USAGE.trim_end().to_owned()),
    }
}

fn socket_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|_| format!("{text:?} is not a socket address (IP:port)"))
}
