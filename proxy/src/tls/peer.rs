//! The client certificate a TLS listener verified: what plugins learn of it
//! ([`describe`]: subject, subjectAltNames, serial, SHA-256), and where the host
//! module's lookup finds it by connection id while the connection lives
//! ([`register`], [`lookup`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

use hookgate_plugin_api::abi::{PeerCertificateAbi, ROption, RString};
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::x509::X509Name;

/// The client certificates of open connections, by connection id. Only connections
/// that presented one are here, so a proxy without client certificates never takes
/// the lock.
static PEERS: LazyLock<RwLock<HashMap<u64, PeerCertificateAbi>>> = LazyLock::new(Default::default);

/// A connection's entry in the registry, removed when the last clone drops (with the
/// connection's session).
#[derive(Debug)]
pub struct Registration {
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        PEERS
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

/// Makes `certificate` the one [`lookup`] finds for connection `id` until the returned
/// registration drops.
pub fn register(id: u64, certificate: PeerCertificateAbi) -> Arc<Registration> {
    PEERS
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(id, certificate);
    Arc::new(Registration { id })
}

/// The host module's lookup (`HostMod::peer_certificate`): connection `session`'s
/// verified client certificate, if it presented one.
pub extern "C" fn lookup(session: u64) -> ROption<PeerCertificateAbi> {
    let peers = PEERS.read().unwrap_or_else(PoisonError::into_inner);
    peers.get(&session).cloned().into()
}

/// What plugins learn of a client's (leaf) certificate; `Err` says why it does not
/// parse (rustls verified it already, so this is not expected).
pub fn describe(der: &CertificateDer<'_>) -> Result<PeerCertificateAbi, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| format!("client certificate does not parse: {e}"))?;
    Ok(PeerCertificateAbi {
        subject: distinguished_name(cert.subject()).into(),
        sans: subject_alt_names(&cert)
            .into_iter()
            .map(RString::from)
            .collect(),
        serial: serial(&cert).into(),
        sha256: crate::hex::lower(&Sha256::digest(der.as_ref())).into(),
    })
}

/// RFC 4514: the RDNs last first, `,` between them, `+` inside one; short names for the
/// usual attributes, the dotted OID for others; special characters escaped; a value
/// that is not a string as `#` and its content octets in hex.
fn distinguished_name(name: &X509Name<'_>) -> String {
    let mut out = String::new();
    for (i, rdn) in name
        .iter()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .enumerate()
    {
        if i > 0 {
            out.push(',');
        }
        for (j, attribute) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let oid = attribute.attr_type().to_id_string();
            out.push_str(short_name(&oid).unwrap_or(&oid));
            out.push('=');
            match attribute.as_str() {
                Ok(value) => escape(value, &mut out),
                Err(_) => {
                    out.push('#');
                    out.push_str(&crate::hex::lower(attribute.attr_value().data));
                }
            }
        }
    }
    out
}

fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// RFC 4514 §2.4: `"+,;<>\` anywhere, `#` or a space first, a space last.
fn escape(value: &str, out: &mut String) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        if c == '\0' {
            out.push_str("\\00");
        } else {
            out.push(c);
        }
    }
}

/// The subjectAltNames with their kind, in certificate order; kinds other than DNS,
/// IP, email and URI are left out.
fn subject_alt_names(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(extension)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    let mut sans = Vec::new();
    for name in &extension.value.general_names {
        match name {
            GeneralName::DNSName(dns) => sans.push(format!("DNS:{dns}")),
            GeneralName::RFC822Name(email) => sans.push(format!("email:{email}")),
            GeneralName::URI(uri) => sans.push(format!("URI:{uri}")),
            GeneralName::IPAddress(bytes) => {
                let ip = match bytes.len() {
                    4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                    16 => <[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from),
                    _ => None,
                };
                if let Some(ip) = ip {
                    sans.push(format!("IP:{ip}"));
                }
            }
            _ => {}
        }
    }
    sans
}

/// The serial as nginx prints it: uppercase hex, no sign byte.
fn serial(cert: &X509Certificate<'_>) -> String {
    let raw = cert.raw_serial();
    let first = raw
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(raw.len().saturating_sub(1));
    crate::hex::upper(raw.get(first..).unwrap_or(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_characters_are_escaped_as_rfc_4514_says() {
        let mut out = String::new();
        escape(" #a,b+c\"d\\e;<f> ", &mut out);
        assert_eq!(out, "\\ #a\\,b\\+c\\\"d\\\\e\\;\\<f\\>\\ ");
        let mut out = String::new();
        escape("#x", &mut out);
        assert_eq!(out, "\\#x");
    }

    #[test]
    fn a_registration_is_found_by_id_until_it_drops() {
        let certificate = PeerCertificateAbi {
            subject: "CN=client".into(),
            ..Default::default()
        };
        let id = u64::MAX - 7;
        assert!(lookup(id).is_none());
        let registration = register(id, certificate.clone());
        let again = Arc::clone(&registration);
        assert_eq!(lookup(id).into_option(), Some(certificate));
        drop(registration);
        assert!(lookup(id).is_some(), "a clone still holds it");
        drop(again);
        assert!(lookup(id).is_none());
    }
}
