//! The request head that the actions sending one call to several places (mirror, fan-out)
//! copy into each upstream request.

use std::net::IpAddr;

use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Uri, Version};
use tokio::time::Instant;
use yardmaster_core::{grpc_timeout, Body};

use crate::forwarded::{self, Downstream};

/// The downstream request head after hop-by-hop removal and `X-Forwarded-*`.
#[derive(Debug)]
pub(crate) struct RequestHead {
    pub(crate) uri: Uri,
    pub(crate) version: Version,
    headers: HeaderMap,
    /// The `Via` entry responses get on their way back, if the listener adds one.
    pub(crate) via: Option<HeaderValue>,
    /// The downstream's address, for `hash_on: client_address`.
    pub(crate) client: IpAddr,
}

impl RequestHead {
    pub(crate) fn new(mut parts: http::request::Parts, downstream: &Downstream) -> RequestHead {
        let original_host = match parts.uri.authority() {
            Some(authority) => HeaderValue::from_str(authority.as_str()).ok(),
            None => parts.headers.get(header::HOST).cloned(),
        };
        forwarded::remove_hop_by_hop(&mut parts.headers, false);
        forwarded::add_request_headers(
            &mut parts.headers,
            downstream,
            original_host,
            parts.version,
        );
        // Each upstream may get a different body (filtered messages), and its own time left.
        parts.headers.remove(header::CONTENT_LENGTH);
        parts.headers.remove(grpc_timeout::HEADER);
        RequestHead {
            via: downstream.via(parts.version),
            uri: parts.uri,
            version: parts.version,
            headers: parts.headers,
            client: downstream.client.ip(),
        }
    }

    /// A gRPC request with this head and `body`, carrying the time left until `deadline`
    /// as `grpc-timeout`, and `extra` as one more header.
    pub(crate) fn request(
        &self,
        body: Body,
        deadline: Option<Instant>,
        extra: Option<(HeaderName, &HeaderValue)>,
    ) -> Request<Body> {
        let mut req = Request::new(body);
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.uri.clone();
        *req.version_mut() = self.version;
        *req.headers_mut() = self.headers.clone();
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            grpc_timeout::insert_left(req.headers_mut(), left);
        }
        if let Some((name, value)) = extra {
            req.headers_mut().insert(name, value.clone());
        }
        req
    }
}
