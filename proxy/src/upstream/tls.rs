//! TLS to backends (`[clusters.NAME] tls = { ... }`): one rustls client config per
//! cluster, built when the config is loaded; the name each backend's certificate is
//! verified against; and the causes of a failed handshake.
//!
//! Verification is on unless `verify = false` is written (then a warning is logged at
//! every load). The roots are the cluster's `ca` file, else the system's. The name is
//! `tls.sni`, else the backend's IP address (a certificate for an IP has it as an IP
//! subjectAltName; no SNI is sent then). Sessions are resumed from rustls' in-memory
//! cache, so a new connection to a backend seen before takes an abbreviated handshake;
//! pooled connections take none.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{CertificateError, ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::config::{BackendProtocol, BackendTlsConfig};
use crate::tls::AnyCertificate;

/// One cluster's TLS to its backends.
pub struct BackendTls {
    /// For the cluster's protocol: ALPN `http/1.1` or `h2`.
    connector: TlsConnector,
    /// ALPN `http/1.1`, sharing the session cache: for upgrades (WebSocket) on an
    /// `h2` cluster, which take HTTP/1.1 on a connection of their own.
    http1: TlsConnector,
    /// The ALPN protocol the cluster's connections must agree on.
    alpn: &'static [u8],
    /// `tls.sni`, if set.
    sni: Option<ServerName<'static>>,
}

impl fmt::Debug for BackendTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendTls")
            .field("sni", &self.sni)
            .finish_non_exhaustive()
    }
}

/// Why a cluster's `tls` could not be set up: the key (under `tls.`) and the cause.
#[derive(Debug, PartialEq, Eq)]
pub struct TlsConfigError {
    /// `sni`, `ca`, `client_cert`, `client_key` or `verify`.
    pub key: &'static str,
    /// What is wrong, naming the file if there is one.
    pub message: String,
}

fn refuse(key: &'static str, message: impl Into<String>) -> TlsConfigError {
    TlsConfigError {
        key,
        message: message.into(),
    }
}

impl BackendTls {
    /// Builds `config` for the cluster `cluster` (named in the warning that
    /// `verify = false` logs).
    pub fn load(
        cluster: &str,
        config: &BackendTlsConfig,
        protocol: BackendProtocol,
    ) -> Result<BackendTls, TlsConfigError> {
        let sni =
            match &config.sni {
                None => None,
                Some(name) => Some(ServerName::try_from(name.clone()).map_err(|_| {
                    refuse("sni", format!("{name:?} is not a DNS name or IP address"))
                })?),
            };
        if !config.verify && config.ca.is_some() {
            return Err(refuse(
                "verify",
                "false with a `ca`: the CA would not be used; remove one of them",
            ));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| refuse("verify", e.to_string()))?;
        let builder = if config.verify {
            let roots = match &config.ca {
                Some(path) => roots_from(path)?,
                None => system_roots()?,
            };
            builder.with_root_certificates(roots)
        } else {
            tracing::warn!(
                cluster,
                "tls.verify = false: backend certificates are not checked; anyone on the \
                 path to these backends can read and change the traffic"
            );
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate::new(provider)))
        };
        let mut client = match (&config.client_cert, &config.client_key) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => builder
                .with_client_auth_cert(chain(cert)?, private_key(key)?)
                .map_err(|e| {
                    refuse(
                        "client_key",
                        format!("{} does not go with {}: {e}", key.display(), cert.display()),
                    )
                })?,
            (Some(_), None) => return Err(refuse("client_key", "missing: client_cert needs it")),
            (None, Some(_)) => return Err(refuse("client_cert", "missing: client_key needs it")),
        };
        let alpn: &'static [u8] = if protocol == BackendProtocol::H2 {
            b"h2"
        } else {
            b"http/1.1"
        };
        // The same session cache (cloned `Arc`s) for both configs.
        let mut http1 = client.clone();
        http1.alpn_protocols = vec![b"http/1.1".to_vec()];
        client.alpn_protocols = vec![alpn.to_vec()];
        Ok(BackendTls {
            connector: TlsConnector::from(Arc::new(client)),
            http1: TlsConnector::from(Arc::new(http1)),
            alpn,
            sni,
        })
    }

    /// The name the certificate of the backend at `addr` is verified against (and
    /// the SNI sent): `tls.sni` if set, else the host name the backend was given by
    /// (`host`), else its IP address (checked against the certificate's IP SANs; no
    /// SNI is sent for an IP).
    pub fn server_name(&self, addr: SocketAddr, host: Option<&str>) -> ServerName<'static> {
        if let Some(sni) = &self.sni {
            return sni.clone();
        }
        host.and_then(|host| ServerName::try_from(host.to_owned()).ok())
            .unwrap_or_else(|| ServerName::IpAddress(addr.ip().into()))
    }

    /// The TLS handshake over `tcp`, verified against `name`, for the cluster's
    /// protocol (or HTTP/1.1 if `http1`); fails with [`AlpnRefused`] if the backend
    /// does not agree on it (a backend that ignores ALPN is taken to speak HTTP/1.1).
    pub(crate) async fn handshake(
        &self,
        tcp: TcpStream,
        name: ServerName<'static>,
        http1: bool,
    ) -> io::Result<TlsStream<TcpStream>> {
        let (connector, alpn): (_, &[u8]) = if http1 {
            (&self.http1, b"http/1.1")
        } else {
            (&self.connector, self.alpn)
        };
        let stream = connector.connect(name, tcp).await?;
        let agreed = stream.get_ref().1.alpn_protocol();
        if agreed != Some(alpn) && !(agreed.is_none() && alpn == b"http/1.1") {
            return Err(io::Error::other(AlpnRefused {
                wanted: String::from_utf8_lossy(alpn).into_owned(),
                agreed: agreed.map(|a| String::from_utf8_lossy(a).into_owned()),
            }));
        }
        Ok(stream)
    }
}

/// A backend that does not speak the cluster's protocol: ALPN did not agree on it.
#[derive(Debug, thiserror::Error)]
#[error("the backend's TLS did not agree on {wanted} by ALPN (agreed: {})", agreed.as_deref().unwrap_or("nothing"))]
pub struct AlpnRefused {
    wanted: String,
    agreed: Option<String>,
}

/// Why a handshake with a backend failed, as far as the proxy tells causes apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsFailure {
    /// The backend's chain does not lead to a trusted root (`ca` or the system's).
    UnknownCa,
    /// Its certificate is not valid for the name it was verified against.
    NameMismatch,
    /// Its certificate has expired or is not valid yet.
    Expired,
    /// Anything else: an alert (the backend refused the client certificate, no common
    /// version or cipher), a malformed certificate.
    Other,
    /// The handshake succeeded but ALPN did not agree on the cluster's protocol.
    Alpn,
}

impl TlsFailure {
    /// The cause of a failed handshake, if `error` is one.
    pub fn of(error: &io::Error) -> Option<TlsFailure> {
        let inner = error.get_ref()?;
        if inner.is::<AlpnRefused>() {
            return Some(TlsFailure::Alpn);
        }
        Some(TlsFailure::of_rustls(
            inner.downcast_ref::<rustls::Error>()?,
        ))
    }

    /// The cause `error` stands for.
    pub fn of_rustls(error: &rustls::Error) -> TlsFailure {
        match error {
            rustls::Error::InvalidCertificate(cause) => match cause {
                // A chain whose issuer has a trusted CA's name but not its key is not
                // from that CA either.
                CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                    TlsFailure::UnknownCa
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => TlsFailure::NameMismatch,
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. } => TlsFailure::Expired,
                _ => TlsFailure::Other,
            },
            // The backend refused every protocol offered (a backend without h2, asked
            // for h2 alone).
            rustls::Error::NoApplicationProtocol
            | rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol) => {
                TlsFailure::Alpn
            }
            _ => TlsFailure::Other,
        }
    }
}

/// The TLS error somewhere in `error`'s chain of sources, if there is one (a failure
/// that surfaced after the handshake, such as the backend's alert refusing our client
/// certificate).
pub fn tls_cause<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e rustls::Error> {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(found) = error.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        if let Some(found) = error
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(found);
        }
        next = error.source();
    }
    None
}

/// The system's CA certificates, read once per process.
fn system_roots() -> Result<RootCertStore, TlsConfigError> {
    static ROOTS: OnceLock<Result<RootCertStore, String>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let errors: Vec<String> = found.errors.iter().map(|e| e.to_string()).collect();
                return Err(format!(
                    "no `ca` set, and no system CA certificates found ({}); set `ca` to a PEM file",
                    errors.join("; ")
                ));
            }
            Ok(roots)
        })
        .clone()
        .map_err(|message| refuse("ca", message))
}

/// The roots of a `ca` file: every certificate in it.
fn roots_from(path: &Path) -> Result<RootCertStore, TlsConfigError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(path, "ca")? {
        roots
            .add(cert)
            .map_err(|e| refuse("ca", format!("{}: {e}", path.display())))?;
    }
    Ok(roots)
}

fn chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    certificates(path, "client_cert")
}

/// Every `CERTIFICATE` of a PEM file; at least one.
fn certificates(
    path: &Path,
    key: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let text = std::fs::read(path).map_err(|e| refuse(key, format!("{}: {e}", path.display())))?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| refuse(key, format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(refuse(
            key,
            format!("{}: no certificate in it", path.display()),
        ));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    let text = std::fs::read(path)
        .map_err(|e| refuse("client_key", format!("{}: {e}", path.display())))?;
    PrivateKeyDer::from_pem_slice(&text)
        .map_err(|e| refuse("client_key", format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_told_apart_wherever_they_sit_in_the_chain() {
        let name = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        assert_eq!(TlsFailure::of_rustls(&name), TlsFailure::NameMismatch);
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(TlsFailure::of_rustls(&unknown), TlsFailure::UnknownCa);
        let expired = rustls::Error::InvalidCertificate(CertificateError::Expired);
        assert_eq!(TlsFailure::of_rustls(&expired), TlsFailure::Expired);
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        assert_eq!(TlsFailure::of_rustls(&alert), TlsFailure::Other);
        let no_h2 = rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol);
        assert_eq!(TlsFailure::of_rustls(&no_h2), TlsFailure::Alpn);

        let io = io::Error::new(io::ErrorKind::InvalidData, expired);
        assert_eq!(TlsFailure::of(&io), Some(TlsFailure::Expired));
        // Wrapped once more (as hyper wraps the I/O error of a connection).
        #[derive(Debug)]
        struct Outer(io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("connection error")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let outer = Outer(io::Error::new(io::ErrorKind::InvalidData, alert));
        assert!(matches!(
            tls_cause(&outer),
            Some(rustls::Error::AlertReceived(_))
        ));
        assert!(tls_cause(&io::Error::other("plain")).is_none());
    }

    #[test]
    fn settings_that_cannot_work_are_refused_by_key() {
        let config = |sni: Option<&str>, verify: bool, ca: Option<&str>| BackendTlsConfig {
            sni: sni.map(str::to_owned),
            verify,
            ca: ca.map(Into::into),
            client_cert: None,
            client_key: None,
        };
        let key = |c: BackendTlsConfig| {
            BackendTls::load("c", &c, BackendProtocol::Http1)
                .err()
                .map(|e| e.key)
        };
        assert_eq!(key(config(Some("not a name"), true, None)), Some("sni"));
        assert_eq!(key(config(None, false, Some("/x.pem"))), Some("verify"));
        assert_eq!(
            key(config(None, true, Some("/nonexistent.pem"))),
            Some("ca")
        );
        assert_eq!(key(config(Some("10.0.0.1"), false, None)), None);
    }
}
