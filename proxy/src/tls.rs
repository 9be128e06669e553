//! TLS listeners: the rustls server config of each `[[server.tls]]` listener, the
//! certificate choice by SNI, and what a handshake negotiated for the session view.
//!
//! A listener serves several certificates; each answers for the DNS names of its
//! subjectAltName (exact names and `*.example.com` wildcards covering exactly one
//! label, case-insensitively). A client that sends no SNI, or a name no certificate
//! covers, gets the listener's first certificate, as nginx serves its default server.
//!
//! A listener with `client_ca` asks clients for a certificate and verifies it against
//! those CAs (`client_auth`: `required`, the default, or `optional`); plugins see a
//! verified one through the host module ([`peer`]).
//!
//! Layout: [`load`] reads the PEM files, [`san`] reads a certificate's DNS names,
//! [`resolve`] picks the certificate during the handshake, [`peer`] describes a client
//! certificate for plugins.

mod any_certificate;
mod load;
pub mod peer;
mod resolve;
mod san;

pub use any_certificate::AnyCertificate;

use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::{ring, CryptoProvider};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{ProtocolVersion, RootCertStore, ServerConfig, ServerConnection};

use crate::config::{ClientAuth, TlsListenerConfig};
use crate::session::TlsInfo;
use resolve::SniResolver;

/// The ALPN protocols a TLS listener offers, in preference order.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The rustls server config for one TLS listener: every certificate and key loaded
/// from its PEM files, certificates chosen by SNI (first certificate as the fallback),
/// ALPN `h2` then `http/1.1`, ring as the crypto provider.
pub fn server_config(listener: &TlsListenerConfig) -> Result<Arc<ServerConfig>, TlsError> {
    if listener.certs.is_empty() {
        return Err(TlsError::NoCertificates {
            listen: listener.listen.to_string(),
        });
    }
    // The provider is explicit so that no process-wide default has to be installed.
    let provider = Arc::new(ring::default_provider());
    let certs = listener
        .certs
        .iter()
        .map(|c| load::certificate(c, &provider))
        .collect::<Result<Vec<_>, _>>()?;
    let mut config = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Rustls {
            listen: listener.listen.to_string(),
            source,
        })?
        .with_client_cert_verifier(client_verifier(listener, &provider)?)
        .with_cert_resolver(Arc::new(SniResolver::new(certs)));
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// How a listener treats client certificates: not asked for without `client_ca`;
/// verified against `client_ca`'s certificates (required, or optional) with it.
fn client_verifier(
    listener: &TlsListenerConfig,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let Some(path) = &listener.client_ca else {
        return Ok(WebPkiClientVerifier::no_client_auth());
    };
    let refuse = |cause: String| TlsError::ClientCa {
        path: path.clone(),
        cause,
    };
    let mut roots = RootCertStore::empty();
    for cert in load::chain(path)? {
        roots
            .add(cert)
            .map_err(|e| refuse(format!("not a usable CA certificate: {e}")))?;
    }
    let builder =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider));
    let builder = match listener.client_auth.unwrap_or_default() {
        ClientAuth::Required => builder,
        ClientAuth::Optional => builder.allow_unauthenticated(),
    };
    builder.build().map_err(|e| refuse(e.to_string()))
}

/// What the handshake of `conn` (connection `session`) negotiated, for the session
/// view; a verified client certificate is registered for plugins to find (see
/// [`peer`]) until the returned info and its clones drop.
pub fn tls_info(conn: &ServerConnection, session: u64) -> TlsInfo {
    let leaf = conn.peer_certificates().and_then(|chain| chain.first());
    let client = leaf.and_then(|leaf| match peer::describe(leaf) {
        Ok(described) => Some(peer::register(session, described)),
        Err(error) => {
            tracing::warn!(session, %error, "client certificate not shown to plugins");
            None
        }
    });
    TlsInfo {
        sni: conn.server_name().map(str::to_owned),
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        version: conn.protocol_version().and_then(version_name),
        cipher: conn
            .negotiated_cipher_suite()
            .and_then(|suite| suite.suite().as_str()),
        peer_certificate: leaf.is_some(),
        client,
    }
}

/// The usual spelling of a TLS version (`TLSv1.3`), as OpenSSL and nginx print it.
fn version_name(version: ProtocolVersion) -> Option<&'static str> {
    match version {
        ProtocolVersion::TLSv1_3 => Some("TLSv1.3"),
        ProtocolVersion::TLSv1_2 => Some("TLSv1.2"),
        ProtocolVersion::TLSv1_1 => Some("TLSv1.1"),
        ProtocolVersion::TLSv1_0 => Some("TLSv1.0"),
        other => other.as_str(),
    }
}

/// Why a TLS listener's config cannot be built; each message names the file (or the
/// listener) and the cause.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The listener lists no certificate.
    #[error("TLS listener {listen}: no certificate configured")]
    NoCertificates {
        /// The listener's address.
        listen: String,
    },
    /// A certificate file cannot be read.
    #[error("certificate {}: cannot read: {source}", path.display())]
    ReadCertificate {
        /// The certificate file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A certificate file is not valid PEM.
    #[error("certificate {}: bad PEM: {source}", path.display())]
    CertificatePem {
        /// The certificate file.
        path: PathBuf,
        /// The PEM error.
        source: rustls::pki_types::pem::Error,
    },
    /// A certificate file holds no `CERTIFICATE` section.
    #[error("certificate {}: no certificate found", path.display())]
    NoCertificate {
        /// The certificate file.
        path: PathBuf,
    },
    /// The first certificate of a file is not a well-formed X.509 certificate.
    #[error("certificate {}: malformed certificate: {cause}", path.display())]
    MalformedCertificate {
        /// The certificate file.
        path: PathBuf,
        /// What is wrong with it.
        cause: String,
    },
    /// A certificate has no DNS name to be chosen by.
    #[error("certificate {}: no DNS name in subjectAltName", path.display())]
    NoDnsName {
        /// The certificate file.
        path: PathBuf,
    },
    /// A key file cannot be read.
    #[error("key {}: cannot read: {source}", path.display())]
    ReadKey {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key file is not valid PEM.
    #[error("key {}: bad PEM: {source}", path.display())]
    KeyPem {
        /// The key file.
        path: PathBuf,
        /// The PEM error.
        source: rustls::pki_types::pem::Error,
    },
    /// A key file holds no PKCS#8, PKCS#1 or SEC1 private key.
    #[error("key {}: no private key found (PKCS#8, PKCS#1 or SEC1)", path.display())]
    NoKey {
        /// The key file.
        path: PathBuf,
    },
    /// The private key is of a kind the crypto provider cannot sign with.
    #[error("key {}: unsupported private key: {source}", path.display())]
    UnsupportedKey {
        /// The key file.
        path: PathBuf,
        /// rustls' reason.
        source: rustls::Error,
    },
    /// The key is not the one the certificate certifies.
    #[error("key {} does not match certificate {}", key.display(), cert.display())]
    KeyMismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        cert: PathBuf,
    },
    /// The `client_ca` file holds no usable CA certificate.
    #[error("client_ca {}: {cause}", path.display())]
    ClientCa {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: String,
    },
    /// rustls refused the listener's settings.
    #[error("TLS listener {listen}: {source}")]
    Rustls {
        /// The listener's address.
        listen: String,
        /// rustls' reason.
        source: rustls::Error,
    },
}

#[cfg(test)]
mod tests;
