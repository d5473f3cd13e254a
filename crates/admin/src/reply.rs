//! Building the admin API's answers: JSON documents and one-line texts.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;

/// The content type of one-line text answers.
pub(crate) const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

/// `value` as a pretty-printed JSON document (500 if it cannot be one).
pub(crate) fn to_json(value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    match serde_json::to_value(value) {
        Ok(value) => json(&value),
        Err(error) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            TEXT,
            format!("{error}\n"),
        ),
    }
}

/// A JSON document, `200 OK`.
pub(crate) fn json(value: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
    body.push(b'\n');
    reply(StatusCode::OK, JSON, body)
}

/// An answer with this status, content type and body.
pub(crate) fn reply(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
