//! gRPC metadata from HTTP request headers, and a reply's metadata as HTTP response
//! headers: the headers a route forwards by name or prefix, `Grpc-Metadata-<name>`
//! headers as `<name>`, and reply metadata (headers and trailers) as
//! `Grpc-Metadata-<name>`, as grpc-gateway does. Never the headers HTTP or gRPC own.

use http::header::{HeaderMap, HeaderName};

/// The prefix of request headers that are metadata as they are, and of response headers
/// that carry the reply's metadata.
pub const METADATA_PREFIX: &str = "grpc-metadata-";

/// Which request headers a route passes to the upstream as metadata.
#[derive(Clone, Debug, Default)]
pub struct HeaderForwarding {
    names: Vec<HeaderName>,
    prefixes: Vec<String>,
}

impl HeaderForwarding {
    /// From the configuration's list: header names (`authorization`), or prefixes ending
    /// in `*` (`x-tenant-*`); case does not matter.
    ///
    /// # Errors
    ///
    /// The entry's index and why: not a header name, or a header HTTP or gRPC owns.
    pub fn new(patterns: &[String]) -> Result<HeaderForwarding, (usize, String)> {
        let mut forwarding = HeaderForwarding::default();
        for (i, pattern) in patterns.iter().enumerate() {
            let lower = pattern.to_ascii_lowercase();
            if let Some(prefix) = lower.strip_suffix('*') {
                if !prefix.is_empty() && HeaderName::from_bytes(prefix.as_bytes()).is_err() {
                    return Err((i, format!("{pattern:?} is not a header name prefix")));
                }
                forwarding.prefixes.push(prefix.to_owned());
                continue;
            }
            let name = HeaderName::from_bytes(lower.as_bytes())
                .map_err(|_| (i, format!("{pattern:?} is not a header name")))?;
            if is_reserved(name.as_str()) {
                let message = format!(
                    "{pattern:?} belongs to HTTP or gRPC and is never forwarded as metadata"
                );
                return Err((i, message));
            }
            forwarding.names.push(name);
        }
        Ok(forwarding)
    }

    /// Adds to `metadata` the request headers the route forwards, and every
    /// `Grpc-Metadata-<name>` header as `<name>`; reserved names are left out.
    pub fn request_metadata(&self, headers: &HeaderMap, metadata: &mut HeaderMap) {
        for (name, value) in headers {
            let text = name.as_str();
            if let Some(stripped) = text.strip_prefix(METADATA_PREFIX) {
                if let Ok(inner) = HeaderName::from_bytes(stripped.as_bytes()) {
                    if !is_reserved(inner.as_str()) {
                        metadata.append(inner, value.clone());
                    }
                }
                continue;
            }
            let forwarded = self.names.contains(name)
                || self
                    .prefixes
                    .iter()
                    .any(|prefix| text.starts_with(prefix.as_str()));
            if forwarded && !is_reserved(text) {
                metadata.append(name.clone(), value.clone());
            }
        }
    }
}

/// Adds the reply's `metadata` (its headers or trailers) to `headers` as
/// `Grpc-Metadata-<name>`, less the headers HTTP and gRPC own.
pub fn response_headers(metadata: &HeaderMap, headers: &mut HeaderMap) {
    for (name, value) in metadata {
        if is_reserved(name.as_str()) {
            continue;
        }
        let prefixed = format!("{METADATA_PREFIX}{}", name.as_str());
        if let Ok(prefixed) = HeaderName::from_bytes(prefixed.as_bytes()) {
            headers.append(prefixed, value.clone());
        }
    }
}

/// Headers that describe the HTTP message or the gRPC call rather than the application:
/// never copied between the two.
fn is_reserved(name: &str) -> bool {
    name.starts_with("grpc-")
        || name.starts_with(':')
        || matches!(
            name,
            "accept-encoding"
                | "connection"
                | "content-encoding"
                | "content-length"
                | "content-type"
                | "date"
                | "host"
                | "keep-alive"
                | "proxy-connection"
                | "server"
                | "te"
                | "trailer"
                | "transfer-encoding"
                | "upgrade"
        )
}

#[cfg(test)]
mod tests;
