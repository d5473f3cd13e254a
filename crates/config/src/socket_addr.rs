//! Socket addresses and endpoint addresses in the file, read with an error that quotes the
//! offending text.
//!
//! serde's own `SocketAddr` impl only says "invalid socket address syntax", which does not
//! tell a reader of a long endpoint list which entry is wrong.

use std::fmt;
use std::net::SocketAddr;

use serde::{de, Deserialize, Deserializer, Serialize};

/// Parses `IP:port`, with IPv6 addresses in brackets.
pub(crate) fn parse(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!(
            "{text:?} is not a socket address (write IP:port, e.g. 127.0.0.1:8080 or [::1]:8080)"
        )
    })
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    Ok(Text::deserialize(d)?.0)
}

/// One address; a separate type so that an error in a list points at the bad entry.
struct Text(SocketAddr);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map(Text).map_err(de::Error::custom)
    }
}

/// Where an endpoint listens: an IP address, or a host name resolved through DNS.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub enum EndpointAddress {
    /// `ip:port`.
    Socket(SocketAddr),
    /// `host:port`: every address the name resolves to, re-resolved as its TTL says.
    Name {
        /// The DNS name.
        host: String,
        /// The port.
        port: u16,
    },
}

impl EndpointAddress {
    /// The socket address, when the endpoint is written as one.
    pub fn socket(&self) -> Option<SocketAddr> {
        match self {
            EndpointAddress::Socket(address) => Some(*address),
            EndpointAddress::Name { .. } => None,
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        match self {
            EndpointAddress::Socket(address) => address.port(),
            EndpointAddress::Name { port, .. } => *port,
        }
    }
}

impl fmt::Display for EndpointAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointAddress::Socket(address) => write!(f, "{address}"),
            EndpointAddress::Name { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

impl From<EndpointAddress> for String {
    fn from(address: EndpointAddress) -> String {
        address.to_string()
    }
}

/// `Option<SocketAddr>` with the same error as [`deserialize`].
pub(crate) fn deserialize_option<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<SocketAddr>, D::Error> {
    Ok(Some(Text::deserialize(d)?.0))
}

/// Parses an endpoint: `IP:port`, `[IPv6]:port` or `host:port` with a DNS host name.
///
/// # Errors
///
/// A one-line message quoting `text` when it is neither.
pub fn parse_endpoint(text: &str) -> Result<EndpointAddress, String> {
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(EndpointAddress::Socket(address));
    }
    let refused = || {
        format!(
            "{text:?} is not an endpoint address (write IP:port or host:port, e.g. \
             127.0.0.1:8080, [::1]:8080 or users.internal:50051)"
        )
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(refused)?;
    let port = port.parse::<u16>().map_err(|_| refused())?;
    if !is_host_name(host) {
        return Err(refused());
    }
    Ok(EndpointAddress::Name {
        host: host.to_owned(),
        port,
    })
}

pub(crate) fn deserialize_endpoint<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<EndpointAddress, D::Error> {
    let text = String::deserialize(d)?;
    parse_endpoint(&text).map_err(de::Error::custom)
}

/// A DNS host name (RFC 1123): dot-separated labels of letters, digits and inner hyphens,
/// at most 63 characters each and 253 in all, an optional final dot. A first label of
/// digits only is refused: `10.0.0.x` is a mistyped address, not a name.
fn is_host_name(host: &str) -> bool {
    let name = host.strip_suffix('.').unwrap_or(host);
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(label_ok)
        && !name
            .split('.')
            .next()
            .is_some_and(|first| first.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_addresses_or_host_names() {
        assert_eq!(
            parse_endpoint("127.0.0.1:80"),
            Ok(EndpointAddress::Socket(([127, 0, 0, 1], 80).into()))
        );
        assert_eq!(
            parse_endpoint("users.internal:50051"),
            Ok(EndpointAddress::Name {
                host: "users.internal".into(),
                port: 50051
            })
        );
        assert!(parse_endpoint("users:50051").is_ok());
        for bad in [
            "10.0.0.x:80",
            "users",
            "users:",
            "users:x",
            "-a:1",
            "a b:1",
            ":80",
        ] {
            let error = parse_endpoint(bad).unwrap_err();
            assert!(
                error.contains("is not an endpoint address"),
                "{bad}: {error}"
            );
        }
    }
}
