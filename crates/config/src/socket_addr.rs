//! Socket addresses in the file, read with an error that quotes the offending text.
//!
//! serde's own `SocketAddr` impl only says "invalid socket address syntax", which does not
//! tell a reader of a long endpoint list which entry is wrong.

use std::net::SocketAddr;

use serde::{de, Deserialize, Deserializer};

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
