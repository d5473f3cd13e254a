//! [`Policy`]: who may register what, and the checks that turn a `RegisterRequest` into a
//! valid [`Registration`]. Pure, so every store (embedded now, etcd later) refuses the same
//! requests with the same statuses.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::cidr::Cidr;
use crate::error::RegistryError;
use crate::pb::RegisterRequest;

/// The lease of a registration that asks for `ttl_seconds: 0`, clamped to the policy's
/// `min_ttl..=max_ttl`: long enough that a registrant renewing every 10 s survives two lost
/// renewals, short enough that a dead instance stops getting calls within half a minute.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);

/// Longest service name: gRPC service names are far shorter; this only bounds garbage.
const MAX_SERVICE_NAME_CHARS: usize = 200;
/// Most metadata pairs per instance: labels, not a payload.
const MAX_METADATA_ENTRIES: usize = 32;
/// Longest metadata key, in bytes.
const MAX_METADATA_KEY_BYTES: usize = 128;
/// Longest metadata value, in bytes. With the limits above, one instance holds at most
/// about 37 KiB of metadata, so `max_instances` bounds the registry's memory.
const MAX_METADATA_VALUE_BYTES: usize = 1024;

/// Who may register what.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Networks registered addresses must be inside (`10.0.0.0/8`, `127.0.0.1/32`,
    /// `::1/128`). Empty: nothing may register.
    pub allow: Vec<Cidr>,
    /// Bearer tokens; when non-empty, `Register`, `KeepAlive` and `Deregister` must carry
    /// `authorization: Bearer <token>` metadata with one of them, and a lease can only be
    /// renewed or ended with the token that registered it. `List` and `Watch` need none.
    pub tokens: Vec<String>,
    /// Shortest lease a registration may ask for.
    pub min_ttl: Duration,
    /// Longest lease a registration may ask for.
    pub max_ttl: Duration,
    /// Most live instances per token (or in all, without tokens).
    pub max_instances: usize,
}

/// Which token registered an instance: a fingerprint of it (never the token itself, which
/// would then sit in the state file), or `None` when the registry needed no token.
pub(crate) type Owner = Option<String>;

/// A registration that passed every check of the [`Policy`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Registration {
    /// A valid service name.
    pub(crate) service: String,
    /// Inside an allowed network; IPv4-mapped IPv6 addresses are stored as IPv4, so one
    /// instance has one spelling.
    pub(crate) address: SocketAddr,
    pub(crate) metadata: BTreeMap<String, String>,
    /// Within `min_ttl..=max_ttl`.
    pub(crate) ttl: Duration,
    pub(crate) owner: Owner,
}

impl Policy {
    /// Checks the policy itself; `Err` says what is inconsistent.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.min_ttl > self.max_ttl || self.max_ttl.is_zero() {
            return Err(format!(
                "registry policy: min_ttl {:?} and max_ttl {:?} leave no lease length to grant",
                self.min_ttl, self.max_ttl
            ));
        }
        Ok(())
    }

    /// Who is calling, from the `authorization` metadata value: `Ok(None)` when the
    /// registry needs no token, the token's fingerprint when it is one of `tokens`.
    pub(crate) fn authorize(&self, authorization: Option<&str>) -> Result<Owner, RegistryError> {
        if self.tokens.is_empty() {
            return Ok(None);
        }
        let Some(value) = authorization else {
            return Err(RegistryError::Unauthenticated(
                "this registry needs a token: send `authorization: Bearer <token>` metadata"
                    .to_owned(),
            ));
        };
        // RFC 9110 §11.1: the scheme is case-insensitive.
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => {
                return Err(RegistryError::Unauthenticated(
                    "the `authorization` metadata is not `Bearer <token>`".to_owned(),
                ))
            }
        };
        match self
            .tokens
            .iter()
            .find(|known| is_same_secret(known, token))
        {
            Some(known) => Ok(Some(fingerprint(known))),
            None => Err(RegistryError::Unauthenticated(
                "the bearer token is not one this registry accepts".to_owned(),
            )),
        }
    }

    /// Checks `request` from `owner` (see [`Policy::authorize`]) against the policy.
    pub(crate) fn validate(
        &self,
        request: RegisterRequest,
        owner: Owner,
    ) -> Result<Registration, RegistryError> {
        check_service_name(&request.service)?;
        let address = self.check_address(&request.address)?;
        check_metadata(&request.metadata)?;
        let ttl = self.ttl(request.ttl_seconds)?;
        Ok(Registration {
            service: request.service,
            address,
            metadata: request.metadata,
            ttl,
            owner,
        })
    }

    /// Whether `address` is inside an allowed network.
    pub(crate) fn is_allowed(&self, address: SocketAddr) -> bool {
        self.allow.iter().any(|cidr| cidr.contains(address.ip()))
    }

    fn check_address(&self, text: &str) -> Result<SocketAddr, RegistryError> {
        let parsed: SocketAddr = text.parse().map_err(|_| {
            RegistryError::InvalidArgument(format!(
                "address {text:?} is not ip:port (like 10.1.2.3:8080 or [fd00::1]:8080)"
            ))
        })?;
        let address = SocketAddr::new(parsed.ip().to_canonical(), parsed.port());
        if address.port() == 0 {
            return Err(RegistryError::InvalidArgument(format!(
                "address {text:?} has port 0"
            )));
        }
        let ip = address.ip();
        let is_broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
        if ip.is_unspecified() || ip.is_multicast() || is_broadcast {
            return Err(RegistryError::InvalidArgument(format!(
                "address {text:?} is not a unicast address the gateway could connect to"
            )));
        }
        if !self.is_allowed(address) {
            return Err(RegistryError::PermissionDenied(
                self.outside_message(address),
            ));
        }
        Ok(address)
    }

    fn outside_message(&self, address: SocketAddr) -> String {
        if self.allow.is_empty() {
            return format!(
                "address {address} may not register: no network is allowed to (the registry's allow list is empty)"
            );
        }
        let mut networks = String::new();
        for (i, cidr) in self.allow.iter().enumerate() {
            let separator = if i == 0 { "" } else { ", " };
            let _ = write!(networks, "{separator}{cidr}");
        }
        format!("address {address} is outside the networks allowed to register: {networks}")
    }

    /// The lease length for `ttl_seconds`; 0 asks for [`DEFAULT_TTL`] within the bounds.
    fn ttl(&self, ttl_seconds: u32) -> Result<Duration, RegistryError> {
        if ttl_seconds == 0 {
            // Not `Duration::clamp`, which panics when the bounds are crossed.
            return Ok(DEFAULT_TTL.max(self.min_ttl).min(self.max_ttl));
        }
        let ttl = Duration::from_secs(u64::from(ttl_seconds));
        if ttl < self.min_ttl || ttl > self.max_ttl {
            return Err(RegistryError::InvalidArgument(format!(
                "ttl_seconds {ttl_seconds} is outside the allowed {:?}..={:?} (0 asks for the default, {:?} within that range)",
                self.min_ttl,
                self.max_ttl,
                DEFAULT_TTL.max(self.min_ttl).min(self.max_ttl),
            )));
        }
        Ok(ttl)
    }
}

pub(crate) fn check_service_name(service: &str) -> Result<(), RegistryError> {
    if service.is_empty() {
        return Err(RegistryError::InvalidArgument(
            "service name is empty".to_owned(),
        ));
    }
    let chars = service.chars().count();
    if chars > MAX_SERVICE_NAME_CHARS {
        return Err(RegistryError::InvalidArgument(format!(
            "service name is {chars} characters long; at most {MAX_SERVICE_NAME_CHARS}"
        )));
    }
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !service.chars().all(is_name_char) {
        return Err(RegistryError::InvalidArgument(format!(
            "service name {service:?} may hold only letters, digits, '.', '_' and '-'"
        )));
    }
    Ok(())
}

fn check_metadata(metadata: &BTreeMap<String, String>) -> Result<(), RegistryError> {
    if metadata.len() > MAX_METADATA_ENTRIES {
        return Err(RegistryError::InvalidArgument(format!(
            "metadata has {} entries; at most {MAX_METADATA_ENTRIES}",
            metadata.len()
        )));
    }
    for (key, value) in metadata {
        if key.len() > MAX_METADATA_KEY_BYTES || value.len() > MAX_METADATA_VALUE_BYTES {
            let key: String = key.chars().take(40).collect();
            return Err(RegistryError::InvalidArgument(format!(
                "metadata {key:?}: keys may be at most {MAX_METADATA_KEY_BYTES} bytes and values {MAX_METADATA_VALUE_BYTES}"
            )));
        }
    }
    Ok(())
}

/// Compares a known token with a presented one in time independent of where they differ,
/// so response times do not reveal a token byte by byte.
fn is_same_secret(known: &str, presented: &str) -> bool {
    known.len() == presented.len()
        && known
            .bytes()
            .zip(presented.bytes())
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

/// A stable fingerprint of a token (64-bit FNV-1a), to count and match instances per token
/// without storing the token. Not a secret-keeping hash: the tokens themselves sit in the
/// gateway's configuration next to the state file.
fn fingerprint(token: &str) -> String {
    let hash = token.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests;
