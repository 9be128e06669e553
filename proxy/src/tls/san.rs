//! The DNS names of a certificate's subjectAltName, read by a small DER walk.
//!
//! Internal: only the path to the extension is decoded (Certificate → TBSCertificate →
//! `[3]` extensions → the extension whose OID is 2.5.29.17 → GeneralNames →
//! `[2]` dNSName); everything else is skipped by its length. rustls checks the rest of
//! the certificate when it parses it for the key match.

use rustls::pki_types::CertificateDer;

/// DER tags met on the way.
const SEQUENCE: u8 = 0x30;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;
/// `[3] EXPLICIT Extensions` inside TBSCertificate.
const EXTENSIONS: u8 = 0xa3;
/// `[2] IMPLICIT IA5String` inside GeneralName.
const DNS_NAME: u8 = 0x82;
/// id-ce-subjectAltName, 2.5.29.17, as DER content octets.
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// The certificate's DNS names, lowercased, in their order in the certificate; empty
/// when it has no subjectAltName or no dNSName in it. `Err` names what is malformed.
pub(super) fn dns_names(cert: &CertificateDer<'_>) -> Result<Vec<String>, &'static str> {
    let certificate = Der::new(cert.as_ref()).take(SEQUENCE, "not a DER certificate")?;
    let tbs = Der::new(certificate).take(SEQUENCE, "no tbsCertificate")?;
    let mut fields = Der::new(tbs);
    while let Some((tag, content)) = fields.next()? {
        if tag == EXTENSIONS {
            let extensions = Der::new(content).take(SEQUENCE, "malformed extensions")?;
            return extension_names(extensions);
        }
    }
    Ok(Vec::new())
}

fn extension_names(extensions: &[u8]) -> Result<Vec<String>, &'static str> {
    let mut list = Der::new(extensions);
    while let Some((tag, extension)) = list.next()? {
        if tag != SEQUENCE {
            return Err("extension is not a SEQUENCE");
        }
        let mut fields = Der::new(extension);
        if fields.take(OID, "extension without an id")? != SUBJECT_ALT_NAME {
            continue;
        }
        let mut value = fields.next()?.ok_or("extension has no value")?;
        if value.0 == BOOLEAN {
            value = fields.next()?.ok_or("extension has no value")?;
        }
        if value.0 != OCTET_STRING {
            return Err("extension value is not an OCTET STRING");
        }
        let general_names = Der::new(value.1).take(SEQUENCE, "malformed subjectAltName")?;
        let mut names = Der::new(general_names);
        let mut dns = Vec::new();
        while let Some((tag, name)) = names.next()? {
            if tag == DNS_NAME {
                let name = std::str::from_utf8(name).map_err(|_| "dNSName is not ASCII")?;
                dns.push(name.to_ascii_lowercase());
            }
        }
        return Ok(dns);
    }
    Ok(Vec::new())
}

/// A cursor over consecutive DER elements (single-byte tags; definite lengths).
struct Der<'a> {
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Der { rest: bytes }
    }

    /// The next element's tag and content, or `None` at the end.
    fn next(&mut self) -> Result<Option<(u8, &'a [u8])>, &'static str> {
        let [tag, first, rest @ ..] = self.rest else {
            return match self.rest {
                [] => Ok(None),
                _ => Err("truncated DER"),
            };
        };
        let (len, rest) = match *first {
            n if n < 0x80 => (usize::from(n), rest),
            n @ 0x81..=0x84 => {
                let count = usize::from(n & 0x7f);
                let (bytes, rest) = rest.split_at_checked(count).ok_or("truncated DER")?;
                let len = bytes
                    .iter()
                    .fold(0usize, |len, b| (len << 8) | usize::from(*b));
                (len, rest)
            }
            _ => return Err("unsupported DER length"),
        };
        let (content, rest) = rest.split_at_checked(len).ok_or("truncated DER")?;
        self.rest = rest;
        Ok(Some((*tag, content)))
    }

    /// The next element's content, which must have this tag; else `Err(error)`.
    fn take(&mut self, tag: u8, error: &'static str) -> Result<&'a [u8], &'static str> {
        match self.next()? {
            Some((t, content)) if t == tag => Ok(content),
            _ => Err(error),
        }
    }
}
