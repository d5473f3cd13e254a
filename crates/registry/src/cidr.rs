//! [`Cidr`]: a network written `address/prefix`, and whether an address lies inside it.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IPv4 or IPv6 network: `10.0.0.0/8`, `127.0.0.1/32`, `::1/128`, `0.0.0.0/0`.
///
/// Parsed from `address/prefix`; the prefix is required (a bare address could be a typo for a
/// network) and the address may have no bits set past the prefix (`10.1.2.3/8` is refused,
/// naming `10.0.0.0/8`), so what the configuration says is exactly what is matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside this network. An IPv4-mapped IPv6 address
    /// (`::ffff:10.1.2.3`) counts as its IPv4 address; otherwise the families must match.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.network.is_ipv4() && masked(ip, self.prefix) == self.network
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Cidr, String> {
        let Some((address, prefix)) = text.split_once('/') else {
            return Err(format!(
                "{text:?} is not a network: write address/prefix, like 10.0.0.0/8"
            ));
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("{text:?} is not a network: {address:?} is not an IP address"))?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix.parse::<u8>() {
            Ok(prefix) if prefix <= bits => prefix,
            _ => {
                return Err(format!(
                    "{text:?} is not a network: the prefix length must be 0..={bits}"
                ))
            }
        };
        let masked = masked(network, prefix);
        if masked != network {
            return Err(format!(
                "{text:?} has bits set past its prefix: did you mean {masked}/{prefix}?"
            ));
        }
        Ok(Cidr { network, prefix })
    }
}

/// `ip` with every bit past the first `prefix` cleared.
fn masked(ip: IpAddr, prefix: u8) -> IpAddr {
    // `checked_shl` is `None` for a shift by the full width: prefix 0, mask 0.
    match ip {
        IpAddr::V4(ip) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(ip) & mask).into())
        }
        IpAddr::V6(ip) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(ip) & mask).into())
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Cidr {
        text.parse().unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ipv4_prefix_matches_its_network_only() {
        let net = cidr("10.0.0.0/8");
        assert!(net.contains(ip("10.0.0.0")));
        assert!(net.contains(ip("10.255.255.255")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(!net.contains(ip("9.255.255.255")));
        assert!(
            !net.contains(ip("::a00:1")),
            "an IPv6 address is never inside IPv4"
        );
    }

    #[test]
    fn host_prefix_matches_one_address() {
        let v4 = cidr("127.0.0.1/32");
        assert!(v4.contains(ip("127.0.0.1")));
        assert!(!v4.contains(ip("127.0.0.2")));
        let v6 = cidr("::1/128");
        assert!(v6.contains(ip("::1")));
        assert!(!v6.contains(ip("::2")));
    }

    #[test]
    fn zero_prefix_matches_its_whole_family() {
        assert!(cidr("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(!cidr("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(cidr("::/0").contains(ip("2001:db8::1")));
    }

    #[test]
    fn ipv6_prefix_matches_its_network_only() {
        let net = cidr("fd00:1234::/32");
        assert!(net.contains(ip("fd00:1234:ffff::9")));
        assert!(!net.contains(ip("fd00:1235::1")));
    }

    #[test]
    fn ipv4_mapped_ipv6_address_matches_as_ipv4() {
        assert!(cidr("10.0.0.0/8").contains(ip("::ffff:10.1.2.3")));
    }

    #[test]
    fn parse_refuses_what_is_not_a_network() {
        let error = |text: &str| text.parse::<Cidr>().unwrap_err();
        assert!(error("10.0.0.0").contains("write address/prefix"));
        assert!(error("10.0.0.x/8").contains("is not an IP address"));
        assert!(error("10.0.0.0/33").contains("0..=32"));
        assert!(error("::/129").contains("0..=128"));
        assert!(error("10.0.0.0/-1").contains("0..=32"));
        assert_eq!(
            error("10.1.2.3/8"),
            "\"10.1.2.3/8\" has bits set past its prefix: did you mean 10.0.0.0/8?"
        );
    }

    #[test]
    fn display_round_trips() {
        for text in ["10.0.0.0/8", "127.0.0.1/32", "::1/128", "::/0", "fd00::/8"] {
            assert_eq!(cidr(text).to_string(), text);
        }
    }
}
