//! [`PeerCertificate`]: the client certificate a TLS listener verified.

use crate::abi::PeerCertificateAbi;

/// The certificate a client presented and the listener verified against its
/// `client_ca` (`[[server.tls]] client_ca`, `client_auth`): what
/// [`Session::peer_certificate`](crate::Session::peer_certificate) returns. Since
/// 0.2.1.
///
/// ```
/// use hookgate_plugin_api::{Action, PeerCertificate, Session};
///
/// /// Only clients whose certificate names `ops.example.com` go on.
/// fn ops_only(session: &mut Session<'_>) -> Action {
///     let ops = |cert: PeerCertificate| cert.sans.iter().any(|san| san == "DNS:ops.example.com");
///     if session.peer_certificate().is_some_and(ops) {
///         Action::GoOn
///     } else {
///         Action::Close
///     }
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerCertificate {
    /// The subject's distinguished name, RFC 4514 order and escaping
    /// (`CN=client,O=Example`).
    pub subject: String,
    /// The subjectAltNames in certificate order, each with its kind: `DNS:name`,
    /// `IP:192.0.2.1` (or an IPv6 address), `email:who@example.com`, `URI:spiffe://…`.
    pub sans: Vec<String>,
    /// The serial number, uppercase hex without separators (nginx's
    /// `$ssl_client_serial`).
    pub serial: String,
    /// SHA-256 of the certificate (DER), lowercase hex.
    pub sha256: String,
}

impl From<PeerCertificateAbi> for PeerCertificate {
    fn from(abi: PeerCertificateAbi) -> PeerCertificate {
        PeerCertificate {
            subject: abi.subject.into_string(),
            sans: abi.sans.into_iter().map(|san| san.into_string()).collect(),
            serial: abi.serial.into_string(),
            sha256: abi.sha256.into_string(),
        }
    }
}

impl From<&PeerCertificate> for PeerCertificateAbi {
    fn from(cert: &PeerCertificate) -> PeerCertificateAbi {
        PeerCertificateAbi {
            subject: cert.subject.as_str().into(),
            sans: cert.sans.iter().map(|san| san.as_str().into()).collect(),
            serial: cert.serial.as_str().into(),
            sha256: cert.sha256.as_str().into(),
        }
    }
}
