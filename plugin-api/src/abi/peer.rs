//! [`PeerCertificateAbi`]: a client certificate the host verified, as it crosses the
//! boundary (appended in 0.2.1, through [`HostMod`](super::HostMod)).

use abi_stable::std_types::{RString, RVec};
use abi_stable::StableAbi;

/// The verified certificate a client presented on a TLS listener with `client_ca`.
/// See [`PeerCertificate`](crate::PeerCertificate).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerCertificateAbi {
    /// The subject's distinguished name, RFC 4514 (`CN=client,O=Example`).
    pub subject: RString,
    /// The subjectAltNames, each with its kind: `DNS:…`, `IP:…`, `email:…`, `URI:…`.
    pub sans: RVec<RString>,
    /// The serial number, uppercase hex without separators (as nginx's
    /// `$ssl_client_serial`).
    pub serial: RString,
    /// SHA-256 of the certificate's DER, lowercase hex.
    pub sha256: RString,
}
