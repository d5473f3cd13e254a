//! The `forward` action: one request to one cluster, streamed both ways.

use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::uri::PathAndQuery;
use http::{Request, Response, StatusCode, Uri};
use tokio::time::Instant;
use yardmaster_cluster::Cluster;
use yardmaster_core::{grpc_timeout, Body};

use crate::error_response::ProxyError;
use crate::forwarded::{self, Downstream};
use crate::{upgrade, ProxyBody};

/// A `forward` route: its cluster and rewrites.
#[derive(Debug)]
pub(crate) struct Forward {
    pub(crate) cluster: Arc<Cluster>,
    /// `(matched prefix, replacement)` of a path-prefix rewrite.
    pub(crate) path_prefix: Option<(String, String)>,
    pub(crate) host: Option<HeaderValue>,
    /// The route's cap on the call's duration.
    pub(crate) timeout: Option<std::time::Duration>,
}

/// Sends the request to the route's cluster and returns the upstream's response, head
/// first, body streaming. `deadline` is the gRPC deadline, if the call has one.
pub(crate) async fn forward(
    action: &Forward,
    mut req: Request<Body>,
    downstream: &Downstream,
    is_grpc: bool,
    deadline: Option<Instant>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let downstream_upgrade = if upgrade::is_upgrade_request(&req) {
        if action.cluster.protocol().is_http2() {
            return Err(ProxyError::UpgradeUnsupported {
                cluster: action.cluster.name().to_string(),
            });
        }
        Some(hyper::upgrade::on(&mut req))
    } else {
        None
    };
    let version = req.version();
    let original_host = original_host(&req);
    forwarded::remove_hop_by_hop(req.headers_mut(), downstream_upgrade.is_some());
    forwarded::add_request_headers(req.headers_mut(), downstream, original_host, version);
    rewrite(action, &mut req);
    // The route's timeout caps the client's deadline; for a plain HTTP request it bounds
    // the wait for the response head.
    let deadline = super::call_deadline(deadline, action.timeout);
    if let (Some(deadline), true) = (deadline, is_grpc) {
        let left = deadline.saturating_duration_since(Instant::now());
        grpc_timeout::insert_left(req.headers_mut(), left);
    }

    let client = downstream.client.ip();
    // The call is made in each arm, so the future holds one of it, not two.
    let mut response = match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, action.cluster.call(req, client))
            .await
            .map_err(|_| ProxyError::DeadlineExceeded {
                cluster: action.cluster.name().to_string(),
            })??,
        None => action.cluster.call(req, client).await?,
    };

    let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    if let (Some(downstream_upgrade), true) = (downstream_upgrade, switching) {
        upgrade::splice(downstream_upgrade, hyper::upgrade::on(&mut response));
    }
    let (mut parts, body) = response.into_parts();
    forwarded::prepare_response(&mut parts.headers, switching, downstream.via(version));
    let mut body = ProxyBody::upstream(body, is_grpc);
    if let (Some(deadline), true) = (deadline, is_grpc) {
        body = body.with_deadline(deadline);
    }
    Ok(Response::from_parts(parts, body))
}

/// The host the client addressed, for `X-Forwarded-Host`.
fn original_host<B>(req: &Request<B>) -> Option<HeaderValue> {
    match req.uri().authority() {
        Some(authority) => HeaderValue::from_str(authority.as_str()).ok(),
        None => req.headers().get(header::HOST).cloned(),
    }
}

/// Applies the route's path-prefix and host rewrites.
fn rewrite<B>(action: &Forward, req: &mut Request<B>) {
    if let Some((prefix, replacement)) = &action.path_prefix {
        if let Some(uri) = rewrite_prefix(req.uri(), prefix, replacement) {
            *req.uri_mut() = uri;
        }
    }
    if let Some(host) = &action.host {
        // Origin-form URI plus `Host`: the cluster turns it into `:authority` for HTTP/2.
        let mut parts = req.uri().clone().into_parts();
        parts.scheme = None;
        parts.authority = None;
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
        req.headers_mut().insert(header::HOST, host.clone());
    }
}

fn rewrite_prefix(uri: &Uri, prefix: &str, replacement: &str) -> Option<Uri> {
    let rest = uri.path().strip_prefix(prefix)?;
    let rest = if replacement.ends_with('/') {
        rest.trim_start_matches('/')
    } else {
        rest
    };
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let path_and_query = PathAndQuery::try_from(format!("{replacement}{rest}{query}")).ok()?;
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_rewrite_keeps_rest_and_query() {
        let uri: Uri = "/api/users/7?full=1".parse().unwrap();
        assert_eq!(
            rewrite_prefix(&uri, "/api/", "/").unwrap(),
            "/users/7?full=1"
        );
        assert_eq!(
            rewrite_prefix(&uri, "/api", "/v2").unwrap(),
            "/v2/users/7?full=1"
        );
        assert_eq!(
            rewrite_prefix(&uri, "/api/", "/v2/").unwrap(),
            "/v2/users/7?full=1"
        );
        assert!(rewrite_prefix(&uri, "/other", "/").is_none());
    }
}
