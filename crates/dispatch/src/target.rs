//! Where a [`Dispatcher`](crate::Dispatcher) finds its endpoints: `static://` and
//! `dns://` target strings, or endpoints the caller supplies.

use std::fmt;

use tokio::sync::watch;

use yardmaster_discovery::{KubernetesSource, PortRef};

/// A parsed target.
#[derive(Clone, Debug)]
pub enum Target {
    /// `static://host:port,host:port`: a fixed list; host names are resolved once.
    Static(Vec<String>),
    /// `dns://name:port`: every address `name` resolves to (system resolver), resolved
    /// again every [`ChannelOptions::dns_refresh`](crate::ChannelOptions::dns_refresh).
    Dns(String),
    /// `kubernetes://service.namespace[:port]`: the ready endpoints of the Service's
    /// EndpointSlices, listed and watched through the Kubernetes API.
    Kubernetes(KubernetesSource),
    /// Endpoints the caller supplies and changes ([`Dispatcher::with_endpoints`](crate::Dispatcher::with_endpoints)).
    Watched(watch::Receiver<Vec<std::net::SocketAddr>>),
}

/// Why a target string is not usable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{target:?}: {reason}")]
pub struct TargetError {
    target: String,
    reason: String,
}

impl Target {
    /// Parses `static://a:1,b:2`, `dns://name:port` or
    /// `kubernetes://service.namespace[:port]`.
    ///
    /// # Errors
    ///
    /// An unknown scheme, no address, an address without a port (but a Kubernetes
    /// service), or a Kubernetes service without a namespace.
    pub fn parse(target: &str) -> Result<Target, TargetError> {
        let error = |reason: &str| TargetError {
            target: target.to_owned(),
            reason: reason.to_owned(),
        };
        let (scheme, rest) = target
            .split_once("://")
            .ok_or_else(|| error("write scheme://addresses, e.g. static://10.0.0.1:50051"))?;
        if scheme == "kubernetes" {
            return parse_kubernetes(rest).map_err(|reason| error(&reason));
        }
        let addresses: Vec<String> = rest
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect();
        if addresses.is_empty() {
            return Err(error("no address given"));
        }
        if let Some(bad) = addresses.iter().find(|a| !has_port(a)) {
            return Err(error(&format!("{bad:?} has no port (write host:port)")));
        }
        match scheme {
            "static" => Ok(Target::Static(addresses)),
            "dns" => match <[String; 1]>::try_from(addresses) {
                Ok([name]) => Ok(Target::Dns(name)),
                Err(_) => Err(error("dns:// takes one name:port")),
            },
            _ => Err(error(
                "unknown scheme; use static://, dns:// or kubernetes://",
            )),
        }
    }
}

/// `service.namespace[:port]`.
fn parse_kubernetes(rest: &str) -> Result<Target, String> {
    let (name, port) = match rest.rsplit_once(':') {
        Some((name, port)) => {
            let port = port
                .parse::<u16>()
                .map_err(|_| format!("{port:?} is not a port"))?;
            (name, Some(port))
        }
        None => (rest, None),
    };
    match name.split_once('.') {
        Some((service, namespace))
            if !service.is_empty() && !namespace.is_empty() && !namespace.contains('.') =>
        {
            Ok(Target::Kubernetes(KubernetesSource::new(
                service,
                namespace,
                port.map(PortRef::Number),
            )))
        }
        _ => Err("write kubernetes://service.namespace[:port]".to_owned()),
    }
}

/// `host:port` or `[v6]:port` with a numeric port.
fn has_port(address: &str) -> bool {
    address
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Static(addresses) => write!(f, "static://{}", addresses.join(",")),
            Target::Dns(name) => write!(f, "dns://{name}"),
            Target::Kubernetes(source) => write!(f, "{source}"),
            Target::Watched(_) => f.write_str("watched endpoints"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_static_and_dns_targets() {
        let Target::Static(list) = Target::parse("static://10.0.0.1:1, [::1]:2,a.b:3").unwrap()
        else {
            panic!("static");
        };
        assert_eq!(list, ["10.0.0.1:1", "[::1]:2", "a.b:3"]);
        let Target::Dns(name) = Target::parse("dns://users.internal:50051").unwrap() else {
            panic!("dns");
        };
        assert_eq!(name, "users.internal:50051");
        let target = Target::parse("kubernetes://users.shop:50051").unwrap();
        assert_eq!(target.to_string(), "kubernetes users.shop:50051");
        let target = Target::parse("kubernetes://users.shop").unwrap();
        assert_eq!(target.to_string(), "kubernetes users.shop");
    }

    #[test]
    fn refuses_targets_it_cannot_use() {
        for (target, reason) in [
            ("10.0.0.1:1", "write scheme://addresses"),
            ("static://", "no address given"),
            ("static://a", "\"a\" has no port"),
            ("dns://a:1,b:2", "dns:// takes one name:port"),
            ("grpc://users.shop:50051", "unknown scheme"),
            ("kubernetes://users", "write kubernetes://service.namespace"),
            ("kubernetes://users.shop:x", "\"x\" is not a port"),
        ] {
            let error = Target::parse(target).unwrap_err().to_string();
            assert!(error.contains(reason), "{target}: {error}");
        }
    }
}
