//! TLS for downstream listeners: PEM files in, a rustls acceptor with ALPN out.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Why a listener's certificate or key could not be used. The cause is the `source`, not
/// part of the message, so a printed error chain (`{:#}`) names it once.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file is unreadable or not PEM.
    #[error("reading certificates from {path}")]
    Certificates {
        /// The file.
        path: PathBuf,
        /// The parse or I/O error.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("{path} contains no PEM certificate")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file is unreadable or holds no supported private key.
    #[error("reading private key from {path}")]
    Key {
        /// The file.
        path: PathBuf,
        /// The parse or I/O error.
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// rustls rejected the pair (for example, the key does not match the certificate).
    #[error("certificate {cert} and key {key} do not form a usable pair")]
    Config {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        #[source]
        source: rustls::Error,
    },
}

/// Builds an acceptor that offers `h2` and `http/1.1` by ALPN, from a PEM certificate
/// chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or SEC1). Reads the files now;
/// blocking file I/O, so call it at startup or reload, not on the data path.
pub fn acceptor(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor, TlsError> {
    let certs = CertificateDer::pem_file_iter(cert_file)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Certificates {
            path: cert_file.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_file.to_owned(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|source| TlsError::Key {
        path: key_file.to_owned(),
        source,
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|source| TlsError::Config {
            cert: cert_file.to_owned(),
            key: key_file.to_owned(),
            source,
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
