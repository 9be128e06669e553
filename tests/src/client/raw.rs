//! Raw TCP: what a server sends (or does not) for given bytes, and a WebSocket-style
//! upgrade followed by byte tunnelling.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::CLIENT_TIMEOUT;

/// What came back on a raw connection.
#[derive(Clone, Debug)]
pub struct RawReply {
    /// Every byte received.
    pub bytes: Vec<u8>,
    /// Whether the server closed the connection (EOF or reset) within the wait.
    pub closed: bool,
}

impl RawReply {
    /// The bytes as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// Closed without sending a single byte.
    pub fn closed_silently(&self) -> bool {
        self.closed && self.bytes.is_empty()
    }
}

/// Connects, writes `request` (nothing if empty), and reads until the server closes
/// the connection or `wait` has passed.
pub fn raw_exchange(addr: SocketAddr, request: &[u8], wait: Duration) -> RawReply {
    let mut stream = match TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT) {
        Ok(stream) => stream,
        Err(e) => panic!("connect to {addr}: {e}"),
    };
    let _ = stream.set_nodelay(true);
    if !request.is_empty() && stream.write_all(request).is_err() {
        // The server closed before reading all of it; see what it sent first.
        let mut reply = read_until_close(&mut stream, Duration::from_millis(200));
        reply.closed = true;
        return reply;
    }
    read_until_close(&mut stream, wait)
}

fn read_until_close(stream: &mut TcpStream, wait: Duration) -> RawReply {
    let deadline = Instant::now() + wait;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return RawReply {
                bytes,
                closed: false,
            };
        }
        let _ = stream.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        match stream.read(&mut buf) {
            Ok(0) => {
                return RawReply {
                    bytes,
                    closed: true,
                }
            }
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                return RawReply {
                    bytes,
                    closed: true,
                }
            }
        }
    }
}

/// The outcome of [`websocket_roundtrip`].
#[derive(Clone, Debug)]
pub struct Upgraded {
    /// Status of the answer to the upgrade request.
    pub status: u16,
    /// Its headers, lowercase names.
    pub headers: Vec<(String, String)>,
    /// What came back through the tunnel for the payload (empty unless 101).
    pub echoed: Vec<u8>,
}

impl Upgraded {
    /// The first value of a header of the upgrade answer.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The RFC 6455 sample key; its accept value is `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`.
pub const WEBSOCKET_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Sends a WebSocket upgrade request (HTTP/1.1, key [`WEBSOCKET_KEY`]); on `101`,
/// writes `payload` through the tunnel and reads as many bytes back.
pub fn websocket_roundtrip(
    addr: SocketAddr,
    host: &str,
    path: &str,
    payload: &[u8],
) -> Result<Upgraded, String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_read_timeout(Some(CLIENT_TIMEOUT));
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {WEBSOCKET_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("write upgrade request: {e}"))?;

    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte, so that nothing after the head is consumed here.
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) => return Err(format!("closed after {} bytes of head", head.len())),
            Ok(_) => head.push(byte[0]),
            Err(e) => return Err(format!("read head: {e}")),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut upgraded = Upgraded {
        status,
        headers,
        echoed: Vec::new(),
    };
    if status != 101 {
        return Ok(upgraded);
    }
    stream
        .write_all(payload)
        .map_err(|e| format!("write payload: {e}"))?;
    let mut echoed = vec![0u8; payload.len()];
    stream
        .read_exact(&mut echoed)
        .map_err(|e| format!("read echo: {e}"))?;
    upgraded.echoed = echoed;
    Ok(upgraded)
}
