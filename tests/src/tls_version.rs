//! A TLS client pinned to chosen protocol versions (the other clients offer every
//! version rustls supports), for listeners that accept or refuse by version. It sends
//! one HTTP/1.1 request with `Connection: close` and reads until the server closes, so
//! a test sees both the negotiated version and whether anything came back.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::ring;
use rustls::pki_types::ServerName;
use rustls::{
    ClientConfig, ClientConnection, ProtocolVersion, StreamOwned, SupportedProtocolVersion,
};

use crate::certs::TestCa;
use crate::client::CLIENT_TIMEOUT;

/// What a pinned client saw after a successful handshake.
#[derive(Clone, Debug)]
pub struct PinnedExchange {
    /// The negotiated version, named as sessions report it (`TLSv1.2`, `TLSv1.3`).
    pub version: String,
    /// Every byte the server sent after the handshake.
    pub bytes: Vec<u8>,
    /// Whether the server closed the connection (rather than the read timing out).
    pub closed: bool,
}

impl PinnedExchange {
    /// The status code of the response, if one came.
    pub fn status(&self) -> Option<u16> {
        let text = String::from_utf8_lossy(&self.bytes);
        text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
    }

    /// Closed after the handshake without sending a single byte.
    pub fn closed_silently(&self) -> bool {
        self.closed && self.bytes.is_empty()
    }

    /// The bytes as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// GETs `path` over TLS offering only `versions`, with `sni` as the server name (the
/// certificate must be valid for it, issued by `ca`). `Err` if the handshake fails.
pub fn https_get_pinned(
    addr: SocketAddr,
    ca: &TestCa,
    sni: &str,
    path: &str,
    versions: &[&'static SupportedProtocolVersion],
) -> Result<PinnedExchange, String> {
    let provider = Arc::new(ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(ca.roots(), provider.clone())
        .build()
        .map_err(|e| format!("verifier: {e}"))?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| format!("versions {versions:?}: {e}"))?
        .with_webpki_verifier(verifier)
        .with_no_client_auth();
    let name = ServerName::try_from(sni.to_owned()).map_err(|e| format!("{sni:?}: {e}"))?;
    let mut conn = ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let mut tcp = TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT)
        .map_err(|e| format!("connect {addr}: {e}"))?;
    tcp.set_read_timeout(Some(CLIENT_TIMEOUT))
        .map_err(|e| e.to_string())?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)
            .map_err(|e| format!("TLS handshake: {e}"))?;
    }
    let version = match conn.protocol_version() {
        Some(ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
        Some(ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
        other => format!("{other:?}"),
    };
    let mut stream = StreamOwned::new(conn, tcp);
    let request = format!("GET {path} HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n");
    let mut bytes = Vec::new();
    // A server that closes right after the handshake may do so before the request is
    // written: that is an answer too (nothing came back).
    if stream.write_all(request.as_bytes()).is_err() {
        let closed = true;
        return Ok(PinnedExchange {
            version,
            bytes,
            closed,
        });
    }
    let mut buf = [0u8; 16 * 1024];
    let closed = loop {
        match stream.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break false
            }
            // A close without close_notify, or a reset.
            Err(_) => break true,
        }
    };
    Ok(PinnedExchange {
        version,
        bytes,
        closed,
    })
}
