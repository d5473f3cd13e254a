//! The `envelope` action: any HTTP request becomes one `yardmaster.forward.v1.HttpRequest`
//! message for `HttpForwarder.Forward` on the route's cluster, and the `HttpResponse`
//! that comes back becomes the HTTP response. Both are whole messages, so the request
//! body and the reply are read in full, up to `max_body_bytes`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, Uri};
use tokio::time::Instant;
use yardmaster_cluster::Cluster;
use yardmaster_config::EnvelopeConfig;
use yardmaster_core::grpc_frame::Message;
use yardmaster_core::{body, grpc, grpc_timeout, Body, Cause};
use yardmaster_transcode::{EnvelopeRequest, EnvelopeResponse, FORWARD_PATH};

use super::whole_body::{read_body, read_replies, ReplyError};
use crate::error_response::ProxyError;
use crate::forwarded::{self, Downstream};
use crate::ProxyBody;

/// Room for the envelope's own fields around a body of `max_body_bytes`.
const ENVELOPE_OVERHEAD: usize = 64 * 1024;

/// An `envelope` route: its cluster and limits.
#[derive(Debug)]
pub(crate) struct Envelope {
    pub(crate) cluster: Arc<Cluster>,
    timeout: Option<Duration>,
    max_body_bytes: usize,
}

impl Envelope {
    pub(crate) fn new(config: &EnvelopeConfig, cluster: Arc<Cluster>) -> Envelope {
        Envelope {
            cluster,
            timeout: config.timeout,
            max_body_bytes: config.max_body_bytes,
        }
    }
}

fn failed(cause: Cause, message: impl Into<String>) -> ProxyError {
    ProxyError::Action {
        cause,
        message: message.into(),
    }
}

/// Wraps the request, calls the forwarder, and unwraps its response. An error status
/// from the forwarder is its HTTP status by the gRPC mapping, with the status message as
/// the body.
pub(crate) async fn envelope(
    action: &Envelope,
    req: Request<Body>,
    downstream: &Downstream,
    deadline: Option<Instant>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let (mut parts, body) = req.into_parts();
    let body = read_body(body, action.max_body_bytes)
        .await
        .map_err(|(cause, message)| failed(cause, message))?;
    if !parts.headers.contains_key(header::HOST) {
        if let Some(host) = parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        {
            parts.headers.insert(header::HOST, host);
        }
    }
    let original_host = parts.headers.get(header::HOST).cloned();
    forwarded::remove_hop_by_hop(&mut parts.headers, false);
    forwarded::add_request_headers(&mut parts.headers, downstream, original_host, parts.version);
    let message = EnvelopeRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or_default(),
        headers: &parts.headers,
        body: body.freeze(),
        remote_address: downstream.client.to_string(),
    }
    .encode();
    let message =
        Message::new(&message).map_err(|e| failed(Cause::MessageTooLarge, e.to_string()))?;

    let deadline = super::call_deadline(deadline, action.timeout);
    let mut upstream = grpc::request(
        Uri::from_static(FORWARD_PATH),
        body::full(message.framed().clone()),
    );
    let headers = upstream.headers_mut();
    if let Some(host) = parts.headers.get(header::HOST) {
        headers.insert(header::HOST, host.clone());
    }
    if let Some(deadline) = deadline {
        grpc_timeout::insert_left(headers, deadline.saturating_duration_since(Instant::now()));
    }
    let max_reply = action.max_body_bytes.saturating_add(ENVELOPE_OVERHEAD);
    let exchange = async {
        let response = action
            .cluster
            .call(upstream, downstream.client.ip())
            .await?;
        Ok::<_, ProxyError>(read_replies(response, max_reply).await)
    };
    let replies = match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, exchange)
            .await
            .map_err(|_| ProxyError::DeadlineExceeded {
                cluster: action.cluster.name().to_string(),
            })??,
        None => exchange.await?,
    };
    let reply = match replies {
        Ok((mut replies, _)) if replies.len() == 1 => replies.pop().unwrap_or_default(),
        Ok((replies, _)) => {
            let message = format!(
                "the forwarder sent {} HttpResponse messages, not one",
                replies.len()
            );
            return Err(failed(Cause::BadReply, message));
        }
        Err(ReplyError::Broken { cause, message }) => return Err(failed(cause, message)),
        Err(ReplyError::Status { status, .. }) => {
            let (code, message) = (status.code, status.message);
            tracing::warn!(cluster = %action.cluster.name(), ?code, %message, "the forwarder failed");
            return Ok(text_response(
                code.to_http_status(),
                format!("the forwarder failed: {code:?}: {message}\n"),
            ));
        }
    };
    let unwrapped =
        EnvelopeResponse::decode(&reply).map_err(|message| failed(Cause::BadReply, message))?;
    let mut response = Response::new(ProxyBody::local(body::full(unwrapped.body)));
    *response.status_mut() = unwrapped.status;
    *response.headers_mut() = unwrapped.headers;
    forwarded::remove_hop_by_hop(response.headers_mut(), false);
    response.headers_mut().remove(header::CONTENT_LENGTH);
    Ok(response)
}

fn text_response(status: http::StatusCode, text: String) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::local(body::full(Bytes::from(text))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
