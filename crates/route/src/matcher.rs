//! The conditions of one route, compiled from its `match` section.

use http::{HeaderMap, HeaderName, HeaderValue, Request};
use yardmaster_config::{MatchConfig, Pattern};

use crate::GrpcPath;

/// All conditions of a route; a request matches when every one holds.
#[derive(Clone, Debug, Default)]
pub struct Matcher {
    authority: Option<HostMatch>,
    path: Option<PathMatch>,
    service: Option<NameMatch>,
    method: Option<NameMatch>,
    headers: Vec<HeaderMatch>,
}

#[derive(Clone, Debug)]
enum HostMatch {
    Exact(String),
    /// `*.example.com` stored as `.example.com`.
    Suffix(String),
}

#[derive(Clone, Debug)]
enum PathMatch {
    Prefix(String),
    Exact(String),
    Regex(Pattern),
}

#[derive(Clone, Debug)]
enum NameMatch {
    Exact(String),
    /// `com.example.*` stored as `com.example.`.
    Prefix(String),
}

#[derive(Clone, Debug)]
struct HeaderMatch {
    name: HeaderName,
    /// `None`: the header only has to be present.
    exact: Option<HeaderValue>,
}

impl Matcher {
    /// Compiles a validated `match` section. Values that validation would have rejected
    /// (an invalid header name, say) make the condition unsatisfiable rather than panic.
    pub fn new(config: &MatchConfig) -> Matcher {
        Matcher {
            authority: config.authority.as_deref().map(HostMatch::new),
            path: config.path.as_ref().and_then(|p| {
                p.prefix
                    .clone()
                    .map(PathMatch::Prefix)
                    .or_else(|| p.exact.clone().map(PathMatch::Exact))
                    .or_else(|| p.regex.clone().map(PathMatch::Regex))
            }),
            service: config.service.as_deref().map(NameMatch::new),
            method: config.method.as_deref().map(NameMatch::new),
            headers: config
                .headers
                .iter()
                .map(|h| HeaderMatch {
                    name: HeaderName::from_bytes(h.name.as_bytes())
                        .unwrap_or_else(|_| HeaderName::from_static("x-yardmaster-invalid")),
                    exact: h
                        .exact
                        .as_deref()
                        .and_then(|v| HeaderValue::from_str(v).ok()),
                })
                .collect(),
        }
    }

    /// The `path.prefix` condition, which a `rewrite.path_prefix` replaces.
    pub fn path_prefix(&self) -> Option<&str> {
        match &self.path {
            Some(PathMatch::Prefix(prefix)) => Some(prefix),
            _ => None,
        }
    }

    /// Whether the request satisfies every condition. `grpc` is the request's service and
    /// method when it is a gRPC call.
    pub fn is_match<B>(&self, req: &Request<B>, grpc: Option<GrpcPath<'_>>) -> bool {
        self.authority
            .as_ref()
            .is_none_or(|m| authority_of(req).is_some_and(|a| m.is_match(a)))
            && self
                .path
                .as_ref()
                .is_none_or(|m| m.is_match(req.uri().path()))
            && self
                .service
                .as_ref()
                .is_none_or(|m| grpc.is_some_and(|g| m.is_match(g.service)))
            && self
                .method
                .as_ref()
                .is_none_or(|m| grpc.is_some_and(|g| m.is_match(g.method)))
            && self.headers.iter().all(|m| m.is_match(req.headers()))
    }
}

/// The host the client addressed, without port: `:authority` for HTTP/2 (and absolute
/// HTTP/1 URIs), else the `Host` header.
fn authority_of<B>(req: &Request<B>) -> Option<&str> {
    let raw = match req.uri().authority() {
        Some(authority) => authority.as_str(),
        None => req.headers().get(http::header::HOST)?.to_str().ok()?,
    };
    Some(strip_port(raw))
}

fn strip_port(authority: &str) -> &str {
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.starts_with('[') {
        // IPv6 literal: the port, if any, follows the closing bracket.
        return host
            .split_once(']')
            .and_then(|(h, _)| host.get(..=h.len()))
            .unwrap_or(host);
    }
    host.split_once(':').map_or(host, |(h, _)| h)
}

impl HostMatch {
    fn new(pattern: &str) -> HostMatch {
        match pattern.strip_prefix('*') {
            Some(suffix) => HostMatch::Suffix(suffix.to_ascii_lowercase()),
            None => HostMatch::Exact(pattern.to_ascii_lowercase()),
        }
    }

    fn is_match(&self, host: &str) -> bool {
        match self {
            HostMatch::Exact(exact) => host.eq_ignore_ascii_case(exact),
            HostMatch::Suffix(suffix) => {
                host.len() > suffix.len()
                    && host
                        .get(host.len() - suffix.len()..)
                        .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
            }
        }
    }
}

impl PathMatch {
    fn is_match(&self, path: &str) -> bool {
        match self {
            PathMatch::Prefix(prefix) => path.starts_with(prefix.as_str()),
            PathMatch::Exact(exact) => path == exact,
            PathMatch::Regex(pattern) => pattern.is_match(path),
        }
    }
}

impl NameMatch {
    fn new(pattern: &str) -> NameMatch {
        match pattern.strip_suffix('*') {
            Some(prefix) => NameMatch::Prefix(prefix.to_owned()),
            None => NameMatch::Exact(pattern.to_owned()),
        }
    }

    fn is_match(&self, name: &str) -> bool {
        match self {
            NameMatch::Exact(exact) => name == exact,
            NameMatch::Prefix(prefix) => name.starts_with(prefix.as_str()),
        }
    }
}

impl HeaderMatch {
    fn is_match(&self, headers: &HeaderMap) -> bool {
        let mut values = headers.get_all(&self.name).iter().peekable();
        match &self.exact {
            None => values.peek().is_some(),
            Some(want) => values.any(|v| v == want),
        }
    }
}

#[cfg(test)]
mod tests;
