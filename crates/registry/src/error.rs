//! [`RegistryError`]: why the registry refused a call, as the gRPC status its caller gets.

use tonic::{Code, Status};

/// A refused registry call. Each variant is one gRPC code; the text says what was wrong
/// and, where the caller can fix it, what is allowed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RegistryError {
    /// A malformed request: a bad service name, address, metadata or TTL.
    #[error("{0}")]
    InvalidArgument(String),
    /// The address is outside every allowed network.
    #[error("{0}")]
    PermissionDenied(String),
    /// A token is required and missing or wrong.
    #[error("{0}")]
    Unauthenticated(String),
    /// No live lease has that id (never granted, expired or deregistered).
    #[error("{0}")]
    NotFound(String),
    /// Too many instances or watches.
    #[error("{0}")]
    ResourceExhausted(String),
}

impl RegistryError {
    /// The gRPC code a caller sees.
    pub(crate) fn code(&self) -> Code {
        match self {
            RegistryError::InvalidArgument(_) => Code::InvalidArgument,
            RegistryError::PermissionDenied(_) => Code::PermissionDenied,
            RegistryError::Unauthenticated(_) => Code::Unauthenticated,
            RegistryError::NotFound(_) => Code::NotFound,
            RegistryError::ResourceExhausted(_) => Code::ResourceExhausted,
        }
    }

    /// A lease that is not live: the same words whether it never existed or has ended,
    /// so a caller learns nothing about other registrants' leases.
    pub(crate) fn unknown_lease(lease_id: &str) -> RegistryError {
        RegistryError::NotFound(format!(
            "lease {lease_id:?} is not live (expired, deregistered or never granted): register again"
        ))
    }
}

impl From<RegistryError> for Status {
    fn from(error: RegistryError) -> Status {
        Status::new(error.code(), error.to_string())
    }
}
