//! Reading one certificate/key pair from its PEM files.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{Error as RustlsError, InconsistentKeys};

use super::san;
use super::TlsError;
use crate::config::CertConfig;

/// A certificate chain with its signing key, and the DNS names it answers for.
#[derive(Debug)]
pub(super) struct LoadedCert {
    /// What the handshake sends and signs with.
    pub(super) key: Arc<CertifiedKey>,
    /// Lowercase DNS names from the leaf's subjectAltName, `*.` wildcards included.
    pub(super) names: Vec<String>,
}

/// Loads `config`'s chain (the leaf first) and its key (PKCS#8, PKCS#1 or SEC1), and
/// checks that they belong together.
pub(super) fn certificate(
    config: &CertConfig,
    provider: &CryptoProvider,
) -> Result<LoadedCert, TlsError> {
    let chain = chain(&config.cert)?;
    // `chain` never returns an empty chain.
    let leaf = chain.first().ok_or_else(|| TlsError::NoCertificate {
        path: config.cert.clone(),
    })?;
    let names = san::dns_names(leaf).map_err(|cause| TlsError::MalformedCertificate {
        path: config.cert.clone(),
        cause: cause.to_owned(),
    })?;
    if names.is_empty() {
        return Err(TlsError::NoDnsName {
            path: config.cert.clone(),
        });
    }

    let der = private_key(&config.key)?;
    let signing_key = provider
        .key_provider
        .load_private_key(der)
        .map_err(|source| TlsError::UnsupportedKey {
            path: config.key.clone(),
            source,
        })?;
    let key = CertifiedKey::new(chain, signing_key);
    match key.keys_match() {
        // Some keys cannot tell their public half; the handshake would then fail
        // visibly for the client, which is all we could do anyway.
        Ok(()) | Err(RustlsError::InconsistentKeys(InconsistentKeys::Unknown)) => {}
        Err(RustlsError::InconsistentKeys(_)) => {
            return Err(TlsError::KeyMismatch {
                key: config.key.clone(),
                cert: config.cert.clone(),
            })
        }
        Err(other) => {
            return Err(TlsError::MalformedCertificate {
                path: config.cert.clone(),
                cause: other.to_string(),
            })
        }
    }
    Ok(LoadedCert {
        key: Arc::new(key),
        names,
    })
}

/// Every `CERTIFICATE` section of the file, in order; at least one.
pub(super) fn chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let text = std::fs::read(path).map_err(|source| TlsError::ReadCertificate {
        path: path.to_owned(),
        source,
    })?;
    let chain = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::CertificatePem {
            path: path.to_owned(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(chain)
}

/// The first private key of the file, whatever its PEM label.
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let text = std::fs::read(path).map_err(|source| TlsError::ReadKey {
        path: path.to_owned(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|source| match source {
        pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_owned(),
        },
        source => TlsError::KeyPem {
            path: path.to_owned(),
            source,
        },
    })
}
