//! What a proxy changes in forwarded headers: hop-by-hop removal (RFC 9110 §7.6.1),
//! `X-Forwarded-For/-Host/-Proto` and `Via`.

use std::net::SocketAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::Version;

/// Headers that describe one connection and never cross a proxy.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
];

/// Facts about the downstream connection that the forwarded headers report.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Downstream {
    pub(crate) client: SocketAddr,
    pub(crate) tls: bool,
}

/// Removes hop-by-hop headers (and those named in `Connection`). `te` survives only as
/// `trailers`, which gRPC requires. With `keep_upgrade`, `Connection: upgrade` and
/// `Upgrade` stay, so a WebSocket handshake reaches the upstream.
pub(crate) fn remove_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
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
    for name in HOP_BY_HOP {
        if keep_upgrade && (name == "connection" || name == "upgrade") {
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

/// Adds the forwarding headers to a request: appends the client to `X-Forwarded-For`,
/// sets `X-Forwarded-Proto` and `X-Forwarded-Host` to what this hop saw, and appends to
/// `Via`.
pub(crate) fn add_request_headers(
    headers: &mut HeaderMap,
    downstream: Downstream,
    original_host: Option<HeaderValue>,
    version: Version,
) {
    let client = downstream.client.ip().to_string();
    let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(existing) => format!("{existing}, {client}"),
        None => client,
    };
    if let Ok(value) = HeaderValue::from_str(&forwarded_for) {
        headers.insert("x-forwarded-for", value);
    }
    let proto = if downstream.tls { "https" } else { "http" };
    headers.insert("x-forwarded-proto", HeaderValue::from_static(proto));
    if let Some(host) = original_host {
        headers.insert("x-forwarded-host", host);
    }
    headers.append(header::VIA, via(version));
}

/// Cleans an upstream response for the downstream and appends to `Via`.
pub(crate) fn prepare_response(headers: &mut HeaderMap, keep_upgrade: bool, version: Version) {
    remove_hop_by_hop(headers, keep_upgrade);
    headers.append(header::VIA, via(version));
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
        let downstream = Downstream {
            client: "127.0.0.1:5000".parse().unwrap(),
            tls: true,
        };
        let host = Some(HeaderValue::from_static("api.example.com"));
        add_request_headers(&mut map, downstream, host, Version::HTTP_2);
        assert_eq!(map["x-forwarded-for"], "203.0.113.7, 127.0.0.1");
        assert_eq!(map["x-forwarded-proto"], "https");
        assert_eq!(map["x-forwarded-host"], "api.example.com");
        let via: Vec<_> = map.get_all("via").iter().collect();
        assert_eq!(via, ["1.1 edge", "2 yardmaster"]);
    }
}
