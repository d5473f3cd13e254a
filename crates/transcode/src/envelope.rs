//! The forwarding envelope's messages (`proto/yardmaster/forward/v1/forward.proto`): an
//! HTTP request as `HttpRequest`, for `HttpForwarder.Forward`, and the `HttpResponse`
//! that comes back. The tests check these against the `.proto` file.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use prost::Message as _;

/// The gRPC path of `yardmaster.forward.v1.HttpForwarder/Forward`.
pub const FORWARD_PATH: &str = "/yardmaster.forward.v1.HttpForwarder/Forward";

/// `yardmaster.forward.v1.Header`.
#[derive(Clone, PartialEq, prost::Message)]
struct Header {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(bytes = "bytes", tag = "2")]
    value: Bytes,
}

/// `yardmaster.forward.v1.HttpRequest`.
#[derive(Clone, PartialEq, prost::Message)]
struct HttpRequest {
    #[prost(string, tag = "1")]
    method: String,
    #[prost(string, tag = "2")]
    path: String,
    #[prost(string, tag = "3")]
    query: String,
    #[prost(message, repeated, tag = "4")]
    headers: Vec<Header>,
    #[prost(bytes = "bytes", tag = "5")]
    body: Bytes,
    #[prost(string, tag = "6")]
    remote_address: String,
}

/// `yardmaster.forward.v1.HttpResponse`.
#[derive(Clone, PartialEq, prost::Message)]
struct HttpResponse {
    #[prost(uint32, tag = "1")]
    status: u32,
    #[prost(message, repeated, tag = "2")]
    headers: Vec<Header>,
    #[prost(bytes = "bytes", tag = "3")]
    body: Bytes,
}

/// The parts of an HTTP request the envelope carries.
#[derive(Debug)]
pub struct EnvelopeRequest<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The path, as sent.
    pub path: &'a str,
    /// The query without `?`, as sent.
    pub query: &'a str,
    /// The headers to carry.
    pub headers: &'a HeaderMap,
    /// The whole body.
    pub body: Bytes,
    /// The client's `ip:port`.
    pub remote_address: String,
}

impl EnvelopeRequest<'_> {
    /// The `HttpRequest` message, encoded.
    pub fn encode(self) -> Vec<u8> {
        HttpRequest {
            method: self.method.to_owned(),
            path: self.path.to_owned(),
            query: self.query.to_owned(),
            headers: self
                .headers
                .iter()
                .map(|(name, value)| Header {
                    name: name.as_str().to_owned(),
                    value: Bytes::copy_from_slice(value.as_bytes()),
                })
                .collect(),
            body: self.body,
            remote_address: self.remote_address,
        }
        .encode_to_vec()
    }
}

/// An `HttpResponse` read back: the status, the headers and the body.
#[derive(Debug)]
pub struct EnvelopeResponse {
    /// The status; 0 in the message is 200.
    pub status: StatusCode,
    /// The headers, in the message's order.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl EnvelopeResponse {
    /// Decodes an `HttpResponse` message.
    ///
    /// # Errors
    ///
    /// When the message does not decode, its status is not an HTTP status, or a header
    /// name or value is not valid HTTP; the error says which.
    pub fn decode(message: &[u8]) -> Result<EnvelopeResponse, String> {
        let response = HttpResponse::decode(message)
            .map_err(|error| format!("the HttpResponse does not decode: {error}"))?;
        let status = match response.status {
            0 => StatusCode::OK,
            code => u16::try_from(code)
                .ok()
                .and_then(|code| StatusCode::from_u16(code).ok())
                .ok_or_else(|| format!("{code} is not an HTTP status"))?,
        };
        let mut headers = HeaderMap::with_capacity(response.headers.len());
        for header in response.headers {
            let name = HeaderName::from_bytes(header.name.as_bytes())
                .map_err(|_| format!("{:?} is not a header name", header.name))?;
            let value = HeaderValue::from_maybe_shared(header.value)
                .map_err(|_| format!("the value of header {name} is not valid in HTTP"))?;
            headers.append(name, value);
        }
        Ok(EnvelopeResponse {
            status,
            headers,
            body: response.body,
        })
    }
}

#[cfg(test)]
mod tests;
