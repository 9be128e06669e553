//! [`TestCa`]: a throw-away certificate authority issuing leaf certificates for DNS
//! names, written as PEM files the proxy's `[[server.tls]]` can load.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

/// A CA in a temp dir (removed on drop), and the certificates it issued.
pub struct TestCa {
    dir: tempfile::TempDir,
    cert: rcgen::Certificate,
    key: KeyPair,
    cert_path: PathBuf,
}

/// One issued certificate: its files and its DER.
#[derive(Clone, Debug)]
pub struct CertFiles {
    /// The leaf certificate, PEM.
    pub cert: PathBuf,
    /// Its private key, PKCS#8 PEM.
    pub key: PathBuf,
    /// The leaf certificate, DER (to compare with what a server presented).
    pub der: CertificateDer<'static>,
    /// The DNS names it was issued for.
    pub names: Vec<String>,
}

impl CertFiles {
    /// The TOML inline table for `[[server.tls]] certs = [...]`.
    pub fn toml(&self) -> String {
        format!(
            "{{ cert = {:?}, key = {:?} }}",
            self.cert.display().to_string(),
            self.key.display().to_string()
        )
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

impl TestCa {
    /// A new CA, its certificate written as `ca.pem`.
    pub fn new() -> TestCa {
        let dir = tempfile::tempdir().expect("temp dir for certificates");
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params
            .distinguished_name
            .push(DnType::CommonName, "hookgate test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("CA certificate");
        let cert_path = dir.path().join("ca.pem");
        fs::write(&cert_path, cert.pem()).expect("write ca.pem");
        TestCa {
            dir,
            cert,
            key,
            cert_path,
        }
    }

    /// Issues a leaf certificate for `names` (DNS names, `*.` wildcards allowed; IP
    /// addresses become IP SANs), written as `<stem>.pem` and `<stem>.key`.
    pub fn issue(&self, stem: &str, names: &[&str]) -> CertFiles {
        self.issue_with(stem, names, |_| {})
    }

    /// Like [`issue`](TestCa::issue), valid only in 2020 (expired).
    pub fn issue_expired(&self, stem: &str, names: &[&str]) -> CertFiles {
        self.issue_with(stem, names, |params| {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 12, 31);
        })
    }

    /// A client certificate (extended key usage clientAuth) for `name`.
    pub fn issue_client(&self, stem: &str, name: &str) -> CertFiles {
        self.issue_with(stem, &[name], |params| {
            params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        })
    }

    fn issue_with(
        &self,
        stem: &str,
        names: &[&str],
        adjust: impl FnOnce(&mut CertificateParams),
    ) -> CertFiles {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let key = KeyPair::generate().expect("leaf key");
        let mut params = CertificateParams::new(names.clone()).expect("leaf params");
        adjust(&mut params);
        if let Some(first) = names.first() {
            params.distinguished_name.push(DnType::CommonName, first);
        }
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("leaf certificate");
        let cert_path = self.dir.path().join(format!("{stem}.pem"));
        let key_path = self.dir.path().join(format!("{stem}.key"));
        fs::write(&cert_path, cert.pem()).expect("write certificate");
        fs::write(&key_path, key.serialize_pem()).expect("write key");
        CertFiles {
            cert: cert_path,
            key: key_path,
            der: cert.der().clone(),
            names,
        }
    }

    /// The CA certificate, PEM.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// The CA certificate, DER.
    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// The directory holding every file.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A root store trusting only this CA.
    pub fn roots(&self) -> Arc<RootCertStore> {
        let mut roots = RootCertStore::empty();
        roots.add(self.der()).expect("the CA certificate is valid");
        Arc::new(roots)
    }
}

/// The DNS names in a certificate's subjectAltName, by a small DER walk (the tests
/// have no X.509 parser): Certificate → TBSCertificate → `[3]` extensions →
/// 2.5.29.17 → GeneralNames → `[2]` dNSName.
pub fn dns_names(cert: &CertificateDer<'_>) -> Vec<String> {
    fn walk(der: &[u8]) -> Option<Vec<String>> {
        let (certificate, _) = element(der, 0x30)?;
        let (tbs, _) = element(certificate, 0x30)?;
        let extensions = elements(tbs).find(|(tag, _)| *tag == 0xa3)?.1;
        let (list, _) = element(extensions, 0x30)?;
        for (_, extension) in elements(list) {
            let mut fields = elements(extension);
            if fields.next()? != (0x06, &[0x55, 0x1d, 0x11][..]) {
                continue;
            }
            let (_, value) = fields.find(|(tag, _)| *tag == 0x04)?;
            let (names, _) = element(value, 0x30)?;
            let dns = elements(names)
                .filter(|(tag, _)| *tag == 0x82)
                .map(|(_, name)| String::from_utf8_lossy(name).into_owned())
                .collect();
            return Some(dns);
        }
        Some(Vec::new())
    }
    walk(cert.as_ref()).unwrap_or_default()
}

/// The content of the DER element at the start of `der` if it has this tag, and the
/// rest.
fn element(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (t, content, rest) = next(der)?;
    (t == tag).then_some((content, rest))
}

/// Consecutive DER elements as (tag, content).
fn elements(mut der: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let (tag, content, rest) = next(der)?;
        der = rest;
        Some((tag, content))
    })
}

fn next(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let (bytes, rest) = rest.split_at_checked(usize::from(first & 0x7f))?;
        let len = bytes.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b));
        (len, rest)
    };
    let (content, rest) = rest.split_at_checked(len)?;
    Some((tag, content, rest))
}
