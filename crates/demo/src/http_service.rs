//! The plain HTTP demo upstream (HTTP/1.1 and h2): describes each request back as JSON,
//! echoes bodies as they stream in, and streams or fails on demand.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tonic::codegen::StdError;

use crate::serve::accept_connections;

/// Response body of every route: buffered JSON, the streamed request body, or timed chunks.
type HttpBody = UnsyncBoxBody<Bytes, StdError>;

/// Default chunk count of `GET /stream` without `?n=`.
const DEFAULT_STREAM_CHUNKS: u32 = 10;
/// Upper bound on `?n=` so one request cannot keep a connection busy for hours.
const MAX_STREAM_CHUNKS: u32 = 10_000;
/// Gap between two chunks of `GET /stream`, long enough that each is flushed on its own.
const CHUNK_GAP: Duration = Duration::from_millis(10);

/// Serves the HTTP demo upstream named `name` on `listener` (HTTP/1.1 and h2, detected per
/// connection) until `shutdown` resolves, then drains open connections.
///
/// Routes:
/// - `POST /echo`: streams the request body back frame by frame as it arrives, with the
///   request's `content-type`.
/// - `GET /stream?n=N`: `N` chunks `chunk i\n` (default 10, at most 10 000), 10 ms apart.
/// - `GET /status/<code>`: an empty response with that status (400 for 1xx or garbage).
/// - anything else: 200 with JSON `{"served_by", "method", "path", "version", "headers"}`,
///   `path` including the query and `headers` mapping each name to its list of values.
///
/// Dropping the future aborts every connection at once.
pub async fn serve_http(
    listener: TcpListener,
    name: impl Into<String>,
    shutdown: impl Future<Output = ()>,
) {
    let name: Arc<str> = Arc::from(name.into());
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    accept_connections(listener, shutdown, move |io, watcher| {
        let name = Arc::clone(&name);
        let service = service_fn(move |request| {
            let response = respond(&name, request);
            async move { Ok::<_, Infallible>(response) }
        });
        let connection = builder.serve_connection(io, service).into_owned();
        async move {
            if let Err(error) = watcher.watch(connection).await {
                tracing::debug!(%error, "HTTP connection closed with an error");
            }
        }
    })
    .await;
}

fn respond(name: &str, request: Request<Incoming>) -> Response<HttpBody> {
    let path = request.uri().path();
    if request.method() == Method::POST && path == "/echo" {
        return echo_body(request);
    }
    if request.method() == Method::GET {
        if path == "/stream" {
            return stream_chunks(request.uri().query());
        }
        if let Some(code) = path.strip_prefix("/status/") {
            return status(code);
        }
    }
    describe(name, &request)
}

/// `POST /echo`: the request body becomes the response body, so frames (and HTTP/2
/// trailers) go back as they arrive instead of being buffered.
fn echo_body(request: Request<Incoming>) -> Response<HttpBody> {
    let content_type = request.headers().get(CONTENT_TYPE).cloned();
    let mut response = Response::new(request.into_body().map_err(StdError::from).boxed_unsync());
    if let Some(content_type) = content_type {
        response.headers_mut().insert(CONTENT_TYPE, content_type);
    }
    response
}

fn stream_chunks(query: Option<&str>) -> Response<HttpBody> {
    let n = query
        .into_iter()
        .flat_map(|query| query.split('&'))
        .find_map(|pair| pair.strip_prefix("n="));
    let count = match n.map(str::parse::<u32>) {
        None => DEFAULT_STREAM_CHUNKS,
        Some(Ok(count)) if count <= MAX_STREAM_CHUNKS => count,
        Some(_) => {
            return plain(
                StatusCode::BAD_REQUEST,
                "n must be a number from 0 to 10000\n",
            )
        }
    };
    let chunks = stream::unfold(0, move |i| async move {
        if i >= count {
            return None;
        }
        if i > 0 {
            tokio::time::sleep(CHUNK_GAP).await;
        }
        let chunk = Frame::data(Bytes::from(format!("chunk {i}\n")));
        Some((Ok::<_, StdError>(chunk), i + 1))
    });
    let mut response = Response::new(StreamBody::new(chunks).boxed_unsync());
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

fn status(code: &str) -> Response<HttpBody> {
    match code.parse::<u16>().map(StatusCode::from_u16) {
        // 1xx are not final responses and cannot be sent as one.
        Ok(Ok(status)) if !status.is_informational() => {
            let mut response = Response::new(empty());
            *response.status_mut() = status;
            response
        }
        _ => plain(StatusCode::BAD_REQUEST, "expected /status/<200..=999>\n"),
    }
}

/// Any other request: 200 with a JSON description, so tests can check what the gateway
/// forwarded (method, path, `Host`, `X-Forwarded-*`, `Via`).
fn describe<B>(name: &str, request: &Request<B>) -> Response<HttpBody> {
    let mut headers = Map::new();
    for key in request.headers().keys() {
        let values = request
            .headers()
            .get_all(key)
            .iter()
            .map(|value| Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()))
            .collect();
        headers.insert(key.as_str().to_owned(), Value::Array(values));
    }
    let path = request
        .uri()
        .path_and_query()
        .map_or_else(|| request.uri().path().to_owned(), ToString::to_string);
    let mut description = Map::new();
    description.insert("served_by".to_owned(), Value::from(name));
    description.insert("method".to_owned(), Value::from(request.method().as_str()));
    description.insert("path".to_owned(), Value::from(path));
    description.insert(
        "version".to_owned(),
        Value::from(format!("{:?}", request.version())),
    );
    description.insert("headers".to_owned(), Value::Object(headers));
    match serde_json::to_vec(&Value::Object(description)) {
        Ok(json) => {
            let mut response = Response::new(full(json));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(error) => plain(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
    }
}

fn plain(status: StatusCode, text: impl Into<Bytes>) -> Response<HttpBody> {
    let mut response = Response::new(full(text));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

fn full(bytes: impl Into<Bytes>) -> HttpBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn empty() -> HttpBody {
    full(Bytes::new())
}
