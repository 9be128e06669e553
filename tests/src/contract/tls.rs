//! [`tls_exchange`]: the plaintext a TLS server sends back for a request, byte for
//! byte, and whether it then closed: what shows that a server said nothing after a
//! successful handshake.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::crypto::ring;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::h2::block_on;
use crate::certs::TestCa;

/// What [`tls_exchange`] saw.
#[derive(Clone, Debug)]
pub struct TlsExchange {
    /// Plaintext received after the handshake.
    pub bytes: Vec<u8>,
    /// Whether the server closed the connection within the wait (EOF, a missing
    /// `close_notify`, or a reset).
    pub closed: bool,
    /// The ALPN protocol the server chose.
    pub alpn: Option<String>,
}

impl TlsExchange {
    /// The plaintext as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Connects with TLS (trusting `ca`, SNI `name`, ALPN `http/1.1`), writes `request`,
/// and reads plaintext until the server closes or `wait` has passed. Fails if the
/// handshake fails.
pub fn tls_exchange(
    addr: SocketAddr,
    ca: &TestCa,
    name: &str,
    request: &[u8],
    wait: Duration,
) -> Result<TlsExchange, String> {
    tls_exchange_alpn(addr, ca, name, &["http/1.1"], request, wait)
}

/// [`tls_exchange`] offering `alpn` (none if empty) instead of `http/1.1`: what a
/// server does with bytes of another protocol than the one it agreed to.
pub fn tls_exchange_alpn(
    addr: SocketAddr,
    ca: &TestCa,
    name: &str,
    alpn: &[&str],
    request: &[u8],
    wait: Duration,
) -> Result<TlsExchange, String> {
    let provider = Arc::new(ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_root_certificates(ca.roots())
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    let server_name =
        ServerName::try_from(name.to_owned()).map_err(|e| format!("bad name {name:?}: {e}"))?;
    let request = request.to_vec();
    block_on(async move {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(server_name, tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))?;
        let deadline = Instant::now() + wait;
        let alpn = tls
            .get_ref()
            .1
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned());
        let mut seen = TlsExchange {
            bytes: Vec::new(),
            closed: false,
            alpn,
        };
        if tls.write_all(&request).await.is_err() || tls.flush().await.is_err() {
            seen.closed = true;
            return Ok(seen);
        }
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, tls.read(&mut chunk)).await {
                Err(_) => return Ok(seen),
                Ok(Ok(0)) | Ok(Err(_)) => {
                    seen.closed = true;
                    return Ok(seen);
                }
                Ok(Ok(n)) => seen.bytes.extend_from_slice(&chunk[..n]),
            }
        }
    })
}
