//! TLS listener config: certificate choice by SNI through real in-memory handshakes,
//! what [`tls_info`] reports, and every load error's message.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rustls::crypto::ring;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, ServerConnection};

use super::*;
use crate::config::CertConfig;

/// A unique directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "hookgate-tls-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A self-signed certificate for `names`, written as `<file>.pem` and `<file>.key`.
struct TestCert {
    cert: PathBuf,
    key: PathBuf,
    der: CertificateDer<'static>,
}

impl TestCert {
    fn new(dir: &Scratch, file: &str, names: &[&str]) -> TestCert {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let generated = rcgen::generate_simple_self_signed(names).unwrap();
        TestCert {
            cert: dir.write(&format!("{file}.pem"), &generated.cert.pem()),
            key: dir.write(&format!("{file}.key"), &generated.key_pair.serialize_pem()),
            der: generated.cert.der().clone(),
        }
    }

    fn config(&self) -> CertConfig {
        CertConfig {
            cert: self.cert.clone(),
            key: self.key.clone(),
        }
    }
}

fn listener(certs: &[CertConfig]) -> TlsListenerConfig {
    TlsListenerConfig {
        listen: "127.0.0.1:8443".parse().unwrap(),
        certs: certs.to_vec(),
        client_ca: None,
        client_auth: None,
    }
}

fn error(certs: &[CertConfig]) -> String {
    match server_config(&listener(certs)) {
        Ok(_) => panic!("the config loaded"),
        Err(e) => e.to_string(),
    }
}

/// Runs a full handshake in memory; `server_name` may be an IP address (no SNI sent).
fn handshake(
    config: Arc<ServerConfig>,
    server_name: &str,
    alpn: &[&str],
) -> (ServerConnection, ClientConnection) {
    let provider = Arc::new(ring::default_provider());
    let mut client_config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(super::AnyCertificate::new(provider)))
        .with_no_client_auth();
    client_config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    let mut client = ClientConnection::new(Arc::new(client_config), name).unwrap();
    let mut server = ServerConnection::new(config).unwrap();
    for _ in 0..10 {
        if !client.is_handshaking() && !server.is_handshaking() {
            return (server, client);
        }
        while client.wants_write() {
            let mut bytes = Vec::new();
            client.write_tls(&mut bytes).unwrap();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                server.read_tls(&mut rest).unwrap();
            }
            server.process_new_packets().unwrap();
        }
        while server.wants_write() {
            let mut bytes = Vec::new();
            server.write_tls(&mut bytes).unwrap();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                client.read_tls(&mut rest).unwrap();
            }
            client.process_new_packets().unwrap();
        }
    }
    panic!("the handshake did not finish");
}

/// The leaf certificate a client connecting with `server_name` is served.
fn served(config: &Arc<ServerConfig>, server_name: &str) -> CertificateDer<'static> {
    let (_, client) = handshake(config.clone(), server_name, &["h2"]);
    client.peer_certificates().unwrap()[0].clone()
}

#[test]
fn sni_picks_each_certificate() {
    let dir = Scratch::new();
    let shop = TestCert::new(&dir, "shop", &["shop.example.com"]);
    let api = TestCert::new(&dir, "api", &["api.example.com", "api.example.org"]);
    let config = server_config(&listener(&[shop.config(), api.config()])).unwrap();
    assert_eq!(served(&config, "shop.example.com"), shop.der);
    assert_eq!(served(&config, "api.example.com"), api.der);
    assert_eq!(served(&config, "api.example.org"), api.der);
    assert_eq!(served(&config, "API.Example.COM"), api.der);
}

#[test]
fn wildcard_covers_exactly_one_label() {
    let dir = Scratch::new();
    let main = TestCert::new(&dir, "main", &["www.example.com"]);
    let img = TestCert::new(&dir, "img", &["*.img.example.com"]);
    let exact = TestCert::new(&dir, "exact", &["special.img.example.com"]);
    let certs = [main.config(), img.config(), exact.config()];
    let config = server_config(&listener(&certs)).unwrap();
    assert_eq!(served(&config, "a.img.example.com"), img.der);
    assert_eq!(served(&config, "A.Img.Example.com"), img.der);
    // An exact name beats a wildcard, wherever it is listed.
    assert_eq!(served(&config, "special.img.example.com"), exact.der);
    // The wildcard covers neither the parent nor two labels.
    assert_eq!(served(&config, "img.example.com"), main.der);
    assert_eq!(served(&config, "a.b.img.example.com"), main.der);
}

#[test]
fn first_certificate_is_the_fallback() {
    let dir = Scratch::new();
    let first = TestCert::new(&dir, "first", &["first.example.com"]);
    let second = TestCert::new(&dir, "second", &["second.example.com"]);
    let config = server_config(&listener(&[first.config(), second.config()])).unwrap();
    // An IP address as the server name: the client sends no SNI.
    assert_eq!(served(&config, "127.0.0.1"), first.der);
    assert_eq!(served(&config, "unknown.example.com"), first.der);
    assert_eq!(served(&config, "second.example.com"), second.der);
}

#[test]
fn first_listed_certificate_wins_a_shared_name() {
    let dir = Scratch::new();
    let a = TestCert::new(&dir, "a", &["a.example.com", "shared.example.com"]);
    let b = TestCert::new(&dir, "b", &["shared.example.com", "b.example.com"]);
    let config = server_config(&listener(&[a.config(), b.config()])).unwrap();
    assert_eq!(served(&config, "shared.example.com"), a.der);
    assert_eq!(served(&config, "b.example.com"), b.der);
}

#[test]
fn tls_info_reports_the_handshake() {
    let dir = Scratch::new();
    let cert = TestCert::new(&dir, "shop", &["shop.example.com"]);
    let config = server_config(&listener(&[cert.config()])).unwrap();

    let (server, _) = handshake(config.clone(), "shop.example.com", &["h2", "http/1.1"]);
    let info = tls_info(&server, 1);
    assert_eq!(info.sni.as_deref(), Some("shop.example.com"));
    assert_eq!(info.alpn.as_deref(), Some("h2"));
    assert_eq!(info.version, Some("TLSv1.3"));
    let cipher = info.cipher.unwrap();
    assert!(cipher.starts_with("TLS13_"), "{cipher}");
    assert!(!info.peer_certificate);

    let (server, _) = handshake(config.clone(), "shop.example.com", &["http/1.1"]);
    assert_eq!(tls_info(&server, 1).alpn.as_deref(), Some("http/1.1"));

    let (server, _) = handshake(config, "127.0.0.1", &[]);
    let info = tls_info(&server, 1);
    assert_eq!(info.sni, None);
    assert_eq!(info.alpn, None);
}

#[test]
fn tls12_is_reported_as_such() {
    let dir = Scratch::new();
    let cert = TestCert::new(&dir, "shop", &["shop.example.com"]);
    let config = server_config(&listener(&[cert.config()])).unwrap();
    let provider = Arc::new(ring::default_provider());
    let mut client_config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(super::AnyCertificate::new(provider)))
        .with_no_client_auth();
    client_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = ServerName::try_from("shop.example.com").unwrap();
    let mut client = ClientConnection::new(Arc::new(client_config), name).unwrap();
    let mut server = ServerConnection::new(config).unwrap();
    while client.is_handshaking() || server.is_handshaking() {
        let mut bytes = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut bytes).unwrap();
        }
        server.read_tls(&mut &bytes[..]).unwrap();
        server.process_new_packets().unwrap();
        bytes.clear();
        while server.wants_write() {
            server.write_tls(&mut bytes).unwrap();
        }
        client.read_tls(&mut &bytes[..]).unwrap();
        client.process_new_packets().unwrap();
    }
    let info = tls_info(&server, 1);
    assert_eq!(info.version, Some("TLSv1.2"));
    assert!(info.cipher.unwrap().starts_with("TLS_ECDHE_"));
}

#[test]
fn sec1_keys_load() {
    let dir = Scratch::new();
    let cert = TestCert::new(&dir, "shop", &["shop.example.com"]);
    // rcgen writes PKCS#8; the SEC1 key (ECPrivateKey) is its privateKey field.
    let pkcs8 = std::fs::read_to_string(&cert.key).unwrap();
    let sec1 = sec1_from_pkcs8(&pkcs8);
    let key = dir.write("shop.sec1.key", &pem("EC PRIVATE KEY", &sec1));
    let certs = [CertConfig {
        cert: cert.cert.clone(),
        key,
    }];
    let config = server_config(&listener(&certs)).unwrap();
    assert_eq!(served(&config, "shop.example.com"), cert.der);
}

#[test]
fn san_names_skip_other_kinds() {
    let names = ["10.0.0.1", "Shop.Example.com", "*.cdn.example.com"]
        .map(String::from)
        .to_vec();
    let generated = rcgen::generate_simple_self_signed(names).unwrap();
    assert_eq!(
        san::dns_names(generated.cert.der()).unwrap(),
        ["shop.example.com", "*.cdn.example.com"]
    );
    let garbage = CertificateDer::from(vec![0x30, 0x05, 0x01]);
    assert!(san::dns_names(&garbage).is_err());
}

#[test]
fn errors_name_the_file_and_the_cause() {
    let dir = Scratch::new();
    let a = TestCert::new(&dir, "a", &["a.example.com"]);
    let b = TestCert::new(&dir, "b", &["b.example.com"]);
    let display = |p: &Path| p.display().to_string();
    let pair = |cert: &Path, key: &Path| CertConfig {
        cert: cert.to_owned(),
        key: key.to_owned(),
    };

    let missing = dir.0.join("missing.pem");
    let msg = error(&[pair(&missing, &a.key)]);
    assert!(
        msg.starts_with(&format!("certificate {}: cannot read: ", display(&missing))),
        "{msg}"
    );

    let missing_key = dir.0.join("missing.key");
    let msg = error(&[pair(&a.cert, &missing_key)]);
    assert!(
        msg.starts_with(&format!("key {}: cannot read: ", display(&missing_key))),
        "{msg}"
    );

    // A key file where the certificate should be, and the other way round.
    let msg = error(&[pair(&a.key, &a.key)]);
    assert_eq!(
        msg,
        format!("certificate {}: no certificate found", display(&a.key))
    );
    let msg = error(&[pair(&a.cert, &a.cert)]);
    assert_eq!(
        msg,
        format!(
            "key {}: no private key found (PKCS#8, PKCS#1 or SEC1)",
            display(&a.cert)
        )
    );

    let msg = error(&[pair(&a.cert, &b.key)]);
    assert_eq!(
        msg,
        format!(
            "key {} does not match certificate {}",
            display(&b.key),
            display(&a.cert)
        )
    );

    let ip_only = TestCert::new(&dir, "ip", &["127.0.0.1"]);
    let msg = error(&[a.config(), ip_only.config()]);
    assert_eq!(
        msg,
        format!(
            "certificate {}: no DNS name in subjectAltName",
            display(&ip_only.cert)
        )
    );

    let broken = dir.write("broken.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n");
    let msg = error(&[pair(&broken, &a.key)]);
    assert!(
        msg.starts_with(&format!("certificate {}: bad PEM: ", display(&broken))),
        "{msg}"
    );

    let not_der = dir.write("notder.pem", &pem("CERTIFICATE", b"not a certificate"));
    let msg = error(&[pair(&not_der, &a.key)]);
    assert!(
        msg.starts_with(&format!(
            "certificate {}: malformed certificate: ",
            display(&not_der)
        )),
        "{msg}"
    );

    assert_eq!(
        error(&[]),
        "TLS listener 127.0.0.1:8443: no certificate configured"
    );
}

/// The ECPrivateKey inside a PKCS#8 PEM: PrivateKeyInfo's third field's content.
fn sec1_from_pkcs8(pem_text: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::PrivatePkcs8KeyDer;
    let pkcs8 = PrivatePkcs8KeyDer::from_pem_slice(pem_text.as_bytes()).unwrap();
    let (info, _) = der_element(pkcs8.secret_pkcs8_der(), 0x30);
    let (_version, rest) = der_element(info, 0x02);
    let (_algorithm, rest) = der_element(rest, 0x30);
    der_element(rest, 0x04).0.to_vec()
}

/// Splits off one DER element with this tag: (its content, what follows).
fn der_element(der: &[u8], tag: u8) -> (&[u8], &[u8]) {
    assert_eq!(der[0], tag);
    let (len, header) = match der[1] {
        n if n < 0x80 => (usize::from(n), 2),
        0x81 => (usize::from(der[2]), 3),
        0x82 => ((usize::from(der[2]) << 8) | usize::from(der[3]), 4),
        n => panic!("length form {n:#x}"),
    };
    (&der[header..header + len], &der[header + len..])
}

/// A PEM section with this label.
fn pem(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::new();
    for chunk in der.chunks(3) {
        let bytes = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(bytes[0]) << 16) | (u32::from(bytes[1]) << 8) | u32::from(bytes[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                text.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                text.push('=');
            }
        }
    }
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(64)
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// What plugins learn of a client certificate: the subject in RFC 4514 form (last RDN
/// first, escaped), every SAN with its kind, the serial as nginx prints it, SHA-256.
#[test]
fn a_client_certificate_is_described_for_plugins() {
    use rcgen::{CertificateParams, DnType, KeyPair, SanType};
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Example, Inc");
    params
        .distinguished_name
        .push(DnType::CommonName, "ops client");
    params.subject_alt_names = vec![
        SanType::DnsName("ops.example.com".try_into().unwrap()),
        SanType::IpAddress("192.0.2.7".parse().unwrap()),
        SanType::IpAddress("2001:db8::1".parse().unwrap()),
        SanType::Rfc822Name("ops@example.com".try_into().unwrap()),
        SanType::URI("spiffe://example.com/ops".try_into().unwrap()),
    ];
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x00, 0x8f, 0x01, 0xab]));
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let described = peer::describe(cert.der()).unwrap();
    assert_eq!(described.subject.as_str(), "CN=ops client,O=Example\\, Inc");
    let sans: Vec<&str> = described.sans.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        sans,
        [
            "DNS:ops.example.com",
            "IP:192.0.2.7",
            "IP:2001:db8::1",
            "email:ops@example.com",
            "URI:spiffe://example.com/ops"
        ]
    );
    assert_eq!(described.serial.as_str(), "8F01AB");
    let expected: String = {
        use sha2::Digest;
        sha2::Sha256::digest(cert.der().as_ref())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert_eq!(described.sha256.as_str(), expected);
}
