//! What a proxy changes in forwarded headers: hop-by-hop removal (RFC 9110 §7.6.1),
//! `X-Forwarded-For/-Host/-Proto` and `Via` (unless the listener turns them off).

use std::net::SocketAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::Version;

/// Headers that describe one connection and never cross a proxy. Names, not strings: a
/// `&str` key is parsed again on every lookup.
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHENTICATE,
];
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Facts about the downstream connection that the forwarded headers report, computed once
/// per connection.
#[derive(Clone, Debug)]
pub(crate) struct Downstream {
    pub(crate) client: SocketAddr,
    /// `client`'s IP address as a header value, for `X-Forwarded-For`.
    client_ip: HeaderValue,
    pub(crate) tls: bool,
    /// Whether this hop adds `X-Forwarded-*` and `Via` (the listener's `forwarded_headers`).
    pub(crate) forwarded_headers: bool,
}

impl Downstream {
    pub(crate) fn new(client: SocketAddr, tls: bool, forwarded_headers: bool) -> Downstream {
        let client_ip = HeaderValue::from_str(&client.ip().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        Downstream {
            client,
            client_ip,
            tls,
            forwarded_headers,
        }
    }

    /// The `Via` entry this hop appends to a message of `version`; `None` when the
    /// listener adds no forwarding headers.
    pub(crate) fn via(&self, version: Version) -> Option<HeaderValue> {
        self.forwarded_headers.then(|| via(version))
    }
}

/// Removes hop-by-hop headers (and those named in `Connection`). `te` survives only as
/// `trailers`, which gRPC requires. With `keep_upgrade`, `Connection: upgrade` and
/// `Upgrade` stay, so a WebSocket handshake reaches the upstream.
pub(crate) fn remove_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    if !keep_upgrade && !has_hop_by_hop(headers) {
        // The common case (every HTTP/2 message: h2 rejects connection-specific headers),
        // found with one pass over a few names instead of a hash lookup per hop-by-hop name.
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .filter(|name| !(keep_upgrade && name == header::UPGRADE))
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        if keep_upgrade && (name == header::CONNECTION || name == header::UPGRADE) {
            continue;
        }
        headers.remove(name);
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
    let te_is_trailers = headers
        .get(header::TE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
    if !te_is_trailers {
        headers.remove(header::TE);
    }
}

/// Whether `headers` has anything `remove_hop_by_hop` would remove.
fn has_hop_by_hop(headers: &HeaderMap) -> bool {
    headers.iter().any(|(name, value)| {
        HOP_BY_HOP.contains(name)
            || (name == header::TE && !value.as_bytes().eq_ignore_ascii_case(b"trailers"))
    })
}

/// Adds the forwarding headers to a request: appends the client to `X-Forwarded-For`,
/// sets `X-Forwarded-Proto` and `X-Forwarded-Host` to what this hop saw, and appends to
/// `Via`. Adds nothing when the listener turned forwarding headers off.
pub(crate) fn add_request_headers(
    headers: &mut HeaderMap,
    downstream: &Downstream,
    original_host: Option<HeaderValue>,
    version: Version,
) {
    if !downstream.forwarded_headers {
        return;
    }
    let forwarded_for = match headers.get(&X_FORWARDED_FOR).map(HeaderValue::to_str) {
        None => downstream.client_ip.clone(),
        Some(Ok(existing)) => {
            let client = downstream.client_ip.to_str().unwrap_or_default();
            HeaderValue::from_str(&format!("{existing}, {client}"))
                .unwrap_or_else(|_| downstream.client_ip.clone())
        }
        // Not text: the earlier hops' list cannot be extended, only restarted.
        Some(Err(_)) => downstream.client_ip.clone(),
    };
    headers.insert(X_FORWARDED_FOR, forwarded_for);
    let proto = if downstream.tls { "https" } else { "http" };
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    if let Some(host) = original_host {
        headers.insert(X_FORWARDED_HOST, host);
    }
    headers.append(header::VIA, via(version));
}

/// Cleans an upstream response for the downstream and appends `via` (from
/// [`Downstream::via`]) to `Via`.
pub(crate) fn prepare_response(
    headers: &mut HeaderMap,
    keep_upgrade: bool,
    via: Option<HeaderValue>,
) {
    remove_hop_by_hop(headers, keep_upgrade);
    if let Some(via) = via {
        headers.append(header::VIA, via);
    }
}

fn via(version: Version) -> HeaderValue {
    HeaderValue::from_static(match version {
        Version::HTTP_10 => "1.0 yardmaster",
        Version::HTTP_2 => "2 yardmaster",
        Version::HTTP_3 => "3 yardmaster",
        _ => "1.1 yardmaster",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn hop_by_hop_and_connection_listed_headers_go() {
        let mut map = headers(&[
            ("connection", "keep-alive, x-private"),
            ("keep-alive", "timeout=5"),
            ("x-private", "1"),
            ("transfer-encoding", "chunked"),
            ("te", "gzip"),
            ("x-kept", "yes"),
        ]);
        remove_hop_by_hop(&mut map, false);
        assert_eq!(map.len(), 1);
        assert_eq!(map["x-kept"], "yes");
    }

    #[test]
    fn headers_without_hop_by_hop_stay_untouched() {
        let mut map = headers(&[
            ("te", "trailers"),
            ("content-type", "application/grpc"),
            ("x-keep-alive-ish", "1"),
        ]);
        let before = map.clone();
        remove_hop_by_hop(&mut map, false);
        assert_eq!(map, before);
        let mut map = headers(&[("te", "trailers, deflate")]);
        remove_hop_by_hop(&mut map, false);
        assert!(map.is_empty());
    }

    #[test]
    fn te_trailers_and_upgrade_survive_when_asked() {
        let mut map = headers(&[
            ("te", "trailers"),
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
        ]);
        remove_hop_by_hop(&mut map, true);
        assert_eq!(map["te"], "trailers");
        assert_eq!(map["upgrade"], "websocket");
        assert_eq!(map["connection"], "upgrade");
    }

    #[test]
    fn forwarding_headers_append_client_and_via() {
        let mut map = headers(&[("x-forwarded-for", "203.0.113.7"), ("via", "1.1 edge")]);
        let downstream = Downstream::new("127.0.0.1:5000".parse().unwrap(), true, true);
        let host = Some(HeaderValue::from_static("api.example.com"));
        add_request_headers(&mut map, &downstream, host, Version::HTTP_2);
        assert_eq!(map["x-forwarded-for"], "203.0.113.7, 127.0.0.1");
        assert_eq!(map["x-forwarded-proto"], "https");
        assert_eq!(map["x-forwarded-host"], "api.example.com");
        let via: Vec<_> = map.get_all("via").iter().collect();
        assert_eq!(via, ["1.1 edge", "2 yardmaster"]);
    }

    #[test]
    fn listener_without_forwarding_headers_adds_none() {
        let mut map = headers(&[("x-forwarded-for", "203.0.113.7"), ("via", "1.1 edge")]);
        let before = map.clone();
        let downstream = Downstream::new("127.0.0.1:5000".parse().unwrap(), false, false);
        let host = Some(HeaderValue::from_static("api.example.com"));
        add_request_headers(&mut map, &downstream, host, Version::HTTP_2);
        assert_eq!(map, before);
        prepare_response(&mut map, false, downstream.via(Version::HTTP_2));
        assert_eq!(map, before);
    }
}
