//! The `transcode` action: an HTTP request that a binding of the route's API takes (a
//! `google.api.http` rule, or `POST /package.Service/Method`) becomes a unary gRPC call
//! to the route's cluster, with the request message built from the path, the query and
//! the JSON body; the reply message (or the call's status, as a `google.rpc.Status` JSON
//! body) comes back as JSON. The request and the reply are whole messages, so both are
//! read in full, up to `max_message_bytes`.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method as HttpMethod, Request, Response, StatusCode, Uri};
use tokio::time::Instant;
use yardmaster_cluster::{Cluster, UpstreamBody};
use yardmaster_config::TranscodeConfig;
use yardmaster_core::grpc_frame::Message;
use yardmaster_core::{body, grpc, grpc_timeout, Body, Cause, Fault, GrpcCode};
use yardmaster_transcode::openapi;
use yardmaster_transcode::reflection::ReflectionStatus;
use yardmaster_transcode::{
    response_headers, status_json, Binding, DescriptorPool, HeaderForwarding, HttpApi, JsonOptions,
    Matched, Miss, OpenApiOptions, StreamFormat,
};

use super::whole_body::{read_body, read_replies, ReplyError, UpstreamStatus};
use crate::forwarded::{self, Downstream};
use crate::metrics::RouteLabels;
use crate::{ProxyBody, ProxyMetrics};

pub(crate) mod reflection;
use reflection::Reflection;
mod reply_stream;
mod request_stream;

const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// A `transcode` route: its cluster, the bindings of its API and its JSON options.
#[derive(Debug)]
pub(crate) struct Transcode {
    pub(crate) cluster: Arc<Cluster>,
    /// The bindings in use: loaded at startup from files, or, with reflection, empty
    /// until the first fetch succeeds and swapped by every later one.
    api: ArcSwapOption<HttpApi>,
    /// Where the descriptors come from when it is the cluster's server reflection.
    pub(crate) reflection: Option<Reflection>,
    json: JsonOptions,
    timeout: Option<Duration>,
    max_message_bytes: usize,
    forwarding: HeaderForwarding,
    /// A request header with the call's timeout as a duration (`250ms`).
    timeout_header: Option<HeaderName>,
    /// The path that serves the OpenAPI document of the bindings, and what it says.
    openapi: Option<(String, OpenApiOptions)>,
}

impl Transcode {
    /// The action of `config`, whose API is built unless the configuration came from a
    /// string ([`yardmaster_config::from_str`]); then it is built here, which blocks on
    /// file I/O.
    pub(crate) fn new(
        config: &TranscodeConfig,
        cluster: Arc<Cluster>,
        route: &RouteLabels,
        metrics: &ProxyMetrics,
    ) -> Result<Transcode, String> {
        let (api, reflection) = match (&config.reflection, &config.api) {
            (Some(source), _) => {
                let status = ReflectionStatus {
                    listener: route.listener.clone(),
                    route: route.route.clone(),
                    cluster: cluster.name().to_string(),
                    ..ReflectionStatus::default()
                };
                let failures = metrics.reflection_failures.get_or_create(route).clone();
                let reflection = Reflection::new(config, source.refresh, status, failures);
                (None, Some(reflection))
            }
            (None, Some(api)) => (Some(Arc::new(api.clone())), None),
            (None, None) => {
                let api = config
                    .build_api()
                    .map_err(|(key, message)| format!("{key}: {message}"))?;
                (Some(Arc::new(api)), None)
            }
        };
        Ok(Transcode {
            cluster,
            api: ArcSwapOption::new(api),
            reflection,
            json: config.json_options(),
            timeout: config.timeout,
            max_message_bytes: config.max_message_bytes,
            forwarding: HeaderForwarding::new(&config.forward_headers)
                .map_err(|(i, message)| format!("forward_headers[{i}]: {message}"))?,
            timeout_header: match &config.timeout_header {
                Some(name) => Some(
                    HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| format!("timeout_header: {name:?} is not a header name"))?,
                ),
                None => None,
            },
            openapi: config.openapi.as_ref().map(|openapi| {
                let options = OpenApiOptions {
                    title: openapi.title.clone().unwrap_or_else(|| route.route.clone()),
                    version: openapi.version.clone(),
                    json: config.json_options(),
                };
                (openapi.path.clone(), options)
            }),
        })
    }
}

/// Why a transcoded call did not return a reply message: the status its JSON body
/// carries and the HTTP status it is sent with.
#[derive(Debug)]
struct Failure {
    http: StatusCode,
    code: GrpcCode,
    message: String,
    /// The upstream's `grpc-status-details-bin`.
    details: Option<HeaderValue>,
    /// Whose fault, when the gateway ended the call itself (not the upstream's status).
    fault: Option<Fault>,
    /// The verbs the path takes, for a 405's `Allow`.
    allow: Vec<HttpMethod>,
    /// The upstream's reply metadata (headers and trailers); boxed, as most failures
    /// have none.
    metadata: Option<Box<HeaderMap>>,
}

impl From<ReplyError> for Failure {
    fn from(error: ReplyError) -> Failure {
        match error {
            ReplyError::Status { status, metadata } => Failure::upstream(status, metadata),
            ReplyError::Broken { cause, message } => Failure::gateway(cause, message),
        }
    }
}

impl Failure {
    /// The gateway ends the call: the statuses of `cause`.
    fn gateway(cause: Cause, message: impl Into<String>) -> Failure {
        let status = cause.status();
        Failure {
            http: status.http,
            code: status.grpc,
            message: message.into(),
            details: None,
            fault: Some(status.fault),
            allow: Vec::new(),
            metadata: None,
        }
    }

    /// The upstream ended the call with a status other than OK (in `headers`, the
    /// trailers or a trailers-only reply's headers): the HTTP status of
    /// `google/rpc/code.proto`'s mapping.
    fn upstream(status: UpstreamStatus, metadata: Box<HeaderMap>) -> Failure {
        Failure {
            http: status.code.to_http_status(),
            code: status.code,
            message: status.message,
            details: status.details,
            fault: None,
            allow: Vec::new(),
            metadata: Some(metadata),
        }
    }

    /// Logs the failure and writes its `google.rpc.Status` JSON body.
    fn status_body(&self, pool: &DescriptorPool) -> Vec<u8> {
        match self.fault {
            Some(Fault::Upstream) => {
                tracing::warn!(error = %self.message, "transcoded call failed")
            }
            Some(Fault::Downstream | Fault::Gateway) => {
                tracing::debug!(error = %self.message, "transcoded call refused");
            }
            None => {}
        }
        let details = self.details.as_ref().map(HeaderValue::as_bytes);
        status_json(self.code, &self.message, details, pool)
    }

    fn response(self, pool: &DescriptorPool) -> Response<ProxyBody> {
        let body = self.status_body(pool);
        let mut response = json_response(self.http, body);
        if let Some(metadata) = &self.metadata {
            response_headers(metadata, response.headers_mut());
        }
        if !self.allow.is_empty() {
            let verbs: Vec<&str> = self.allow.iter().map(HttpMethod::as_str).collect();
            if let Ok(allow) = HeaderValue::from_str(&verbs.join(", ")) {
                response.headers_mut().insert(header::ALLOW, allow);
            }
        }
        response
    }
}

fn json_response(status: StatusCode, json: Vec<u8>) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::local(body::full(json)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, APPLICATION_JSON);
    response
}

/// Calls the method the request's binding names; answers with the reply as JSON, or
/// with the call's status as a JSON error body.
pub(crate) async fn transcode(
    action: &Transcode,
    req: Request<Body>,
    downstream: &Downstream,
) -> Response<ProxyBody> {
    let Some(api) = action.api.load_full() else {
        let source = action.reflection.as_ref().map(Reflection::status);
        let why = source
            .and_then(|status| status.last_error)
            .unwrap_or_else(|| "no answer yet".to_owned());
        let message = format!(
            "the route's descriptors are not loaded yet (server reflection of cluster {:?}: {why})",
            action.cluster.name()
        );
        let failure = Failure::gateway(Cause::NoDescriptors, message);
        return failure.response(&DescriptorPool::global());
    };
    if let Some((path, options)) = &action.openapi {
        let read = matches!(*req.method(), HttpMethod::GET | HttpMethod::HEAD);
        if read && req.uri().path() == path {
            let document = openapi(&api, options);
            return json_response(StatusCode::OK, document.to_string().into_bytes());
        }
    }
    match call(action, &api, req, downstream).await {
        Ok(response) => response,
        Err(failure) => failure.response(api.pool()),
    }
}

/// The reply as JSON with the upstream's metadata as headers, or for a server-streaming
/// method the reply stream, as NDJSON or Server-Sent Events by the request's `Accept`.
async fn call(
    action: &Transcode,
    api: &HttpApi,
    req: Request<Body>,
    downstream: &Downstream,
) -> Result<Response<ProxyBody>, Failure> {
    let (parts, body) = req.into_parts();
    let matched = find_binding(api, &parts)?;
    let binding = &*matched.binding;
    let stream_format = binding
        .method()
        .is_server_streaming()
        .then(|| StreamFormat::from_accept(parts.headers.get(header::ACCEPT)));
    let request_failure = request_stream::FailureSlot::default();
    let request_body = if binding.method().is_client_streaming() {
        check_content_type(&parts.headers, true)?;
        request_stream::body(
            matched.clone(),
            parts.uri.query().map(str::to_owned),
            body,
            action.json,
            action.max_message_bytes,
            request_failure.clone(),
        )
    } else {
        let protobuf = read_request(action, &matched, &parts, body).await?;
        let message = Message::new(&protobuf)
            .map_err(|error| Failure::gateway(Cause::MessageTooLarge, error.to_string()))?;
        body::full(message.framed().clone())
    };

    // The client's `grpc-timeout` or timeout header, capped by the route's `timeout`.
    let client_deadline = client_timeout(action, &parts.headers)?
        .and_then(|timeout| Instant::now().checked_add(timeout));
    let deadline = super::call_deadline(client_deadline, action.timeout);
    let upstream = upstream_request(action, binding, parts, downstream, request_body, deadline);
    let client = downstream.client.ip();
    let exchange = async {
        let response = action
            .cluster
            .call(upstream, client)
            .await
            .map_err(|error| Failure::gateway(error.cause(), error.to_string()))?;
        match stream_format {
            Some(format) => {
                let failure = request_failure.clone();
                let pool = api.pool();
                reply_stream::respond(action, pool, binding, response, format, deadline, failure)
                    .await
            }
            None => unary_reply(action, binding, response).await,
        }
    };
    let result = match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, exchange)
            .await
            .map_err(|_| {
                let cluster = action.cluster.name();
                let message = format!("deadline exceeded before cluster {cluster:?} answered");
                Failure::gateway(Cause::DeadlineExceeded, message)
            })
            .and_then(|result| result),
        None => exchange.await,
    };
    // A request stream that went wrong explains the call's end better than the upstream.
    match request_failure.take() {
        Some(failure) => Err(failure),
        None => result,
    }
}

/// The one reply message as JSON, with the reply's metadata as headers.
async fn unary_reply(
    action: &Transcode,
    binding: &Binding,
    response: Response<UpstreamBody>,
) -> Result<Response<ProxyBody>, Failure> {
    let (reply, metadata) = read_reply(action, response).await?;
    let json = binding
        .response_to_json(&reply, action.json)
        .map_err(|message| Failure::gateway(Cause::BadReply, message))?;
    let mut response = json_response(StatusCode::OK, json);
    response_headers(&metadata, response.headers_mut());
    Ok(response)
}

/// The shorter of the request's `grpc-timeout` and the route's timeout header.
fn client_timeout(action: &Transcode, headers: &HeaderMap) -> Result<Option<Duration>, Failure> {
    let grpc = headers
        .get(grpc_timeout::HEADER)
        .and_then(grpc_timeout::parse);
    let Some(value) = action.timeout_header.as_ref().and_then(|h| headers.get(h)) else {
        return Ok(grpc);
    };
    let header = value
        .to_str()
        .map_err(|e| e.to_string())
        .and_then(yardmaster_config::duration::parse)
        .map_err(|message| {
            let name = action.timeout_header.as_ref().map(HeaderName::as_str);
            let message = format!("header {}: {message}", name.unwrap_or_default());
            Failure::gateway(Cause::BadJson, message)
        })?;
    Ok(Some(grpc.map_or(header, |grpc| grpc.min(header))))
}

/// The binding that takes the request's verb and path.
fn find_binding(api: &HttpApi, parts: &http::request::Parts) -> Result<Matched, Failure> {
    let path = parts.uri.path();
    let matched = api.find(&parts.method, path).map_err(|miss| match miss {
        Miss::NotFound => {
            let message = format!("no binding of the route takes {path}");
            Failure::gateway(Cause::NoRoute, message)
        }
        Miss::WrongVerb(allow) => {
            let verbs: Vec<&str> = allow.iter().map(HttpMethod::as_str).collect();
            let message = format!("{path} takes {}, not {}", verbs.join(", "), parts.method);
            Failure {
                allow,
                ..Failure::gateway(Cause::WrongHttpMethod, message)
            }
        }
        Miss::BadPath(message) => Failure::gateway(Cause::BadJson, message),
    })?;
    Ok(matched)
}

/// The request message: the body, read whole (up to `max_message_bytes`), with the path
/// variables and the query, as the binding says.
async fn read_request(
    action: &Transcode,
    matched: &Matched,
    parts: &http::request::Parts,
    body: Body,
) -> Result<Vec<u8>, Failure> {
    let json = read_body(body, action.max_message_bytes)
        .await
        .map_err(|(cause, message)| Failure::gateway(cause, message))?;
    if !json.iter().all(u8::is_ascii_whitespace) {
        check_content_type(&parts.headers, false)?;
    }
    matched
        .request(parts.uri.query(), &json, action.json)
        .map_err(|error| Failure::gateway(Cause::BadJson, error.to_string()))
}

/// Refuses a body that says it is not JSON: `application/json` (and, for a request
/// stream, `application/x-ndjson`), with or without parameters, or no `Content-Type`.
fn check_content_type(headers: &HeaderMap, stream: bool) -> Result<(), Failure> {
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = content_type
        .as_bytes()
        .split(|b| *b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let json = essence.eq_ignore_ascii_case(b"application/json");
    if json || (stream && essence.eq_ignore_ascii_case(b"application/x-ndjson")) {
        return Ok(());
    }
    let shown = String::from_utf8_lossy(content_type.as_bytes()).into_owned();
    let wanted = if stream {
        "application/x-ndjson"
    } else {
        "application/json"
    };
    let message = format!("the body must be {wanted}, not {shown:?}");
    Err(Failure::gateway(Cause::NotJson, message))
}

/// The gRPC request for the binding's method with one message: the downstream's authority and
/// forwarding headers, no other header of the HTTP request.
fn upstream_request(
    action: &Transcode,
    binding: &Binding,
    parts: http::request::Parts,
    downstream: &Downstream,
    message: Body,
    deadline: Option<Instant>,
) -> Request<Body> {
    let original_host = match parts.uri.authority() {
        Some(authority) => HeaderValue::from_str(authority.as_str()).ok(),
        None => parts.headers.get(header::HOST).cloned(),
    };
    let mut uri = parts.uri.into_parts();
    uri.path_and_query = Some(binding.method().path_and_query().clone());
    let mut req = grpc::request(Uri::from_parts(uri).unwrap_or_default(), message);
    *req.version_mut() = parts.version;
    let headers = req.headers_mut();
    if let Some(host) = parts.headers.get(header::HOST) {
        headers.insert(header::HOST, host.clone());
    }
    action.forwarding.request_metadata(&parts.headers, headers);
    forwarded::add_request_headers(headers, downstream, original_host, parts.version);
    if let Some(deadline) = deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        grpc_timeout::insert_left(headers, left);
    }
    req
}

/// The one reply message of a unary call with the reply's metadata (headers and
/// trailers), or the status it ended with.
async fn read_reply(
    action: &Transcode,
    response: Response<UpstreamBody>,
) -> Result<(Vec<u8>, HeaderMap), Failure> {
    let (mut replies, metadata) = read_replies(response, action.max_message_bytes).await?;
    match (replies.pop(), replies.is_empty()) {
        (Some(reply), true) => Ok((reply, metadata)),
        (None, _) => Err(Failure::gateway(
            Cause::BadReply,
            "the upstream sent no reply message",
        )),
        (Some(_), false) => Err(Failure::gateway(
            Cause::BadReply,
            "the upstream sent more than one reply message to a unary call",
        )),
    }
}
